"""What the libvirt we run on does, picked by its version: one expectation per version range.

scripts/matrix runs these on libvirt 7.0 (Debian 11), 9.0 (12) and 11.3 (13);
docs/guides/compatibility.md lists what each does. Where libvirt changed between
those versions, the cut is the release whose NEWS announces the change (9.0 external
snapshot deletion, 9.9 external revert, 8.1 REVERT_RESET_NVRAM); the test driver's
REVERT_RUNNING fix is known only to lie between 7.0 and 9.0.
"""

import os

import pytest

import virtsnap
from support.external import backing_chain
from support.snapshots import external_xml
from support.libvirtd_env import qemu_img_snapshots
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from support.versions import TEST_DRIVER_RESUMES_ON_REVERT, header_constants
from virtsnap import (
    CreateFlags,
    DomainState,
    ErrorCode,
    InvalidArgumentError,
    OperationUnsupportedError,
    RevertFlags,
    XMLError,
)

RUNTIME = virtsnap.libvirt_version()
RESET_NVRAM_VALUE = 1 << 3

# The behaviour each test asserts, by the run-time libvirt.
DELETES_EXTERNAL = RUNTIME >= (9, 0, 0)
REVERTS_EXTERNAL = RUNTIME >= (9, 9, 0)
HAS_RESET_NVRAM = RUNTIME >= (8, 1, 0)


# ---------------------------------------------------------------- flags and the run-time libvirt

def test_flags_newer_than_7_0_follow_the_runtime_libvirt():
    newer = virtsnap._snapshot._newer_flags
    assert newer == {"RevertFlags.RESET_NVRAM": (8, 1, 0)}
    assert hasattr(RevertFlags, "RESET_NVRAM") is HAS_RESET_NVRAM
    assert hasattr(virtsnap.DomainSnapshot, "REVERT_RESET_NVRAM") is HAS_RESET_NVRAM
    if HAS_RESET_NVRAM:
        assert RevertFlags.RESET_NVRAM == virtsnap.DomainSnapshot.REVERT_RESET_NVRAM
        assert RevertFlags.RESET_NVRAM == RESET_NVRAM_VALUE


def test_newer_flags_carry_the_header_value():
    """The value flags.h carries for headers without the flag is the one newer headers have."""
    constants = header_constants()
    if "REVERT_RESET_NVRAM" in constants:  # headers of libvirt >= 8.1
        assert constants["REVERT_RESET_NVRAM"] == RESET_NVRAM_VALUE
    else:
        assert virtsnap.libvirt_build_version() < (8, 1, 0)


def test_create_validate_checks_the_schema(dom):
    bad = "<domainsnapshot><name>v</name><bogus/></domainsnapshot>"
    with pytest.raises(XMLError, match="schema"):
        dom.create_snapshot(bad, CreateFlags.VALIDATE)
    assert dom.list_snapshot_names() == []
    assert dom.create_snapshot(bad).name == "v"  # unknown elements pass without VALIDATE


def test_domain_list_checkpoint_flags(conn, dom):
    flags = virtsnap.DomainListFlags
    assert (flags.HAS_CHECKPOINT, flags.NO_CHECKPOINT) == (1 << 14, 1 << 15)
    assert conn.list_all_domains(flags.HAS_CHECKPOINT) == []
    assert conn.list_all_domains(flags.NO_CHECKPOINT) == [dom]


def test_test_driver_refuses_reset_nvram(dom):
    snap = dom.create_snapshot(name="s")
    with pytest.raises(InvalidArgumentError, match="unsupported flags"):
        snap.revert_to(RESET_NVRAM_VALUE)


def test_revert_running_on_a_paused_domain(dom):
    """libvirt 7.0's test driver leaves the domain paused; 9.0 and later resume it."""
    snap = dom.create_snapshot(name="while-running")
    lv_dom = dom.to_libvirt()
    for flags in (RevertFlags.RUNNING, 0):
        lv_dom.suspend()
        assert dom.state() is DomainState.PAUSED
        snap.revert_to(flags)
        expected = DomainState.RUNNING if TEST_DRIVER_RESUMES_ON_REVERT else DomainState.PAUSED
        assert dom.state() is expected, flags
        if dom.state() is DomainState.PAUSED:
            lv_dom.resume()
    snap.revert_to(RevertFlags.PAUSED)
    assert dom.state() is DomainState.PAUSED
    lv_dom.resume()


# ---------------------------------------------------------------- QEMU guests

running_guest = guest_fixture("ver", running=True, scope="function")


@pytest.mark.libvirtd
def test_external_snapshot_delete(running_guest, qemu_conn):  # noqa: F811
    guest = running_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    overlay = guest.path("overlay.qcow2")
    snap = dom.create_snapshot(external_xml("ext", overlay), CreateFlags.DISK_ONLY)
    assert backing_chain(guest.disk_source()) == [overlay, guest.disk]
    if DELETES_EXTERNAL:
        snap.delete()
        assert dom.list_snapshot_names() == []
        assert guest.disk_source() == guest.disk  # committed into the base, then removed
        assert not os.path.exists(overlay)
        assert backing_chain(guest.disk) == [guest.disk]
    else:
        with pytest.raises(OperationUnsupportedError,
                           match="deletion of 1 external disk snapshots not supported") as err:
            snap.delete()
        assert err.value.code == ErrorCode.CONFIG_UNSUPPORTED
        assert dom.list_snapshot_names() == ["ext"]
        assert backing_chain(guest.disk_source()) == [overlay, guest.disk]


@pytest.mark.libvirtd
def test_external_child_of_an_internal_snapshot_is_not_deleted(running_guest, qemu_conn):  # noqa: F811
    guest = running_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    dom.create_snapshot(name="internal")
    overlay = guest.path("child.qcow2")
    child = dom.create_snapshot(external_xml("child", overlay), CreateFlags.DISK_ONLY)
    if DELETES_EXTERNAL:
        match, code = "internal snapshot as parent not supported", ErrorCode.OPERATION_UNSUPPORTED
    else:
        match, code = "external disk snapshots not supported", ErrorCode.CONFIG_UNSUPPORTED
    with pytest.raises(OperationUnsupportedError, match=match) as err:
        child.delete()
    assert err.value.code == code
    assert sorted(dom.list_snapshot_names()) == ["child", "internal"]
    assert backing_chain(guest.disk_source()) == [overlay, guest.disk]
    assert qemu_img_snapshots(guest.disk) == ["internal"]


@pytest.mark.libvirtd
def test_external_snapshot_revert(running_guest, qemu_conn):  # noqa: F811
    guest = running_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    overlay = guest.path("overlay.qcow2")
    snap = dom.create_snapshot(external_xml("ext", overlay), CreateFlags.DISK_ONLY)
    if REVERTS_EXTERNAL:
        snap.revert_to()
        # A disk-only snapshot holds no memory: the guest is shut off, on a new
        # overlay over the snapshot's base; the discarded overlay is removed.
        assert dom.state() is DomainState.SHUTOFF
        source = guest.disk_source()
        assert source not in (overlay, guest.disk)
        assert backing_chain(source) == [source, guest.disk]
        assert not os.path.exists(overlay)
        assert snap.is_current()
    else:
        with pytest.raises(OperationUnsupportedError,
                           match="revert to external snapshot not supported") as err:
            snap.revert_to()
        assert err.value.code == ErrorCode.CONFIG_UNSUPPORTED
        assert dom.state() is DomainState.RUNNING
        assert backing_chain(guest.disk_source()) == [overlay, guest.disk]


@pytest.mark.libvirtd
def test_revert_reset_nvram_on_qemu(running_guest, qemu_conn):  # noqa: F811
    """8.1 and later accept REVERT_RESET_NVRAM (a BIOS guest has none to reset); 7.0 refuses it."""
    dom = qemu_conn.get_domain_by_name(running_guest.name)
    snap = dom.create_snapshot(name="internal")
    if HAS_RESET_NVRAM:
        snap.revert_to(RevertFlags.RESET_NVRAM)
        assert dom.state() is DomainState.RUNNING and snap.is_current()
    else:
        with pytest.raises(InvalidArgumentError, match=r"unsupported flags \(0x8\)"):
            snap.revert_to(RESET_NVRAM_VALUE)

