"""virtsnap against a real libvirtd (qemu:///system) and a tiny QEMU/TCG guest.

Guests come from qemu_guest.guest_fixture: one running and one shut-off guest
per module, reused by the tests (each test starts and ends with no
snapshots), plus a fresh guest for the tests that change its disk chain
(external snapshots) or need a transient domain. Every guest is destroyed and
undefined with its snapshot metadata, and its directory removed, even when a
test fails.

What libvirt 9.0 does here (all checked below, feature-detected where it differs
between versions):
- snapshots of a running guest are internal with memory; reverting restarts qemu
  (~2-3 s);
- snapshots of a shut-off guest are internal disk snapshots in the qcow2 image;
- CREATE_DISK_ONLY with an explicit overlay makes an external snapshot; deleting
  it works when its parent is external or there is none (the overlay is committed
  and removed), and is unsupported when its parent is internal;
- CREATE_LIVE on a shut-off guest is VIR_ERR_OPERATION_UNSUPPORTED; a real
  VIR_ERR_OPERATION_INVALID is CREATE_HALT on a transient guest.
"""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

import virtsnap
from support.helpers import QEMU_URI, delete_all_snapshots
from support.libvirtd_env import qemu_img_snapshots
from support.qemu_guest import (
    Guest,
    guest_fixture,
    qemu_conn,  # noqa: F401 - fixture
    running_domain_without_snapshots,
    sweep_stale,
    wipe_qcow2_snapshots,
)
from support.snapshots import external_xml, make_branching_tree
from virtsnap import (
    CreateFlags,
    DeleteFlags,
    DomainState,
    ErrorCode,
    ListFlags,
    OperationDeniedError,
    OperationInvalidError,
    OperationUnsupportedError,
    RevertFlags,
    SnapshotNotFoundError,
    XMLFlags,
)

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]


running = guest_fixture("run", running=True)
offline = guest_fixture("off", running=False)
fresh_running = guest_fixture("ext", running=True, scope="function")


@pytest.fixture
def run_dom(running, qemu_conn):
    """The module's running guest as a virtsnap Domain, running and without snapshots."""
    yield from running_domain_without_snapshots(running, qemu_conn)


@pytest.fixture
def off_dom(offline, qemu_conn):
    """The module's shut-off guest, with no snapshots in libvirt or in its qcow2."""
    offline.ensure_shut_off()
    dom = qemu_conn.get_domain_by_name(offline.name)
    delete_all_snapshots(dom)
    wipe_qcow2_snapshots(offline.disk)
    yield dom
    delete_all_snapshots(dom)
    offline.ensure_shut_off()
    wipe_qcow2_snapshots(offline.disk)


def parse(snap):
    return ET.fromstring(snap.get_xml_description())


def names(dom, flags=0):
    return sorted(dom.list_snapshot_names(flags))


def qemu_io_status(path, command):
    """Run one qemu-io command on an image no guest has open; its output."""
    proc = subprocess.run(["qemu-io", "-c", command, path], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def holds_pattern(path, pattern):
    rc, out = qemu_io_status(path, f"read -P {pattern} 0 64k")
    return rc == 0 and "Pattern verification failed" not in out


# ---------------------------------------------------------------- running guest

def test_internal_snapshots_with_memory_tree_and_revert(running, run_dom):
    dom = run_dom
    assert dom.state() is DomainState.RUNNING
    s1 = dom.create_snapshot(name="s1", description="first")
    s2 = dom.create_snapshot(name="s2")

    xml = parse(s1)
    assert xml.findtext("state") == "running"
    assert xml.findtext("description") == "first"
    assert xml.find("memory").get("snapshot") == "internal"
    assert xml.find("disks/disk[@name='vda']").get("snapshot") == "internal"
    assert sorted(qemu_img_snapshots(running.disk)) == ["s1", "s2"]

    assert dom.snapshot_parents() == {"s1": None, "s2": "s1"}
    assert dom.list_snapshot_names(ListFlags.ROOTS) == ["s1"]
    assert s1.list_child_snapshot_names() == ["s2"]
    assert s1.get_parent() is None
    assert s2.get_parent() == s1
    assert s2.is_current() and not s1.is_current()
    assert dom.current_snapshot() == s2
    assert names(dom, ListFlags.ACTIVE) == ["s1", "s2"]

    s1.revert_to(RevertFlags.PAUSED)
    assert dom.state() is DomainState.PAUSED
    assert running.domstate() == "paused"
    assert s1.is_current() and not s2.is_current()

    s2.revert_to(RevertFlags.RUNNING)
    assert dom.state() is DomainState.RUNNING
    assert running.domstate() == "running"
    assert dom.current_snapshot() == s2
    assert names(dom) == ["s1", "s2"]


def test_create_halt_leaves_guest_shut_off(running, run_dom):
    dom = run_dom
    snap = dom.create_snapshot(name="halted", flags=CreateFlags.HALT)
    assert dom.state() is DomainState.SHUTOFF
    assert running.domstate() == "shut off"
    xml = parse(snap)
    assert xml.findtext("state") == "running"  # taken before the halt, with memory
    assert xml.find("memory").get("snapshot") == "internal"
    assert qemu_img_snapshots(running.disk) == ["halted"]
    # The memory state is usable: reverting brings the guest back up.
    snap.revert_to(RevertFlags.RUNNING)
    assert dom.state() is DomainState.RUNNING


def test_read_only_connection_reads_but_every_mutation_is_denied(running, run_dom):
    dom = run_dom
    dom.create_snapshot(name="ro-a")
    dom.create_snapshot(name="ro-b")

    def observed():
        return {
            "names": names(dom),
            "xml": dom.snapshot_xml_descriptions(),
            "parents": dom.snapshot_parents(),
            "current": dom.current_snapshot().name,
            "state": dom.state(),
            "qcow2": sorted(qemu_img_snapshots(running.disk)),
        }

    before = observed()
    assert before["names"] == ["ro-a", "ro-b"] and before["current"] == "ro-b"
    with virtsnap.open(QEMU_URI, readonly=True) as ro:
        assert ro.readonly
        rdom = ro.get_domain_by_name(running.name)
        # Reads work and agree with the read-write connection.
        assert names(rdom) == before["names"]
        assert sorted(s.name for s in rdom.list_all_snapshots()) == before["names"]
        assert rdom.num_of_snapshots() == 2
        assert rdom.snapshot_xml_descriptions(workers=2) == before["xml"]
        assert rdom.snapshot_parents() == before["parents"]
        a = rdom.get_snapshot_by_name("ro-a")
        b = rdom.get_snapshot_by_name("ro-b")
        assert a.get_xml_description() == before["xml"]["ro-a"]
        assert b.get_parent() == a and a.get_parent() is None
        assert a.list_child_snapshot_names() == ["ro-b"]
        assert rdom.current_snapshot() == b and b.is_current() and b.has_metadata()
        assert rdom.state() is DomainState.RUNNING

        mutations = {
            "create": lambda: rdom.create_snapshot(name="ro-c"),
            "create halt": lambda: rdom.create_snapshot(name="ro-h", flags=CreateFlags.HALT),
            "create no-metadata": lambda: rdom.create_snapshot(
                name="ro-n", flags=CreateFlags.NO_METADATA),
            "create disk-only": lambda: rdom.create_snapshot(
                external_xml("ro-e", running.path("ro-e.qcow2")), CreateFlags.DISK_ONLY),
            "redefine": lambda: rdom.create_snapshot(before["xml"]["ro-a"], CreateFlags.REDEFINE),
            "redefine current": lambda: rdom.create_snapshot(
                before["xml"]["ro-a"], CreateFlags.REDEFINE | CreateFlags.CURRENT),
            "delete": lambda: b.delete(),
            "delete children": lambda: a.delete(DeleteFlags.CHILDREN),
            "delete children only": lambda: a.delete(DeleteFlags.CHILDREN_ONLY),
            "delete metadata only": lambda: b.delete(DeleteFlags.METADATA_ONLY),
            "revert": lambda: a.revert_to(),
            "revert paused": lambda: a.revert_to(RevertFlags.PAUSED),
            "revert running": lambda: a.revert_to(RevertFlags.RUNNING),
            # Not a mutation, but secure XML is withheld from read-only clients too.
            "secure xml": lambda: a.get_xml_description(XMLFlags.SECURE),
        }
        for label, call in mutations.items():
            with pytest.raises(OperationDeniedError) as excinfo:
                call()
            assert excinfo.value.code == ErrorCode.OPERATION_DENIED, label
    assert observed() == before
    assert not os.path.exists(running.path("ro-e.qcow2"))


# ---------------------------------------------------------------- shut-off guest

def test_shut_off_guest_gets_internal_disk_snapshots(offline, off_dom):
    dom = off_dom
    assert qemu_io_status(offline.disk, "write -P 0xab 0 64k")[0] == 0
    a = dom.create_snapshot(name="a")
    assert qemu_io_status(offline.disk, "write -P 0xcd 0 64k")[0] == 0
    b = dom.create_snapshot(name="b")
    for snap in (a, b):
        xml = parse(snap)
        assert xml.findtext("state") == "shutoff"
        assert xml.find("memory").get("snapshot") == "no"
        assert xml.find("disks/disk[@name='vda']").get("snapshot") == "internal"
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "b"]
    assert names(dom, ListFlags.INACTIVE) == ["a", "b"]
    assert names(dom, ListFlags.INTERNAL) == ["a", "b"]
    assert names(dom, ListFlags.ACTIVE) == [] and names(dom, ListFlags.EXTERNAL) == []
    assert b.get_parent() == a and b.is_current()
    # Reverting a shut-off guest's snapshot restores the disk contents.
    assert holds_pattern(offline.disk, "0xcd")
    a.revert_to()
    assert dom.state() is DomainState.SHUTOFF and a.is_current()
    assert holds_pattern(offline.disk, "0xab")
    b.revert_to()
    assert holds_pattern(offline.disk, "0xcd")


def make_offline_tree(dom):
    """a -> (b -> c, d), current d; returns the snapshots by name."""
    snaps = make_branching_tree(dom, "abcd")
    assert dom.snapshot_parents() == {"a": None, "b": "a", "c": "b", "d": "a"}
    return snaps


def test_delete_children(offline, off_dom):
    snaps = make_offline_tree(off_dom)
    snaps["b"].delete(DeleteFlags.CHILDREN)
    assert names(off_dom) == ["a", "d"]
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "d"]
    snaps["a"].delete(DeleteFlags.CHILDREN)
    assert names(off_dom) == []
    assert qemu_img_snapshots(offline.disk) == []


def test_delete_children_only(offline, off_dom):
    snaps = make_offline_tree(off_dom)
    snaps["a"].delete(DeleteFlags.CHILDREN_ONLY)
    assert names(off_dom) == ["a"]
    assert qemu_img_snapshots(offline.disk) == ["a"]
    assert snaps["a"].num_of_child_snapshots() == 0


def test_delete_metadata_only_keeps_the_qcow2_snapshot(offline, off_dom):
    snaps = make_offline_tree(off_dom)
    snaps["b"].delete(DeleteFlags.METADATA_ONLY)
    assert names(off_dom) == ["a", "c", "d"]
    assert off_dom.snapshot_parents() == {"a": None, "c": "a", "d": "a"}  # c is re-parented
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "b", "c", "d"]
    with pytest.raises(SnapshotNotFoundError):
        off_dom.get_snapshot_by_name("b")


def test_create_no_metadata(offline, off_dom):
    a = off_dom.create_snapshot(name="a")
    ghost = off_dom.create_snapshot(name="ghost", flags=CreateFlags.NO_METADATA)
    assert ghost.name == "ghost"
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "ghost"]
    assert names(off_dom) == ["a"]
    assert off_dom.list_snapshot_names(ListFlags.NO_METADATA) == []
    assert off_dom.current_snapshot() == a
    # libvirt keeps nothing about it: even the returned handle finds no snapshot.
    with pytest.raises(SnapshotNotFoundError):
        off_dom.get_snapshot_by_name("ghost")
    with pytest.raises(SnapshotNotFoundError):
        ghost.has_metadata()


def test_redefine_restores_a_deleted_metadata_tree_exactly(offline, off_dom):
    dom = off_dom
    make_offline_tree(dom)
    saved = [(s.name, s.get_xml_description()) for s in dom.list_all_snapshots(ListFlags.TOPOLOGICAL)]
    current = dom.current_snapshot().name
    parents = dom.snapshot_parents()
    assert current == "d"

    dom.get_snapshot_by_name("a").delete(DeleteFlags.CHILDREN | DeleteFlags.METADATA_ONLY)
    assert dom.num_of_snapshots() == 0 and not dom.has_current_snapshot()
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "b", "c", "d"]

    for name, xml in saved:
        flags = CreateFlags.REDEFINE | (CreateFlags.CURRENT if name == current else 0)
        assert dom.create_snapshot(xml, flags).name == name
    assert {name: dom.get_snapshot_by_name(name).get_xml_description()
            for name, _ in saved} == dict(saved)
    assert dom.snapshot_xml_descriptions() == dict(saved)
    assert dom.current_snapshot().name == current
    assert dom.snapshot_parents() == parents
    # The redefined metadata is usable: revert and delete reach the qcow2 again.
    dom.get_snapshot_by_name("c").revert_to()
    assert dom.current_snapshot().name == "c"
    dom.get_snapshot_by_name("b").delete(DeleteFlags.CHILDREN)
    assert sorted(qemu_img_snapshots(offline.disk)) == ["a", "d"]


def test_create_live_on_shut_off_guest_is_unsupported_not_invalid(offline, off_dom):
    with pytest.raises(OperationUnsupportedError, match="live snapshot") as excinfo:
        off_dom.create_snapshot(name="live", flags=CreateFlags.LIVE)
    assert excinfo.value.code == ErrorCode.OPERATION_UNSUPPORTED
    assert names(off_dom) == [] and qemu_img_snapshots(offline.disk) == []


# ---------------------------------------------------------------- OperationInvalidError

@pytest.fixture
def transient(libvirtd):
    """A running transient guest (virsh create): it vanishes when destroyed."""
    sweep_stale()
    guest = Guest("transient")
    try:
        guest.create_transient()
        yield guest
    finally:
        guest.remove()


def test_halt_on_transient_guest_is_operation_invalid(transient, qemu_conn):
    dom = qemu_conn.get_domain_by_name(transient.name)
    info = dict(line.split(":", 1) for line in transient.virsh("dominfo", transient.name).splitlines()
                if ":" in line)
    assert info["Persistent"].strip() == "no"
    with pytest.raises(OperationInvalidError, match="transient") as excinfo:
        dom.create_snapshot(name="halt", flags=CreateFlags.HALT)
    assert excinfo.value.code == ErrorCode.OPERATION_INVALID
    assert dom.num_of_snapshots() == 0
    assert qemu_img_snapshots(transient.disk) == []
    assert dom.state() is DomainState.RUNNING


# ---------------------------------------------------------------- external snapshots

def delete_external(guest, dom, snap, overlay):
    """Delete an external snapshot where libvirt can; metadata and overlay otherwise.

    Returns "deleted" or "unsupported"; asserts what each outcome must leave.
    """
    name = snap.name
    try:
        snap.delete()
    except OperationUnsupportedError as exc:
        # 7.0 refuses every external deletion as a configuration it lacks (test_versions.py).
        assert exc.code == (ErrorCode.OPERATION_UNSUPPORTED if virtsnap.libvirt_version() >= (9, 0, 0)
                            else ErrorCode.CONFIG_UNSUPPORTED)
        assert name in dom.list_snapshot_names()  # nothing changed
        assert guest.disk_source() == overlay
        snap.delete(DeleteFlags.METADATA_ONLY)
        assert name not in dom.list_snapshot_names()
        os.remove(overlay)
        return "unsupported"
    assert name not in dom.list_snapshot_names()
    with pytest.raises(SnapshotNotFoundError):
        dom.get_snapshot_by_name(name)
    assert guest.disk_source() != overlay  # committed into its backing file
    return "deleted"


def test_external_disk_only_snapshot(fresh_running, qemu_conn, record_property):
    guest = fresh_running
    dom = qemu_conn.get_domain_by_name(guest.name)
    base = guest.disk

    # An external snapshot with no parent.
    overlay = guest.path("root-overlay.qcow2")
    root = dom.create_snapshot(external_xml("ext-root", overlay), CreateFlags.DISK_ONLY)
    assert os.path.isfile(overlay)
    assert guest.disk_source() == overlay
    xml = parse(root)
    assert xml.findtext("state") == "disk-snapshot"
    assert xml.find("memory").get("snapshot") == "no"
    disk = xml.find("disks/disk[@name='vda']")
    assert disk.get("snapshot") == "external"
    assert disk.find("source").get("file") == overlay
    assert dom.state() is DomainState.RUNNING
    for flag in (ListFlags.EXTERNAL, ListFlags.DISK_ONLY):
        assert dom.list_snapshot_names(flag) == ["ext-root"]
        assert [s.name for s in dom.list_all_snapshots(flag)] == ["ext-root"]
    assert dom.list_snapshot_names(ListFlags.INTERNAL) == []
    assert dom.list_all_snapshots(ListFlags.INTERNAL) == []
    assert qemu_img_snapshots(base) == [] and qemu_img_snapshots(overlay) == []
    outcome_root = delete_external(guest, dom, root, overlay)
    if outcome_root == "deleted":
        assert guest.disk_source() == base
        assert not os.path.exists(overlay)

    # An external snapshot whose parent is internal (with memory).
    parent = dom.create_snapshot(name="internal-parent")
    overlay2 = guest.path("child-overlay.qcow2")
    child = dom.create_snapshot(external_xml("ext-child", overlay2), CreateFlags.DISK_ONLY)
    assert os.path.isfile(overlay2) and guest.disk_source() == overlay2
    assert child.get_parent() == parent and child.is_current()
    assert dom.list_snapshot_names(ListFlags.EXTERNAL) == ["ext-child"]
    assert dom.list_snapshot_names(ListFlags.DISK_ONLY) == ["ext-child"]
    assert dom.list_snapshot_names(ListFlags.INTERNAL) == ["internal-parent"]
    assert dom.list_snapshot_names(ListFlags.ACTIVE) == ["internal-parent"]
    outcome_child = delete_external(guest, dom, child, overlay2)
    assert dom.list_snapshot_names() == ["internal-parent"]
    record_property("external_delete", {"root": outcome_root, "internal parent": outcome_child})
