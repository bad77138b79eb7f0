"""``virtsnap auto`` on a real QEMU guest (qemu:///system, marker ``libvirtd``).

The guest has no guest agent: ``quiesce = "try"`` takes the fallback and
warns, ``quiesce = true`` fails the domain. A real prune deletes the
internal snapshots from the qcow2 image, as ``qemu-img`` lists them.
Run under ``flock /tmp/virtsnap-daemon.lock`` (shared daemon).
"""

import textwrap
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from support.helpers import QEMU_URI
from support.libvirtd_env import qemu_img_snapshots
from support.auto import run_auto
from support.qemu_guest import guest_fixture
from virtsnap.policy import load_config, owned_time
from virtsnap.policy.run import REPORT_SCHEMA, run

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("policy", running=True)




def auto_minutes_later(config, minutes):
    """``virtsnap auto``'s run in this process with its clock ``minutes`` ahead (the
    snapshot names carry the second: an injected clock instead of waiting for one)."""
    now = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    report = run(load_config(config), now=now).to_dict()
    jsonschema.validate(report, REPORT_SCHEMA)
    [result_policy] = report["hosts"][0]["domains"][0]["policies"]
    return result_policy


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
    status, result, err = run_auto(config_for(tmp_path, guest, "qemu", keep_last=2, quiesce="true"))
    assert status == 1 and result["status"] == "failed" and result["created"] is None
    assert result["error"].startswith("cannot create snapshot auto-qemu-")
    assert "error:" in err and result["deleted"] == []
    assert qemu_img_snapshots(guest.disk) == []

    config = config_for(tmp_path, guest, "qemu", keep_last=2, quiesce='"try"')
    taken = []
    for minutes_later in (0, 1, 2):   # the first through the command line, at the real time
        if minutes_later:
            result = auto_minutes_later(config, minutes_later)
            assert result["status"] == "ok", result
        else:
            status, result, err = run_auto(config)
            assert status == 0, (result, err)
            assert f"warning: {QEMU_URI} {guest.name} [qemu]: quiesce failed" in err
        assert result["created"] and owned_time("qemu", result["created"])
        assert len(result["warnings"]) == 1 and "taken without quiesce" in result["warnings"][0]
        taken.append(result["created"])
    assert result["deleted"] == [taken[0]]
    names = sorted(guest.virsh("snapshot-list", guest.name, "--name").split())
    assert names == sorted(taken[1:])
    assert sorted(qemu_img_snapshots(guest.disk)) == sorted(taken[1:])


def test_an_external_child_of_an_internal_snapshot_is_pruned(guest, tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    path = config_for(tmp_path, guest, "ext", keep_last=1, disk_only="true")
    guest.virsh("snapshot-create-as", guest.name, "manual-base")  # internal, made by hand
    status, first, err = run_auto(path)
    assert (status, first["deleted"]) == (0, []), err
    second = auto_minutes_later(path, 1)
    names = guest.virsh("snapshot-list", guest.name, "--name").split()
    # libvirt (every version) refuses to delete an external snapshot whose parent is
    # internal; virtsnap.external block-commits it into the image holding the internal one
    assert (status, second["deleted"], second["refused"]) == (0, [first["created"]], []), err
    assert second["created"] in names and "manual-base" in names
    assert first["created"] not in names
    assert "manual-base" in qemu_img_snapshots(guest.disk)  # the internal snapshot is intact
