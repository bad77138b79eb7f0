"""``virtsnap du`` on a real QEMU guest (qemu:///system, marker ``libvirtd``).

One guest gets an internal snapshot, a disk-only external one and an
external one with its memory in a file; every size ``du`` reports is
compared with ``qemu-img info -U`` (actual-size, vm-state-size) and
``os.stat`` (the memory file), running and shut off.
"""

import json
import os
import subprocess
import sys

import jsonschema
import libvirt
import pytest

from support.helpers import QEMU_URI, virsh
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 (a fixture)
from virtsnap.cli.schema import JSON_SCHEMA
from virtsnap.space import disk_usage, free_space

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("du", running=True)


def qemu_img(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", "--backing-chain", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def snapshotted(guest, qemu_conn):
    guest.ensure_running()
    guest.virsh("snapshot-create-as", guest.name, "int1")
    guest.virsh("snapshot-create-as", guest.name, "ext1", "--disk-only")
    guest.virsh("snapshot-create-as", guest.name, "ext2", "--memspec",
                f"{guest.path('ext2.mem')},snapshot=external", "--diskspec",
                "vda,snapshot=external")
    return qemu_conn.get_domain_by_name(guest.name)


def check_against_qemu_img(guest, usage, source):
    images = qemu_img(guest.disk_source())
    [disk] = usage.disks
    assert disk.target == "vda" and disk.complete
    assert [layer.file for layer in disk.chain] == [image["filename"] for image in images]
    assert [layer.allocation for layer in disk.chain] == [image["actual-size"] for image in images]
    assert [layer.capacity for layer in disk.chain] == [image["virtual-size"] for image in images]
    assert {layer.source for layer in disk.chain} == {source}
    assert [layer.snapshot for layer in disk.chain] == ["ext2", "ext1", None]
    snaps = {snap.name: snap for snap in usage.snapshots}
    [vmstate] = [s["vm-state-size"] for s in images[-1]["snapshots"] if s["name"] == "int1"]
    assert snaps["int1"].location == "internal" and snaps["int1"].vmstate == vmstate > 0
    assert snaps["int1"].frees is None and snaps["int1"].frees_at_least == vmstate
    memory = os.stat(guest.path("ext2.mem")).st_blocks * 512
    assert snaps["ext2"].memory_file == guest.path("ext2.mem") and snaps["ext2"].memory == memory
    assert snaps["ext1"].location == "external" and snaps["ext1"].memory is None
    assert snaps["ext1"].frees is None and "not known" in snaps["ext1"].frees_note
    assert usage.total == sum(image["actual-size"] for image in images) + memory
    assert usage.snapshot_bytes("ext2") == images[0]["actual-size"] + memory
    assert usage.snapshot_bytes("int1") == vmstate


def test_du_of_a_running_guest_matches_qemu_img(guest, snapshotted):
    check_against_qemu_img(guest, disk_usage(snapshotted), "domain-stats")


def test_du_cli_json_and_table(guest, snapshotted):
    result = subprocess.run([sys.executable, "-m", "virtsnap", "-c", QEMU_URI, "du", guest.name,
                             "--json"], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    document = json.loads(result.stdout)
    jsonschema.validate(document, {**JSON_SCHEMA, "$ref": "#/$defs/du"})
    images = qemu_img(guest.disk_source())
    assert [layer["allocation"] for layer in document["disks"][0]["chain"]] == \
        [image["actual-size"] for image in images]
    table = subprocess.run([sys.executable, "-m", "virtsnap", "-c", QEMU_URI, "du", guest.name],
                           capture_output=True, text=True, timeout=120)
    assert table.returncode == 0
    assert " KiB" in table.stdout or " MiB" in table.stdout
    assert f"Total: " in table.stdout and f"({document['total']} bytes)" in table.stdout
    for layer in document["disks"][0]["chain"]:
        assert layer["file"] in table.stdout


def test_du_of_a_shut_off_guest_matches_qemu_img(guest, snapshotted):
    guest.ensure_shut_off()
    try:
        check_against_qemu_img(guest, disk_usage(snapshotted), "domain-stats")
    finally:
        guest.ensure_running()


def test_storage_volume_and_pool_free_space_match_libvirt_python(guest, snapshotted, qemu_conn):
    """A transient dir pool over the guest's directory: volume sizes and the pool's free space."""
    pool_name = f"{guest.name}-pool"
    virsh("pool-create-as", pool_name, "dir", "--target", guest.dir, uri=QEMU_URI)
    try:
        top = guest.disk_source()
        volume = qemu_conn.storage_volume(top)
        assert volume["pool"] == pool_name
        assert volume["allocation"] == qemu_img(top)[0]["actual-size"]
        assert qemu_conn.storage_volume(os.path.join(guest.dir, "no-such-file")) is None
        space = free_space(qemu_conn, top)
        oracle = libvirt.open(QEMU_URI)
        try:
            _, capacity, _, available = oracle.storagePoolLookupByName(pool_name).info()
        finally:
            oracle.close()
        assert (space.free, space.total, space.source) == (available, capacity,
                                                           f"pool {pool_name}")
    finally:
        virsh("pool-destroy", pool_name, uri=QEMU_URI)


def test_metrics_snapshot_bytes_is_the_vm_state_qemu_img_reports(guest, snapshotted, tmp_path):
    """auto --metrics-file on the guest: an internal snapshot holds its vm-state."""
    from prometheus_client.parser import text_string_to_metric_families

    guest.ensure_running()
    config = tmp_path / "policy.toml"
    config.write_text(f'[[policy]]\nlabel = "m"\nuris = ["{QEMU_URI}"]\n'
                      f'domains = ["{guest.name}"]\ninterval = "1h"\nmin_free = "1MiB"\n')
    metrics = tmp_path / "virtsnap.prom"
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--json", "--metrics-file", str(metrics)], capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "VIRTSNAP_LOCK_DIR": str(tmp_path / "locks")})
    assert result.returncode == 0, result.stderr
    [created] = [p["created"] for d in json.loads(result.stdout)["hosts"][0]["domains"]
                 for p in d["policies"]]
    [vmstate] = [s["vm-state-size"] for image in qemu_img(guest.disk_source())
                 for s in image.get("snapshots", []) if s["name"] == created]
    [family] = [f for f in text_string_to_metric_families(metrics.read_text())
                if f.name == "virtsnap_snapshot_bytes"]
    [sample] = family.samples
    assert sample.labels["domain"] == guest.name and sample.value == vmstate > 0


@pytest.mark.ansible
def test_ansible_snapshot_info_returns_the_sizes(guest, snapshotted, tmp_path):
    from support.ansible_env import run_playbook, shared_collection

    guest.ensure_running()
    info = {"uri": QEMU_URI, "domain": guest.name, "sizes": True}
    tasks = [{"name": "one", "virtsnap.libvirt.snapshot_info": info},
             {"name": "all", "virtsnap.libvirt.snapshot_info": {**info, "domain": "all"}},
             {"name": "no sizes", "virtsnap.libvirt.snapshot_info": {**info, "sizes": False}}]
    run = run_playbook(shared_collection(), tmp_path,
                       [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    assert run.returncode == 0, run.output
    usage = run.result("one")["usage"]
    jsonschema.validate(usage, {**JSON_SCHEMA, "$ref": "#/$defs/du"})
    images = qemu_img(guest.disk_source())
    assert [(layer["file"], layer["allocation"]) for layer in usage["disks"][0]["chain"]] == \
        [(image["filename"], image["actual-size"]) for image in images]
    [vmstate] = [s["vm-state-size"] for s in images[-1]["snapshots"] if s["name"] == "int1"]
    assert {s["name"]: s["vmstate"] for s in usage["snapshots"]}["int1"] == vmstate
    assert run.result("all")["domains"][guest.name]["usage"]["total"] == usage["total"]
    assert "usage" not in run.result("no sizes")
