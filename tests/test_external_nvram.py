"""UEFI guests: external.create keeps a copy of the NVRAM file beside it for an external
snapshot, revert puts it back, delete removes it (libvirt keeps no NVRAM copy).

The guest is defined with OVMF's pflash firmware and an NVRAM file made from OVMF's
variable template; it is never started (the snapshots are taken shut off).
"""

import hashlib
import os

import pytest

from support.external import build_chain, disk_file, external_xml, view_layers
from support.qemu_guest import Guest, qemu_conn, sweep_stale  # noqa: F401 - fixture
from virtsnap import CreateFlags, external

pytestmark = pytest.mark.libvirtd

# Debian 11 and 12 ship the 2 MB images; Debian 13 only the 4 MB ones.
OVMF_CODE, OVMF_VARS = next(
    (code, vars_) for code, vars_ in (("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
                                      ("/usr/share/OVMF/OVMF_CODE_4M.fd",
                                       "/usr/share/OVMF/OVMF_VARS_4M.fd"))
    if os.path.exists(code) and os.path.exists(vars_))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def uefi_guest(libvirtd):
    sweep_stale()
    guest = Guest("uefi", memory_mib=128)
    guest.nvram = guest.path("VARS.fd")
    with open(OVMF_VARS, "rb") as src, open(guest.nvram, "wb") as dst:
        dst.write(src.read())
    with open(guest.xml_path) as f:
        xml = f.read()
    xml = xml.replace("<type arch='x86_64'>hvm</type>",
                      "<type arch='x86_64'>hvm</type>\n"
                      f"    <loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>\n"
                      f"    <nvram template='{OVMF_VARS}'>{guest.nvram}</nvram>")
    xml = xml.replace("  <on_poweroff>", "  <features><acpi/></features>\n  <on_poweroff>", 1)
    with open(guest.xml_path, "w") as f:
        f.write(xml)
    try:
        guest.define()
        yield guest
    finally:
        guest.remove()


def test_nvram_copy_is_restored_by_revert_and_removed_by_delete(uefi_guest, qemu_conn):  # noqa: F811
    guest = uefi_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    build_chain(dom, guest, 0)  # layer 1 in the base image
    before = digest(guest.nvram)
    snap = external.create(dom, external_xml("s1", guest.path("s1.qcow2")),
                           CreateFlags.DISK_ONLY)
    copy = external.nvram_copy_path(guest.nvram, "s1")
    assert digest(copy) == before

    with open(guest.nvram, "r+b") as f:  # the firmware changes a variable
        f.write(b"\xab" * 4096)
    assert digest(guest.nvram) != before
    outcome = external.revert(snap)
    assert digest(guest.nvram) == before
    assert any(step.startswith("copy ") for step in outcome.steps)
    assert view_layers(disk_file(dom)) == [1]

    external.delete(dom.get_snapshot_by_name("s1"))
    assert not os.path.exists(copy)
    assert dom.list_snapshot_names() == []
    assert external.check(dom).consistent
