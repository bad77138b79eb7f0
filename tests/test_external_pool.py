"""virtsnap.external with the guest's files in a libvirt ``dir`` storage pool: a
revert's new overlays are volumes libvirt creates (virStorageVolCreateXML), and
the layers it removes go with virStorageVolDelete, so the pool's list stays true.

Where libvirt reverts by itself (9.9 and later) only the observable result is
asserted for :func:`external.revert`; :func:`external.execute_plan` runs
virtsnap's own plan on every libvirt.
"""

import os
import subprocess

import pytest

from support.external import (
    backing_chain,
    build_chain,
    dir_pool,
    disk_file,
    pool_volume_paths,
    snapshot_image,
    view_layers,
)
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import DomainState, external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("extpool", running=False, scope="function")


@pytest.fixture
def dom(guest, qemu_conn):  # noqa: F811
    return qemu_conn.get_domain_by_name(guest.name)


def assert_reverted_to_s2(dom, guest, live):
    assert dom.state() is DomainState.SHUTOFF
    source = disk_file(dom)
    assert backing_chain(source) == [source, guest.path("s1.qcow2"), guest.disk]
    assert view_layers(source) == [1, 2]
    assert not os.path.exists(live)  # the layer the guest ran on: nothing needs it
    assert dom.get_snapshot_by_name("s2").is_current()
    return source


def test_revert_and_delete_use_the_pool_of_the_guest_directory(dom, guest, qemu_conn):  # noqa: F811
    build_chain(dom, guest, 3)  # s1=[1] s2=[1,2] s3=[1,2,3], disk [1,2,3,4]
    live = disk_file(dom)
    with dir_pool(guest) as pool:
        assert qemu_conn.storage_volume(live)["pool"] == pool

        outcome = external.revert(dom.get_snapshot_by_name("s2"))
        source = assert_reverted_to_s2(dom, guest, live)
        if outcome.by == "virtsnap":  # libvirt before 9.9
            assert f"create_overlay {source}" in outcome.steps
            volumes = pool_volume_paths(guest, pool)
            assert source in volumes  # libvirt created it: listed without a rescan
            assert live not in volumes  # removed with virStorageVolDelete
            assert qemu_conn.storage_volume(source)["pool"] == pool

        s3_image = snapshot_image(dom.get_snapshot_by_name("s3"))
        assert s3_image in pool_volume_paths(guest, pool)
        outcome = external.delete(dom.get_snapshot_by_name("s3"))  # outside the active chain
        assert outcome.by == "virtsnap" and s3_image in outcome.removed
        assert not os.path.exists(s3_image)
        assert s3_image not in pool_volume_paths(guest, pool)
        assert qemu_conn.storage_volume(s3_image) is None
        assert view_layers(disk_file(dom)) == [1, 2]
        assert external.check(dom).problems == []

        # the guest starts on a volume libvirt made
        outcome = external.revert(dom.get_snapshot_by_name("s1"), running=True)
        assert dom.state() is DomainState.RUNNING
        assert guest.disk_source() == disk_file(dom)
        assert view_layers(disk_file(dom)) == [1]
        if outcome.by == "virtsnap":
            assert qemu_conn.storage_volume(disk_file(dom))["pool"] == pool


def test_a_create_step_run_again_replaces_the_volume_it_made(dom, guest, qemu_conn):  # noqa: F811
    build_chain(dom, guest, 3)
    live = disk_file(dom)
    with dir_pool(guest) as pool:
        steps = external.plan_revert(dom.get_snapshot_by_name("s2"))
        [create] = [i for i, step in enumerate(steps) if step["do"] == "create_overlay"]
        steps.insert(create + 1, steps[create])  # as after a kill once libvirt made it
        outcome = external.execute_plan(dom, "revert", "s2", steps)
        source = assert_reverted_to_s2(dom, guest, live)
        assert outcome.steps.count(f"create_overlay {source}") == 2
        volumes = pool_volume_paths(guest, pool)
        assert source in volumes and live not in volumes
        assert qemu_conn.storage_volume(source)["pool"] == pool
        assert external.read_intent(dom) is None


def test_a_pool_entry_whose_file_is_gone_is_passed_over(dom, guest):
    """As after libvirt 9.9's own revert, which removes a layer behind the pool's back."""
    stale = guest.path("stale.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", stale, "1M"], check=True)
    with dir_pool(guest) as pool:
        assert stale in pool_volume_paths(guest, pool)
        os.unlink(stale)
        outcome = external.execute_plan(dom, "delete", "s1", [{"do": "remove", "path": stale}])
        assert outcome.removed == [stale]
        assert external.read_intent(dom) is None
