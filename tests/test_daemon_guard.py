"""The guard in conftest: a libvirt daemon the suite did not start must outlive the run.

conftest records, at session start, every daemon named in /run/NAME.pid that
scripts/libvirtd-up did not record as its own, and fails the run if one of
them is gone, restarted or stopped (SIGSTOP) at the end. Here the guard
watches a stand-in: a copy of sleep(1) named libvirtd, with a pidfile in a
directory of the test's own.
"""

import os
import shutil
import signal
import subprocess

import pytest

from support.libvirtd_env import disturbed_daemons, foreign_daemons
from support.system import wait_until


@pytest.fixture
def stand_in(tmp_path):
    """A process whose name is libvirtd, with RUN_DIR/libvirtd.pid; killed afterwards."""
    executable = tmp_path / "libvirtd"
    shutil.copy(shutil.which("sleep"), executable)
    proc = subprocess.Popen([str(executable), "600"])
    (tmp_path / "libvirtd.pid").write_text(f"{proc.pid}\n")
    yield proc
    proc.kill()
    proc.wait()


def process_state(pid):
    with open(f"/proc/{pid}/stat") as stream:
        return stream.read().rsplit(")", 1)[1].split()[0]


def test_a_daemon_listed_as_ours_is_not_guarded(tmp_path, stand_in):
    pidfile = tmp_path / "suite.pids"
    pidfile.write_text(f"{stand_in.pid} libvirtd\n")
    assert foreign_daemons(run_dir=tmp_path, pidfiles=[pidfile]) == {}


def test_stopping_a_foreign_daemon_is_reported(tmp_path, stand_in):
    before = foreign_daemons(run_dir=tmp_path, pidfiles=[])
    assert list(before) == ["libvirtd"] and before["libvirtd"][0] == stand_in.pid
    assert disturbed_daemons(before) == []
    os.kill(stand_in.pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: process_state(stand_in.pid) in "Tt", timeout=10)
        assert disturbed_daemons(before) == [f"libvirtd (pid {stand_in.pid}) is stopped"]
    finally:
        os.kill(stand_in.pid, signal.SIGCONT)
    assert wait_until(lambda: disturbed_daemons(before) == [], timeout=10)


def test_killing_a_foreign_daemon_is_reported(tmp_path, stand_in):
    before = foreign_daemons(run_dir=tmp_path, pidfiles=[])
    stand_in.kill()
    stand_in.wait()
    assert disturbed_daemons(before) == [f"libvirtd (pid {stand_in.pid}) is gone"]


def test_a_restart_under_the_same_pid_is_reported(tmp_path, stand_in):
    """PIDs are reused: the start time tells the same process from a new one."""
    before = foreign_daemons(run_dir=tmp_path, pidfiles=[])
    pid, started = before["libvirtd"]
    assert disturbed_daemons({"libvirtd": (pid, started - 1)}) == [
        f"libvirtd (pid {pid}) is gone"]
