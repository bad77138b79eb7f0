"""External snapshots of a running guest: delete merges with libvirt's block commit
(libvirt's own from 9.0, virtsnap's block commit and pivot before), a snapshot outside
the active chain is deleted while the guest runs, and no byte is lost.

Layers are written while the guest is shut off, then it is started; bytes are read
with ``qemu-io -r -U`` (the idle BIOS guest writes nothing to its disk).
"""

import os
import xml.etree.ElementTree as ElementTree

import pytest

from support.external import (
    backing_chain,
    build_chain,
    disk_file,
    snapshot_image,
    take_external,
    view_layers,
)
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import DomainState, external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("extrun", running=False, scope="function")


@pytest.fixture
def dom(guest, qemu_conn):  # noqa: F811
    return qemu_conn.get_domain_by_name(guest.name)


def running_views(dom):
    return {s.name: view_layers(snapshot_image(s)) for s in dom.list_all_snapshots()}


def running_chain(dom, guest):
    build_chain(dom, guest, 3)
    dom.start()
    assert dom.state() is DomainState.RUNNING


def check_after(dom, guest, expected):
    assert dom.state() is DomainState.RUNNING
    assert guest.disk_source() == disk_file(dom)  # live and persistent definitions agree
    assert running_views(dom) == expected
    assert view_layers(disk_file(dom)) == [1, 2, 3, 4]
    assert len(backing_chain(disk_file(dom))) == 3
    report = external.check(dom)
    assert report.consistent, report.problems


@pytest.mark.parametrize("position,expected", [
    ("s1", {"s2": [1, 2], "s3": [1, 2, 3]}),   # an intermediate layer: plain block commit
    ("s3", {"s1": [1], "s2": [1, 2]}),         # the active layer: commit and pivot
])
def test_delete_on_a_running_guest(dom, guest, position, expected):
    running_chain(dom, guest)
    external.delete(dom.get_snapshot_by_name(position))
    check_after(dom, guest, expected)


@pytest.mark.parametrize("position,expected", [
    ("s1", {"s2": [1, 2], "s3": [1, 2, 3]}),
    ("s3", {"s1": [1], "s2": [1, 2]}),
])
def test_virtsnaps_block_commit_on_a_running_guest(dom, guest, position, expected):
    """virtsnap's own plan (what libvirt 7.0 and 8.x get), run where libvirt would do it."""
    running_chain(dom, guest)
    snap = dom.get_snapshot_by_name(position)
    steps = external.plan_delete(snap)
    assert steps[0]["do"] == "block_commit"
    assert steps[0]["active"] is (position == "s3")
    external.execute_plan(dom, "delete", position, steps)
    check_after(dom, guest, expected)


def test_delete_outside_the_active_chain_while_running(dom, guest):
    build_chain(dom, guest, 3)
    external.revert(dom.get_snapshot_by_name("s1"), running=True)
    assert dom.state() is DomainState.RUNNING
    external.delete(dom.get_snapshot_by_name("s2"))  # s1.qcow2 and s2.qcow2 are not open
    assert running_views(dom) == {"s1": [1], "s3": [1, 2, 3]}
    assert view_layers(disk_file(dom)) == [1]
    assert external.check(dom).consistent


def test_check_names_a_missing_memory_image(dom, guest):
    dom.start()
    memory = guest.path("mem.save")
    overlay = guest.path("m1.qcow2")
    dom.create_snapshot(
        f"<domainsnapshot><name>m1</name><memory snapshot='external' file='{memory}'/>"
        f"<disks><disk name='vda' snapshot='external'><source file='{overlay}'/></disk>"
        f"</disks></domainsnapshot>")
    assert external.check(dom).consistent
    os.unlink(memory)
    report = external.check(dom)
    assert [(p.kind, p.path, p.snapshot) for p in report.problems] == [
        ("missing-memory", memory, "m1")]


def test_revert_to_a_snapshot_taken_while_running(dom, guest):
    build_chain(dom, guest, 1)  # s1 = [1] taken shut off, the disk shows [1, 2]
    dom.start()
    take_external(dom, guest, "live")  # disk-only, of the running guest: holds [1, 2]
    assert ElementTree.fromstring(
        dom.get_snapshot_by_name("live").get_xml_description()).findtext("state") == \
        "disk-snapshot"
    external.revert(dom.get_snapshot_by_name("s1"), running=True)
    assert view_layers(disk_file(dom)) == [1]
    external.revert(dom.get_snapshot_by_name("live"), running=True)
    assert dom.state() is DomainState.RUNNING
    assert guest.disk_source() == disk_file(dom)
    assert view_layers(disk_file(dom)) == [1, 2]
    assert dom.get_snapshot_by_name("live").is_current()
    assert external.check(dom).consistent
