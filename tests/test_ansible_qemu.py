"""The collection's modules in real ansible-playbook runs on a QEMU guest (qemu:///system).

The collection is the tarball built by ``ansible-galaxy collection build`` and
installed into a temporary collections path (ansible_env.shared_collection).
Playbooks run against localhost with ``connection: local`` and this test's
interpreter. After every step a ``virsh`` probe (snapshot-list, snapshot-current,
domstate) and ``qemu-img info`` on the disk record what libvirt and the image
really hold; the tests assert on those records, step by step.
"""

import json
import sys
from pathlib import Path

import pytest

import virtsnap
from support.ansible_env import run_playbook, shared_collection
from support.helpers import QEMU_URI
from support.qemu_guest import (  # noqa: F401 - qemu_conn: fixture
    guest_fixture,
    qemu_conn,
    running_domain_without_snapshots,
    unique_name,
)
from virtsnap import ErrorCode

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

PROBE = Path(__file__).resolve().parent / "ansible" / "probe.py"
READ_ONLY_SOCKET_URI = "qemu+unix:///system?socket=/var/run/libvirt/libvirt-sock-ro"

guest = guest_fixture("ansible", running=True)


@pytest.fixture
def dom(guest, qemu_conn):
    """The module's running guest, with no snapshots before and after the test."""
    yield from running_domain_without_snapshots(guest, qemu_conn)


def snap_task(guest, **args):
    return {"virtsnap.libvirt.snapshot": {"uri": QEMU_URI, "domain": guest.name, **args}}


def probe_task(guest):
    """A task that records what virsh and qemu-img see now (tests/ansible/probe.py)."""
    return {"ansible.builtin.command": {"argv": [sys.executable, str(PROBE), QEMU_URI,
                                                 guest.name, guest.disk]},
            "changed_when": False}


def steps_playbook(guest, steps):
    """One play: each (step name, task) followed by a probe named "<step> / probe"."""
    tasks = []
    for title, task in steps:
        tasks.append({"name": title, **task})
        tasks.append({"name": f"{title} / probe", **probe_task(guest)})
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def probed(run, title):
    """(snapshot names, current, domstate, qcow2 snapshot tags) after step ``title``."""
    seen = json.loads(run.result(f"{title} / probe")["stdout"])
    return seen["snapshots"], seen["current"], seen["state"], seen["image"]


def test_lifecycle_present_check_current_reverted_absent(guest, dom, tmp_path):
    collection = shared_collection()
    steps = [
        ("present", snap_task(guest, name="base", description="clean", quiesce="try")),
        ("present again", snap_task(guest, name="base", description="clean", quiesce="try")),
        ("absent, check mode", {**snap_task(guest, name="base", state="absent"),
                                "check_mode": True}),
        ("second snapshot", snap_task(guest, name="second")),
        ("current", snap_task(guest, name="base", state="current")),
        ("current again", snap_task(guest, name="base", state="current")),
        ("reverted", snap_task(guest, name="second", state="reverted", revert_state="paused")),
        ("absent", snap_task(guest, name="base", state="absent")),
        ("absent again", snap_task(guest, name="base", state="absent")),
        ("absent, metadata only", snap_task(guest, name="second", state="absent",
                                            metadata_only=True)),
    ]
    run = run_playbook(collection, tmp_path, steps_playbook(guest, steps), extra_args=["--diff"])
    assert run.returncode == 0, run.output

    present = run.result("present")
    assert present["changed"] is True
    assert present["snapshots"] == ["base"]
    assert present["snapshot"]["name"] == "base" and present["snapshot"]["description"] == "clean"
    assert present["snapshot"]["state"] == "running" and present["snapshot"]["is_current"]
    assert present["snapshot"]["memory"]["mode"] == "internal"
    # QEMU refuses CREATE_QUIESCE here (no guest agent, no disk_only): quiesce=try warns
    assert any("without quiescing" in w for w in present["warnings"]), present
    assert present["diff"] == {"before": {"snapshots": [], "current": None},
                               "after": {"snapshots": ["base"], "current": "base"}}
    assert probed(run, "present") == (["base"], "base", "running", ["base"])

    again = run.result("present again")
    assert again["changed"] is False and again["snapshots"] == ["base"]
    assert probed(run, "present again") == (["base"], "base", "running", ["base"])

    check = run.result("absent, check mode")
    assert check["changed"] is True and check["snapshots"] == []
    assert check["diff"]["after"] == {"snapshots": [], "current": None}
    assert probed(run, "absent, check mode") == (["base"], "base", "running", ["base"])

    assert run.result("second snapshot")["changed"] is True
    assert probed(run, "second snapshot")[:2] == (["base", "second"], "second")

    current = run.result("current")
    assert current["changed"] is True and current["snapshot"]["is_current"]
    assert current["diff"]["before"]["current"] == "second"
    assert current["diff"]["after"]["current"] == "base"
    # made current without reverting: the guest kept running
    assert probed(run, "current") == (["base", "second"], "base", "running", ["base", "second"])
    assert run.result("current again")["changed"] is False
    assert probed(run, "current again")[1] == "base"

    reverted = run.result("reverted")
    assert reverted["changed"] is True
    assert probed(run, "reverted") == (["base", "second"], "second", "paused",
                                       ["base", "second"])

    absent = run.result("absent")
    assert absent["changed"] is True and absent["snapshot"] is None
    assert absent["snapshots"] == ["second"]
    assert probed(run, "absent") == (["second"], "second", "paused", ["second"])
    assert run.result("absent again")["changed"] is False
    assert probed(run, "absent again") == (["second"], "second", "paused", ["second"])

    # metadata only: libvirt forgets it, the qcow2 image keeps the internal snapshot
    assert run.result("absent, metadata only")["changed"] is True
    assert probed(run, "absent, metadata only") == ([], None, "paused", ["second"])


def test_missing_domain_fails_cleanly(tmp_path):
    collection = shared_collection()
    missing = unique_name("missing")  # never defined
    tasks = [
        {"name": "snapshot", "ignore_errors": True,
         "virtsnap.libvirt.snapshot": {"uri": QEMU_URI, "domain": missing, "name": "x"}},
        {"name": "info", "ignore_errors": True,
         "virtsnap.libvirt.snapshot_info": {"uri": QEMU_URI, "domain": missing}},
    ]
    run = run_playbook(collection, tmp_path,
                       [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    assert run.returncode == 0, run.output  # ignore_errors: the play goes on
    for task in ("snapshot", "info"):
        result = run.result(task)
        assert run.failed(task)
        assert result["msg"].startswith(f"cannot find domain '{missing}' on {QEMU_URI}: ")
        assert result["code"] == ErrorCode.NO_DOMAIN
        assert result["exception_class"] == "DomainNotFoundError"
        assert "Traceback" not in run.output


def test_read_only_connections_refuse_changes(guest, dom, tmp_path):
    collection = shared_collection()
    dom.create_snapshot(name="kept")
    tasks = [
        {"name": "readonly option", "ignore_errors": True,
         **snap_task(guest, name="new", readonly=True)},
        {"name": "readonly option, check mode", "check_mode": True,
         **snap_task(guest, name="new", readonly=True)},
        {"name": "readonly option, nothing to do",
         **snap_task(guest, name="kept", readonly=True)},
        {"name": "read-only socket", "ignore_errors": True,
         **snap_task(guest, name="kept", state="absent", uri=READ_ONLY_SOCKET_URI)},
        {"name": "info on the read-only socket",
         "virtsnap.libvirt.snapshot_info": {"uri": READ_ONLY_SOCKET_URI, "domain": guest.name,
                                            "readonly": False}},
        {"name": "info, read-only by default",
         "virtsnap.libvirt.snapshot_info": {"uri": QEMU_URI, "domain": "all"}},
    ]
    run = run_playbook(collection, tmp_path,
                       [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    assert run.returncode == 0, run.output

    refused = run.result("readonly option")
    assert run.failed("readonly option")
    assert refused["msg"] == (f"cannot create snapshot 'new' of domain '{guest.name}': the "
                              "connection is read-only (readonly: true), and this would change "
                              "the domain's snapshots")
    assert run.result("readonly option, check mode")["changed"] is True
    assert run.result("readonly option, nothing to do")["changed"] is False

    denied = run.result("read-only socket")
    assert run.failed("read-only socket")
    assert denied["exception_class"] == "OperationDeniedError"
    assert denied["code"] == ErrorCode.OPERATION_DENIED
    assert denied["msg"].startswith(f"cannot delete snapshot 'kept' of domain '{guest.name}': ")
    assert denied["msg"].endswith("(the connection is read-only)")

    info = run.result("info on the read-only socket")
    assert info["changed"] is False and info["current"] == "kept"
    assert [s["name"] for s in info["snapshots"]] == ["kept"]
    assert info["tree"] == [{"name": "kept", "children": []}]
    every = run.result("info, read-only by default")
    assert every["domains"][guest.name] == {k: info[k] for k in ("snapshots", "current", "tree")}

    assert dom.list_snapshot_names() == ["kept"]
    assert dom.get_snapshot_by_name("kept").info().to_dict() == info["snapshots"][0]
