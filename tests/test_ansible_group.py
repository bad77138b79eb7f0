"""virtsnap.libvirt.snapshot_group in a real ansible-playbook run, on a private libvirtd.

Two running test-driver domains of the daemon are the group; every change
is checked through libvirt-python while the test holds a connection (the
daemon's test driver lives as long as some client is connected).
"""

import json

import libvirt
import pytest

from support.ansible_env import ansible_bin, ansible_env, run, run_playbook, shared_collection
from support.group_env import make_guests, snapshot_names, states

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

MODULE = "virtsnap.libvirt.snapshot_group"


def test_check_mode_present_idempotence_revert_and_absent(private_daemon, tmp_path):
    uri = private_daemon.uri()
    held = libvirt.open(uri)
    a, b = make_guests(uri, 2)
    held.lookupByName(b).snapshotCreateXML("<domainsnapshot><name>half</name></domainsnapshot>")
    members = [a, f"{uri}/{b}"]           # a plain name on uri, and URI/NAME

    def task(title, check=False, ignore=False, **options):
        entry = {"name": title, MODULE: {"uri": uri, "members": members, **options}}
        if check:
            entry["check_mode"] = True
        if ignore:
            entry["ignore_errors"] = True
        return entry

    tasks = [
        task("check create", check=True, name="g1", description="before"),
        task("create", name="g1", description="before"),
        task("create again", name="g1"),
        task("partial", ignore=True, name="half"),
        {"name": "pause a", "command": f"virsh -c {uri} suspend {a}"},
        task("check revert", check=True, name="g1", state="reverted"),
        task("revert", name="g1", state="reverted"),
        task("check delete", check=True, name="g1", state="absent"),
        task("delete", name="g1", state="absent"),
        task("delete again", name="g1", state="absent"),
        task("missing member", ignore=True, name="g2", members=[a, "no-such-domain"]),
    ]
    outcome = run_playbook(shared_collection(), tmp_path / "run",
                           [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    assert outcome.returncode == 0, outcome.output

    checked = outcome.result("check create")
    assert checked["changed"] is True and checked["group"] is None and checked["members"] == []
    created = outcome.result("create")
    assert created["changed"] is True
    assert [m["stopped"] for m in created["members"]] == ["paused", "paused"]
    assert all(m["stopped_for"] > 0 for m in created["members"])
    group = created["group"]
    assert group["complete"] is True and group["description"] == "before"
    assert group["members"] == [f"{uri}/{a}", f"{uri}/{b}"]
    again = outcome.result("create again")
    assert again["changed"] is False and again["group"] == group

    assert outcome.failed("partial")
    partial = outcome.result("partial")
    assert partial["failed_member"] == f"{uri}/{b}" and "some members only" in partial["msg"]

    assert outcome.result("check revert")["changed"] is True
    reverted = outcome.result("revert")
    assert reverted["changed"] is True and len(reverted["members"]) == 2
    assert outcome.result("check delete")["changed"] is True
    assert outcome.result("delete")["changed"] is True
    assert outcome.result("delete again")["changed"] is False
    assert outcome.failed("missing member")
    assert "no-such-domain" in outcome.result("missing member")["msg"]

    # after the whole play: reverted to the running state, deleted, "half" untouched
    assert states(uri, [a, b]) == {a: "running", b: "running"}
    assert [snapshot_names(uri, a), snapshot_names(uri, b)] == [[], ["half"]]
    held.close()


def test_ansible_doc_documents_the_module(tmp_path):
    env = ansible_env(shared_collection(), tmp_path)
    text = run([ansible_bin("ansible-doc"), MODULE], env=env)
    assert text.returncode == 0 and "ERROR" not in text.stderr, text.stderr
    assert "EXAMPLES:" in text.stdout and "RETURN VALUES:" in text.stdout
    docs = json.loads(run([ansible_bin("ansible-doc"), "-j", MODULE], env=env).stdout)[MODULE]
    assert set(docs["doc"]["options"]) == {"uri", "members", "name", "state", "description",
                                           "quiesce", "disk_only"}
    assert set(docs["return"]) == {"group", "members", "failed_member", "done", "code",
                                   "exception_class"}
