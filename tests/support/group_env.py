"""Guests for the group snapshot tests (tests/test_group*.py) on libvirt's test driver.

Domains are defined and started through libvirt-python (an independent
client): ``make_guests(conn, n)`` gives ``n`` running test-driver domains
with unique names, ``remove_guests`` destroys and undefines them with their
snapshot metadata, and ``states``/``snapshot_names`` read them back through
libvirt-python too.
"""

import libvirt

from support.private_daemon import domain_xml, unique


def lv(conn):
    """The libvirt-python connection behind a virtsnap one (or a URI, opened anew)."""
    return libvirt.open(conn) if isinstance(conn, str) else conn.to_libvirt()


def make_guests(conn, count, prefix="grp", running=True):
    """``count`` new domains on ``conn`` (a virtsnap connection): their names."""
    names = []
    api = lv(conn)
    for _ in range(count):
        name = unique(prefix)
        dom = api.defineXML(domain_xml(name))
        if running:
            dom.create()
        names.append(name)
    return names


def remove_guests(conn, names):
    """Destroy and undefine ``names`` (those still defined), with their snapshots."""
    api = lv(conn)
    for name in names:
        try:
            dom = api.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


STATE_NAMES = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
               libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}


def state(conn, name):
    """libvirt-python's view of the domain's state: "running", "paused", "shutoff"."""
    return STATE_NAMES.get(lv(conn).lookupByName(name).state()[0], "other")


def states(conn, names):
    return {name: state(conn, name) for name in names}


def snapshot_names(conn, name):
    return sorted(lv(conn).lookupByName(name).snapshotListNames())
