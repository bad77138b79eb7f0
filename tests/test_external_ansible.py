"""The Ansible ``snapshot`` module creates, reverts to and deletes external snapshots
through virtsnap.external, on a shut-off QEMU guest, and says when virtsnap did what
libvirt refuses; a UEFI guest's NVRAM copy is kept at creation and put back on revert."""

import pytest

from support.ansible_env import run_playbook, shared_collection
from support.external import (
    build_chain,
    digest,
    disk_file,
    uefi_guest,  # noqa: F401 - fixture
    view_layers,
)
from support.helpers import QEMU_URI
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import DomainState, external

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd]

guest = guest_fixture("extans", running=False, scope="function")


def task(guest, title, **args):
    return {"name": title, "virtsnap.libvirt.snapshot": {"uri": QEMU_URI, "domain": guest.name,
                                                        **args}}


def test_module_reverts_and_deletes_external_snapshots(guest, qemu_conn, tmp_path):  # noqa: F811
    dom = qemu_conn.get_domain_by_name(guest.name)
    build_chain(dom, guest, 2)
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        task(guest, "revert", name="s1", state="reverted"),
        task(guest, "delete", name="s2", state="absent"),
    ]}]
    run = run_playbook(shared_collection(), tmp_path, plays)
    assert run.returncode == 0, run.output

    reverted = run.result("revert")
    assert reverted["changed"] is True
    did = [w for w in reverted.get("warnings", []) if "virtsnap did it" in w]
    revert_by_virtsnap = dom.get_connect().get_lib_version() < external.REVERTS_EXTERNAL_SINCE
    assert len(did) == (1 if revert_by_virtsnap else 0), reverted
    deleted = run.result("delete")
    assert deleted["changed"] is True and deleted["snapshots"] == ["s1"]
    assert any("virtsnap did it" in w for w in deleted["warnings"])  # outside the active chain

    assert dom.state() is DomainState.SHUTOFF
    assert view_layers(disk_file(dom)) == [1]
    assert external.check(dom).consistent


def test_module_create_keeps_the_nvram_copy(uefi_guest, qemu_conn, tmp_path):  # noqa: F811
    guest = uefi_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    before = digest(guest.nvram)
    run = run_playbook(shared_collection(), tmp_path, [{"hosts": "localhost", "gather_facts": False,
                                                        "tasks": [task(guest, "create", name="a1",
                                                                       disk_only=True)]}])
    assert run.returncode == 0, run.output
    assert run.result("create")["changed"] is True
    assert digest(external.nvram_copy_path(guest.nvram, "a1")) == before
    with open(guest.nvram, "r+b") as f:
        f.write(b"\xef" * 4096)
    external.revert(dom.get_snapshot_by_name("a1"))
    assert digest(guest.nvram) == before
    assert external.check(dom).consistent
