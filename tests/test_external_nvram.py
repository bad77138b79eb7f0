"""UEFI guests: external.create keeps a copy of the NVRAM file beside it for an external
snapshot, revert puts it back, delete removes it (libvirt keeps no NVRAM copy).

The guest is defined with OVMF's pflash firmware and an NVRAM file made from OVMF's
variable template; it is never started (the snapshots are taken shut off).
"""

import os

import pytest

from support.external import (
    build_chain,
    digest,
    disk_file,
    disk_only_policy,
    external_auto,
    external_cli,
    external_xml,
    uefi_guest,  # noqa: F401 - fixture
    view_layers,
    write_layer,
)
from support.qemu_guest import qemu_conn  # noqa: F401 - fixture
from virtsnap import CreateFlags, external

pytestmark = pytest.mark.libvirtd

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


def changed_nvram_comes_back(dom, guest, name, revert):
    """``name``'s NVRAM copy holds the NVRAM as it was; after the firmware changes it,
    ``revert(name)`` puts it back."""
    copy = external.nvram_copy_path(guest.nvram, name)
    before = digest(guest.nvram)
    assert os.path.exists(copy), f"no NVRAM copy kept for {name}"
    assert digest(copy) == before
    with open(guest.nvram, "r+b") as f:
        f.write(b"\xcd" * 4096)
    revert(name)
    assert digest(guest.nvram) == before
    assert external.check(dom).consistent


def test_cli_create_keeps_the_nvram_copy(uefi_guest, qemu_conn):  # noqa: F811
    guest = uefi_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    result = external_cli("create", guest.name, "--name", "c1", "--disk-only",
                          "--diskspec", f"vda,snapshot=external,file={guest.path('c1.qcow2')}")
    assert result.returncode == 0, result.stderr

    def cli_revert(name):
        result = external_cli("revert", guest.name, name)
        assert result.returncode == 0, result.stderr

    changed_nvram_comes_back(dom, guest, "c1", cli_revert)


def test_auto_disk_only_keeps_the_nvram_copy(uefi_guest, qemu_conn, tmp_path,  # noqa: F811
                                             monkeypatch):
    guest = uefi_guest
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    config = disk_only_policy(tmp_path, guest, keep_last=2)
    dom = qemu_conn.get_domain_by_name(guest.name)
    write_layer(guest.disk, 1)
    status, result, err = external_auto(config)
    assert status == 0, (result, err)
    changed_nvram_comes_back(dom, guest, result["created"],
                             lambda name: external.revert(dom.get_snapshot_by_name(name)))
    assert view_layers(disk_file(dom)) == [1]
