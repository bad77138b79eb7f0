"""The real daemon dies and comes back: nothing of a QEMU guest's snapshots is lost.

The shared libvirtd is killed only when scripts/libvirtd-up started it (its PID
is in one of the pidfiles that script writes), and scripts/libvirtd-up starts
it again. QEMU keeps snapshot metadata under /var/lib/libvirt/qemu/snapshot,
so a new connection must see the same tree, XML and current snapshot.
"""

import os
import signal
import subprocess
import time

import pytest

import virtsnap
from conftest import IN_CI
from support.helpers import QEMU_URI
from support.libvirtd_env import LIBVIRTD_UP, daemon_pid, pids_started_by_the_suite
from support.private_daemon import wait_until
from support.qemu_guest import guest_fixture

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("restart", running=False)

def libvirtd_pid_we_started():
    """libvirtd's PID if scripts/libvirtd-up recorded it as started by the suite."""
    pid = daemon_pid("libvirtd")
    return pid if pid is not None and pids_started_by_the_suite().get(pid) == "libvirtd" else None


def tree_state(conn, name):
    dom = conn.get_domain_by_name(name)
    return {
        "parents": dom.snapshot_parents(via="parent"),
        "xml": dom.snapshot_xml_descriptions(),
        "current": dom.current_snapshot().name,
    }


def test_snapshots_survive_a_daemon_kill_and_restart(guest):
    pid = libvirtd_pid_we_started()
    if pid is None:
        message = "the running libvirtd was not started by scripts/libvirtd-up"
        pytest.fail(message) if IN_CI else pytest.skip(message)

    conn = virtsnap.open(QEMU_URI)
    ro = virtsnap.open(QEMU_URI, readonly=True)
    dom = conn.get_domain_by_name(guest.name)
    dom.create_snapshot(name="base", description="before the crash")
    dom.create_snapshot(name="child")
    before = tree_state(conn, guest.name)
    assert before["parents"] == {"base": None, "child": "base"}

    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    for handle in (conn, ro):
        with pytest.raises(virtsnap.LibvirtConnectionError):
            handle.get_domain_by_name(guest.name)
    with pytest.raises(virtsnap.LibvirtConnectionError):
        dom.list_snapshot_names()
    assert time.monotonic() - started < 10
    assert wait_until(lambda: not conn.is_alive() and not ro.is_alive(), timeout=10)

    subprocess.run([LIBVIRTD_UP], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, timeout=300)
    with virtsnap.open(QEMU_URI) as fresh, virtsnap.open(QEMU_URI, readonly=True) as fresh_ro:
        assert tree_state(fresh, guest.name) == before
        assert tree_state(fresh_ro, guest.name) == before
        fresh.get_domain_by_name(guest.name).get_snapshot_by_name("base").delete(
            virtsnap.DeleteFlags.CHILDREN)
    conn.close()
    ro.close()
