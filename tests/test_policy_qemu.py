"""``virtsnap auto`` on a real QEMU guest (qemu:///system, marker ``libvirtd``).

The guest has no guest agent: ``quiesce = "try"`` takes the fallback and
warns, ``quiesce = true`` fails the domain. A real prune deletes the
internal snapshots from the qcow2 image, as ``qemu-img`` lists them.
Run under ``flock /tmp/virtsnap-daemon.lock`` (shared daemon).
"""

import json
import subprocess
import sys
import textwrap
import time

import jsonschema
import pytest

from support.helpers import QEMU_URI
from support.libvirtd_env import qemu_img_snapshots
from support.qemu_guest import guest_fixture
from virtsnap.policy import owned_time
from virtsnap.policy.run import REPORT_SCHEMA

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("policy", running=True)


def auto(config):
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--json"], capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    report = json.loads(result.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    [result_policy] = report["hosts"][0]["domains"][0]["policies"]
    return result.returncode, result_policy, result.stderr


def config_for(tmp_path, guest, label, **keys):
    path = tmp_path / f"{label}.toml"
    extra = "".join(f"{key} = {value}\n" for key, value in keys.items())
    path.write_text(textwrap.dedent(f"""\
        [[policy]]
        label = "{label}"
        uris = ["{QEMU_URI}"]
        domains = ["{guest.name}"]
        interval = "1s"
        """) + extra)
    return path


def test_quiesce_try_falls_back_and_prune_empties_the_qcow2(guest, tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    config = config_for(tmp_path, guest, "qemu", keep_last=2, quiesce='"try"')
    taken = []
    for _ in range(3):
        status, result, err = auto(config)
        assert status == 0, (result, err)
        assert result["created"] and owned_time("qemu", result["created"])
        assert len(result["warnings"]) == 1 and "taken without quiesce" in result["warnings"][0]
        assert f"warning: {QEMU_URI} {guest.name} [qemu]: quiesce failed" in err
        taken.append(result["created"])
        time.sleep(1.1)  # names carry the second
    assert result["deleted"] == [taken[0]]
    names = sorted(guest.virsh("snapshot-list", guest.name, "--name").split())
    assert names == sorted(taken[1:])
    assert sorted(qemu_img_snapshots(guest.disk)) == sorted(taken[1:])

    status, result, err = auto(config_for(tmp_path, guest, "qemu", keep_last=2, quiesce="true"))
    assert status == 1 and result["status"] == "failed" and result["created"] is None
    assert result["error"].startswith("cannot create snapshot auto-qemu-")
    assert "error:" in err and result["deleted"] == []
    assert sorted(qemu_img_snapshots(guest.disk)) == sorted(taken[1:])


def test_an_external_child_of_an_internal_snapshot_is_pruned(guest, tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    path = config_for(tmp_path, guest, "ext", keep_last=1, disk_only="true")
    guest.virsh("snapshot-create-as", guest.name, "manual-base")  # internal, made by hand
    status, first, err = auto(path)
    assert (status, first["deleted"]) == (0, []), err
    time.sleep(1.1)
    status, second, err = auto(path)
    names = guest.virsh("snapshot-list", guest.name, "--name").split()
    # libvirt (every version) refuses to delete an external snapshot whose parent is
    # internal; virtsnap.external block-commits it into the image holding the internal one
    assert (status, second["deleted"], second["refused"]) == (0, [first["created"]], []), err
    assert second["created"] in names and "manual-base" in names
    assert first["created"] not in names
    assert "manual-base" in qemu_img_snapshots(guest.disk)  # the internal snapshot is intact
