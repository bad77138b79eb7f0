"""virtsnap.libvirt.snapshot_policy in a real ansible-playbook run, on a private libvirtd.

The domain "test" of the daemon's test driver gets three snapshots owned by
the policy's label, with creation times of last January (redefined with
CREATE_REDEFINE), and one manual snapshot the policy must never touch. The
policy (inline as YAML, and the same as a TOML file) takes an hourly snapshot
and keeps the last two: a run creates one and prunes the two oldest.
"""

import re
from datetime import datetime, timezone

import pytest

import virtsnap
from support.ansible_env import run_playbook, shared_collection
from support.snapshots import redefine
from virtsnap.policy import snapshot_name

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

OLD = [datetime(2026, 1, 1, hour, tzinfo=timezone.utc) for hour in (0, 1, 2)]
NEW_NAME = re.compile(r"auto-hourly-\d{8}T\d{6}Z\Z")


def test_policy_check_mode_plans_and_a_run_does_it(private_daemon, tmp_path):
    uri = private_daemon.uri()
    locks = str(tmp_path / "locks")
    policy = {"defaults": {"lock_dir": locks},
              "policy": [{"label": "hourly", "uris": [uri], "domains": ["test"],
                          "interval": "1h", "keep_last": 2}]}
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(f'[defaults]\nlock_dir = "{locks}"\n[[policy]]\nlabel = "hourly"\n'
                           f'uris = ["{uri}"]\ndomains = ["test"]\ninterval = "1h"\nkeep_last = 2\n')
    bad = {**policy, "policy": [{**policy["policy"][0], "keep_daily": -1}]}
    module = "virtsnap.libvirt.snapshot_policy"
    tasks = [
        {"name": "check, inline", "check_mode": True, module: {"policy": policy}},
        {"name": "check, file", "check_mode": True, module: {"policy_file": str(policy_file)}},
        {"name": "after check", "virtsnap.libvirt.snapshot_info": {"uri": uri, "domain": "test"}},
        {"name": "run", module: {"policy": policy}},
        {"name": "run again", module: {"policy_file": str(policy_file)}},
        {"name": "bad policy", "ignore_errors": True, module: {"policy": bad}},
    ]
    with virtsnap.open(uri) as held:  # the daemon's test driver lives while we hold this
        dom = held.get_domain_by_name("test")
        dom.create_snapshot(name="manual")
        redefine(dom, [(snapshot_name("hourly", when), when.timestamp(), "old") for when in OLD])
        before = sorted(dom.list_snapshot_names())
        run = run_playbook(shared_collection(), tmp_path / "run",
                           [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
        assert run.returncode == 0, run.output

        for task in ("check, inline", "check, file"):
            checked = run.result(task)
            assert checked["changed"] is True
            [entry] = checked["plan"]
            assert (entry["uri"], entry["domain"], entry["label"]) == (uri, "test", "hourly")
            assert NEW_NAME.match(entry["create"])
            assert entry["delete"] == [snapshot_name("hourly", OLD[0]), snapshot_name("hourly", OLD[1])]
            assert checked["report"]["dry_run"] is True and checked["problems"] == []
        names = [s["name"] for s in run.result("after check")["snapshots"]]
        assert sorted(names) == before  # check mode touched nothing

        done = run.result("run")
        assert done["changed"] is True and done["report"]["dry_run"] is False
        [entry] = done["plan"]
        [policy_report] = done["report"]["hosts"][0]["domains"][0]["policies"]
        assert policy_report["created"] == entry["create"]
        assert policy_report["deleted"] == [snapshot_name("hourly", OLD[0]), snapshot_name("hourly", OLD[1])]
        assert sorted(dom.list_snapshot_names()) == sorted(
            ["manual", snapshot_name("hourly", OLD[2]), entry["create"]])
        assert dom.current_snapshot().name == entry["create"]

        again = run.result("run again")
        assert again["changed"] is False and again["plan"] == []
        assert sorted(dom.list_snapshot_names()) == sorted(
            ["manual", snapshot_name("hourly", OLD[2]), entry["create"]])

        assert run.failed("bad policy")
        assert run.result("bad policy")["msg"] == (
            "bad policy: policy option: key 'keep_daily': must not be negative: -1")
