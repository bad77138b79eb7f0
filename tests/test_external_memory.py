"""Revert to an external snapshot with memory on every libvirt: libvirt's own from 9.9;
before, virtsnap's (each disk on a new overlay over the snapshot's image, then
virDomainRestoreFlags of the memory image onto the overlays). Either way the guest
resumes from the snapshot's memory (not a fresh boot) on the snapshot's bytes.
"""

import os

import pytest

from support.external import (
    disk_file,
    image_files,
    memory_scenario,
    snapshot_image,
    view_layers,
)
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import DomainState, LibvirtError, external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("extmem", running=False, scope="function")


@pytest.fixture
def dom(guest, qemu_conn):  # noqa: F811
    return qemu_conn.get_domain_by_name(guest.name)


def started_how(guest):
    """virsh's reason for the guest's state, e.g. 'restored', 'booted'."""
    state = guest.virsh("domstate", "--reason", guest.name).strip()
    return state[state.index("(") + 1:-1]


def test_revert_to_a_snapshot_with_memory(dom, guest):
    memory_scenario(dom, guest)
    assert view_layers(disk_file(dom)) == [1, 2]
    by = "libvirt" if dom.get_connect().get_lib_version() >= external.REVERTS_EXTERNAL_SINCE \
        else "virtsnap"

    outcome = external.revert(dom.get_snapshot_by_name("m1"))  # m1 was running: it runs
    assert outcome.by == by
    assert dom.state() is DomainState.RUNNING
    assert started_how(guest) in ("restored", "from snapshot")  # its memory, not a boot
    assert guest.disk_source() == disk_file(dom)  # live and persistent definitions agree
    assert view_layers(disk_file(dom)) == [1]
    assert view_layers(snapshot_image(dom.get_snapshot_by_name("m1"))) == [1]
    assert dom.get_snapshot_by_name("m1").is_current()
    assert guest.path("m1.qcow2") not in image_files(guest.dir)  # the layer it ran on
    report = external.check(dom)
    assert report.consistent, report.problems

    external.revert(dom.get_snapshot_by_name("m1"), paused=True)
    assert dom.state() is DomainState.PAUSED
    assert view_layers(disk_file(dom)) == [1]
    assert external.check(dom).consistent

    # libvirt 11.3's block commit fails on a guest paused since its restore (QEMU keeps
    # the images inactive until the guest runs: "Inactive ... can't be a backing child")
    dom.resume()
    external.delete(dom.get_snapshot_by_name("m1"))
    assert dom.list_snapshot_names() == []
    assert dom.state() is DomainState.RUNNING
    assert view_layers(disk_file(dom)) == [1]
    assert not os.path.exists(guest.path("m1.save"))
    report = external.check(dom)
    assert report.consistent, report.problems
    assert image_files(guest.dir) == report.files


def test_virtsnaps_restore_where_libvirt_would_revert(dom, guest):
    """virtsnap's own plan (what libvirt 7.0 to 9.8 get), run on any libvirt."""
    memory_scenario(dom, guest)
    snap = dom.get_snapshot_by_name("m1")
    steps = external.plan_revert(snap)
    assert [s["do"] for s in steps][0] == "destroy" and steps[-1]["do"] == "restore"
    external.execute_plan(dom, "revert", "m1", steps)
    assert dom.state() is DomainState.RUNNING
    assert started_how(guest) == "restored"
    assert guest.disk_source() == disk_file(dom)
    assert view_layers(disk_file(dom)) == [1]
    assert external.check(dom).consistent


def test_a_missing_memory_image_refuses_before_any_change(dom, guest):
    memory_scenario(dom, guest)
    os.unlink(guest.path("m1.save"))
    before = disk_file(dom)
    with pytest.raises(LibvirtError):
        external.revert(dom.get_snapshot_by_name("m1"))
    assert external.read_intent(dom) is None
    if dom.get_connect().get_lib_version() < external.REVERTS_EXTERNAL_SINCE:
        assert dom.state() is DomainState.RUNNING and disk_file(dom) == before
