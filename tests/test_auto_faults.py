"""Fault injection for ``virtsnap auto`` (the real program, on a private daemon).

A run is killed with SIGKILL at observable points: in its pre_hook (before
the snapshot), in its post_hook (the snapshot taken, nothing pruned yet),
and at its first deletion (seen in the run's libvirt debug log, with the
daemon frozen so that the run is held inside the call). The daemon is
restarted, and a domain undefined, while a pre_hook holds a run. Each time
the next run must report nothing wrong, leave what the rules keep, never
have lost a snapshot that the plan kept, and not be blocked by the lock file
the killed run left.

The hooks block until the test creates a file; that is the hook's own
waiting, the test waits on files the hooks write.
"""

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

import virtsnap
from support.system import wait_for
from support.snapshots import redefine
from virtsnap.policy import snapshot_name
from support.private_daemon import define_domain, unique
from virtsnap.policy import OwnedSnapshot, Retention
from virtsnap.policy.plan import retain
from virtsnap.policy.run import REPORT_SCHEMA

pytestmark = pytest.mark.libvirtd

UTC = timezone.utc
RETENTION = Retention(keep_last=3, keep_hourly=5)
DEADLINE = 120
HOOK = """\
#!/bin/sh
echo $$ > "{dir}/hook-$VIRTSNAP_PHASE.pid"
touch "{dir}/at-$VIRTSNAP_PHASE"
while [ ! -e "{dir}/release" ]; do sleep 0.05; done
"""


class Scene:
    """A private daemon's domains with an hourly history, a policy file, a lock dir."""

    def __init__(self, daemon, tmp_path, domains=("test",), hook=None):
        self.daemon, self.tmp = daemon, tmp_path
        self.uri = daemon.uri()
        self.locks = tmp_path / "locks"
        self.held = virtsnap.open(self.uri)   # the test driver lives while this is open
        self.domains = list(domains)
        now = datetime.now(UTC).replace(microsecond=0)
        self.history = [now - timedelta(hours=hours, minutes=7) for hours in range(2, 42)]
        for name in self.domains:
            if name != "test":
                define_domain(self.uri, name, tmp_path)
            redefine(self.held.get_domain_by_name(name),
                     [(snapshot_name("hourly", when), when.timestamp(), "old")
                      for when in self.history])
        self.write_policy(hook)

    def write_policy(self, hook=None):
        hooks = ""
        if hook:
            script = self.tmp / "hook.sh"
            script.write_text(HOOK.format(dir=self.tmp))
            script.chmod(0o755)
            hooks = f'{hook} = "{script}"\n'
        self.config = self.tmp / "policy.toml"
        self.config.write_text(textwrap.dedent(f"""\
            [defaults]
            lock_dir = "{self.locks}"

            [[policy]]
            label = "hourly"
            uris = ["{self.uri}"]
            domains = {json.dumps(self.domains)}
            interval = "1h"
            keep_last = {RETENTION.keep_last}
            keep_hourly = {RETENTION.keep_hourly}
            hook_timeout = 600
            """) + hooks)

    def argv(self, *extra):
        return [sys.executable, "-m", "virtsnap", "auto", "--config", str(self.config), "--json",
                "--lock-wait", "0", *extra]

    def start(self, **env):
        return subprocess.Popen(self.argv(), env={**os.environ, **env},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run(self, *extra):
        result = subprocess.run(self.argv(*extra), capture_output=True, text=True,
                                timeout=DEADLINE, stdin=subprocess.DEVNULL)
        report = json.loads(result.stdout)
        jsonschema.validate(report, REPORT_SCHEMA)
        return result.returncode, report, result.stderr

    def names(self, domain="test"):
        return set(self.held.get_domain_by_name(domain).list_snapshot_names())

    def kill(self, process):
        """SIGKILL the run, and any hook it left blocked (own session, own pid file)."""
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=DEADLINE)
        for pidfile in self.tmp.glob("hook-*.pid"):
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    def close(self):
        self.held.close()

    def recover(self, planned_keep, domain="test"):
        """The next run: ok, nothing new due, and what is left is what the rules keep."""
        status, report, err = self.run()
        assert (status, err) == (0, ""), report
        [host] = report["hosts"]
        assert host["ok"] and all(d["ok"] for d in host["domains"])
        left = self.names(domain)
        assert planned_keep <= left, planned_keep - left   # never lost what the plan kept
        snaps = [OwnedSnapshot(snap.name, snap.info().creation_time, snap.is_current())
                 for snap in self.held.get_domain_by_name(domain).list_all_snapshots()]
        assert left == set(retain(snaps, RETENTION))
        status, again, _ = self.run()         # and a further run changes nothing
        assert status == 0 and self.names(domain) == left
        [policy] = again["hosts"][0]["domains"][0]["policies"]
        assert (policy["created"], policy["deleted"]) == (None, [])
        return report


@pytest.fixture
def scene(private_daemon, tmp_path):
    made = []

    def make(**options):
        made.append(Scene(private_daemon, tmp_path, **options))
        return made[-1]

    yield make
    (tmp_path / "release").touch()
    for each in made:
        each.close()


def planned_keep(scene):
    """The existing snapshots a run's plan keeps (a dry run, before the run)."""
    status, report, _ = scene.run("--dry-run")
    assert status == 0
    [policy] = report["hosts"][0]["domains"][0]["policies"]
    assert policy["planned"]["create"] and policy["planned"]["delete"]
    return {entry["name"] for entry in policy["kept"] if "new" not in entry["reasons"]}


def test_sigkill_before_the_snapshot(scene):
    scene = scene(hook="pre_hook")
    kept, before = planned_keep(scene), scene.names()
    run = scene.start()
    wait_for(lambda: (scene.tmp / "at-pre").exists(), "pre_hook")
    scene.kill(run)
    assert scene.names() == before                  # nothing was done
    assert list(scene.locks.iterdir())              # the killed run's lock file is there
    scene.write_policy()
    report = scene.recover(kept)
    [policy] = report["hosts"][0]["domains"][0]["policies"]
    assert policy["created"] and policy["deleted"]


def test_sigkill_between_creation_and_pruning(scene):
    scene = scene(hook="post_hook")
    kept, before = planned_keep(scene), scene.names()
    run = scene.start()
    wait_for(lambda: (scene.tmp / "at-post").exists(), "post_hook")
    scene.kill(run)
    [created] = scene.names() - before              # taken, nothing pruned
    assert before < scene.names()
    scene.write_policy()
    report = scene.recover(kept | {created})
    [policy] = report["hosts"][0]["domains"][0]["policies"]
    assert policy["created"] is None and policy["deleted"]   # the next run only prunes


def test_sigkill_in_the_middle_of_pruning(scene, tmp_path):
    scene = scene()
    kept, before = planned_keep(scene), scene.names()
    # The run's libvirt debug log goes into a FIFO with a one-page buffer that the
    # test stops reading at the third deletion: the run then blocks in its next
    # log line, a few deletions later at most, and is killed there.
    fifo = tmp_path / "auto-libvirt.log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(reader, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
        run = scene.start(LIBVIRT_LOG_FILTERS="1:libvirt", LIBVIRT_LOG_OUTPUTS=f"1:file:{fifo}")
        seen, end = b"", time.monotonic() + DEADLINE
        while seen.count(b"virDomainSnapshotDelete:") < 3:     # two deletions done
            assert time.monotonic() < end and run.poll() is None, "no deletion seen"
            readable, _, _ = select.select([reader], [], [], 0.1)
            if readable:
                seen += os.read(reader, 65536)
        scene.kill(run)
    finally:
        os.close(reader)
    left = scene.names()
    assert kept <= left and len(left - before) == 1
    print(f"killed after {len(before - left)} of {len(before - kept)} deletions")
    assert before - left and before - left < before - kept   # some pruned, not all
    scene.recover(kept | (left - before))


def test_the_daemon_restarted_during_a_run(scene):
    scene = scene(hook="pre_hook")
    run = scene.start()
    wait_for(lambda: (scene.tmp / "at-pre").exists(), "pre_hook")
    scene.held.close()
    scene.daemon.stop()
    scene.daemon.start()
    scene.held = virtsnap.open(scene.uri)           # a fresh test driver: no history
    (scene.tmp / "release").touch()
    out, err = run.communicate(timeout=DEADLINE)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    [policy] = report["hosts"][0]["domains"][0]["policies"]
    assert run.returncode == 1 and policy["status"] == "failed"
    assert policy["error"].startswith("cannot create snapshot auto-hourly-")
    assert policy["deleted"] == [] and policy["created"] is None
    (scene.tmp / "release").unlink()
    scene.write_policy()
    status, report, err = scene.run()
    [policy] = report["hosts"][0]["domains"][0]["policies"]
    assert (status, err, policy["status"]) == (0, "", "ok") and policy["created"]
    assert scene.names() == {policy["created"]}


def test_a_domain_undefined_during_a_run(scene):
    doomed = unique("doomed")
    scene = scene(domains=("test", doomed), hook="pre_hook")
    run = scene.start()
    # the domains run in name order on the workers: wait for the doomed one's hook
    wait_for(lambda: (scene.tmp / "at-pre").exists(), "pre_hook")
    scene.held.get_domain_by_name(doomed).to_libvirt().undefineFlags(2)  # SNAPSHOTS_METADATA
    (scene.tmp / "release").touch()
    out, _ = run.communicate(timeout=DEADLINE)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    by_name = {d["name"]: d for d in report["hosts"][0]["domains"]}
    assert run.returncode == 1 and set(by_name) == {"test", doomed}
    failed = [d for d in by_name.values() if not d["ok"]]
    assert failed and all(d["name"] == doomed for d in failed)
    (scene.tmp / "release").unlink()
    scene.write_policy()
    status, report, err = scene.run()
    assert (status, err) == (0, "") and [d["name"] for d in report["hosts"][0]["domains"]] \
        == ["test"]
