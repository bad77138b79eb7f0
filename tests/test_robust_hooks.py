"""Hooks: the exit status decides, stderr is bounded, a timeout kills the process group.

Each hook here leaves a process behind that records its pid in a file, so
that the test can see it and end it; ``_run_hook`` runs on a thread and is
waited for with a deadline far above what a correct run needs.
"""

import importlib
import json
import os
import signal
import sys
import threading

import jsonschema
import pytest

from support.auto import HOURLY_POLICY
from support.system import wait_for
from virtsnap.cli import main
from virtsnap.policy.run import REPORT_SCHEMA, _run_hook

HOOK_OUTPUT_KEPT = 4096  # virtsnap.policy.run.HOOK_OUTPUT_KEPT, checked below
DEADLINE = 60  # seconds; the hooks below would hold a broken runner for 600


def gone(pid):
    """Whether ``pid`` has ended (a zombie waiting for init counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.fixture
def leftovers():
    """Pid files of processes a hook leaves; each is killed after the test."""
    files = []
    yield files
    for path in files:
        if path.exists() and path.read_text().strip():
            try:
                os.kill(int(path.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_hook_on_a_thread(argv, timeout):
    result = []
    thread = threading.Thread(target=lambda: result.append(_run_hook(argv, "pre", {}, timeout)),
                              daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert result, f"the hook runner was still waiting after {DEADLINE}s"
    return result[0]


def daemon_hook(pidfile, then):
    """sh: start a new session that keeps the hook's stderr open, then ``then``."""
    return ["sh", "-c", f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 600' & {then}"]


def test_a_hook_that_leaves_a_daemon_is_judged_by_its_exit_status(tmp_path, leftovers):
    pidfile = tmp_path / "daemon.pid"
    leftovers.append(pidfile)
    report = run_hook_on_a_thread(daemon_hook(pidfile, "echo started >&2; exit 0"), 30)
    assert (report.returncode, report.error) == (0, None)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "pid file")
    assert not gone(int(pidfile.read_text()))   # a daemon it started is left alone


def test_a_failing_hook_that_leaves_a_daemon_fails_with_its_status(tmp_path, leftovers):
    pidfile = tmp_path / "daemon.pid"
    leftovers.append(pidfile)
    report = run_hook_on_a_thread(daemon_hook(pidfile, "echo no backup >&2; exit 4"), 30)
    assert report.returncode == 4
    assert report.error == "pre_hook 'sh' exited with status 4: no backup"
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "pid file")


def test_a_timeout_kills_the_process_group_and_a_daemon_cannot_hold_the_run(tmp_path,
                                                                            leftovers):
    pidfile, child = tmp_path / "daemon.pid", tmp_path / "child.pid"
    leftovers.extend([pidfile, child])
    hook = daemon_hook(pidfile, f"sleep 600 & echo $! > {child}; wait")
    report = run_hook_on_a_thread(hook, 1)
    assert report.returncode is None
    assert report.error == "pre_hook 'sh' timed out after 1s; its process group was killed"
    wait_for(lambda: child.exists() and child.read_text().strip(), "child pid file")
    wait_for(lambda: gone(int(child.read_text())), "end of the hook's child")


def test_stderr_is_read_with_a_bound_and_says_what_was_dropped():
    assert importlib.import_module("virtsnap.policy.run").HOOK_OUTPUT_KEPT == HOOK_OUTPUT_KEPT
    size = 2_000_000
    script = f"import sys; sys.stderr.write('x' * {size} + '\\nlast words\\n'); sys.exit(3)"
    report = run_hook_on_a_thread([sys.executable, "-c", script], 30)
    dropped = size + len("\nlast words\n") - HOOK_OUTPUT_KEPT
    assert (report.returncode, report.stderr_dropped) == (3, dropped)
    assert len(report.stderr) == HOOK_OUTPUT_KEPT and report.stderr.endswith("x\nlast words\n")
    assert report.error == (f"pre_hook {sys.executable!r} exited with status 3: last words "
                            f"({dropped} earlier bytes of stderr dropped)")

    one_line = f"import sys; sys.stderr.write('y' * {size}); sys.exit(5)"
    report = run_hook_on_a_thread([sys.executable, "-c", one_line], 30)
    assert report.error.endswith(": " + "y" * 512 + f" ({size - HOOK_OUTPUT_KEPT} earlier bytes"
                                 " of stderr dropped)")


POLICY = HOURLY_POLICY + "keep_last = 3\nhook_timeout = 2\n"


def hooks_auto(tmp_path, capsys, extra):
    config = tmp_path / "policy.toml"
    config.write_text(POLICY + extra)
    status = main(["auto", "--config", str(config), "--json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    [result] = report["hosts"][0]["domains"][0]["policies"]
    return status, result, out, err


def test_auto_takes_the_snapshot_when_the_pre_hook_started_a_daemon(dom, tmp_path, capsys,
                                                                   leftovers, monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    pidfile = tmp_path / "daemon.pid"
    leftovers.append(pidfile)
    hook = json.dumps(daemon_hook(pidfile, "exit 0"))
    status, result, _, err = hooks_auto(tmp_path, capsys, f"pre_hook = {hook}\n")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "pid file")
    assert (status, err, result["error"]) == (0, "", None)
    assert result["hooks"] == [{"phase": "pre", "argv": json.loads(hook), "returncode": 0,
                                "error": None}]
    assert dom.list_snapshot_names() == [result["created"]]


def test_auto_report_of_a_hook_with_megabytes_of_stderr_stays_small(dom, tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    hook = json.dumps([sys.executable, "-c",
                       "import sys; sys.stderr.write('z' * 2000000); sys.exit(1)"])
    status, result, out, err = hooks_auto(tmp_path, capsys, f"pre_hook = {hook}\n")
    assert status == 1 and result["created"] is None and dom.list_snapshot_names() == []
    assert "earlier bytes of stderr dropped" in result["error"]
    assert len(out) < 8 * 1024 and len(err) < 4 * 1024
