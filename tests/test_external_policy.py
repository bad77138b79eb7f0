"""``virtsnap auto`` with ``disk_only = true`` keeps its retention on every libvirt:
pruning goes through virtsnap.external, so libvirt 7.0 (which deletes no external
snapshot) prunes too, and no byte of the disk or a kept snapshot is lost.
"""

import time

import pytest

from support.external import (
    disk_file,
    disk_only_policy,
    external_auto,
    snapshot_image,
    view_layers,
    write_layer,
)
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("extauto", running=False, scope="function")


def test_disk_only_retention_prunes_and_keeps_every_byte(guest, qemu_conn, tmp_path,  # noqa: F811
                                                          monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    config = disk_only_policy(tmp_path, guest, keep_last=2)
    dom = qemu_conn.get_domain_by_name(guest.name)
    taken = []
    for layer in range(1, 5):
        write_layer(disk_file(dom), layer)
        status, result, err = external_auto(config)
        assert status == 0, (result, err)
        taken.append(result["created"])
        time.sleep(1.1)  # snapshot names carry the second
    assert result["deleted"] == [taken[1]] and result["refused"] == []
    kept = taken[2:]
    assert sorted(dom.list_snapshot_names()) == sorted(kept)
    # snapshot k holds layers 1..k; the disk all four
    assert {name: view_layers(snapshot_image(dom.get_snapshot_by_name(name)))
            for name in kept} == {kept[0]: [1, 2, 3], kept[1]: [1, 2, 3, 4]}
    assert view_layers(disk_file(dom)) == [1, 2, 3, 4]
    report = external.check(dom)
    assert report.consistent, report.problems
    assert len(report.files) == 3  # base, one layer per kept snapshot, merged as they went
