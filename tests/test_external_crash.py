"""Kill virtsnap (SIGKILL) before every step of an external revert and delete; the
next call finishes the operation, and at no point does the domain name a missing file.

The operation runs in a child process whose ``on_step`` callback (virtsnap.external's
documented hook) kills that process before step k; the test then reads the intent
record, repairs with ``check(repair=True)`` and compares bytes and layers with the
uninterrupted result.
"""

import contextlib
import fcntl
import os
import struct
import subprocess
import sys
import threading
from xml.etree import ElementTree

import pytest

from support.external import (
    build_chain,
    disk_file,
    image_files,
    memory_scenario,
    snapshot_image,
    view_layers,
)
from support.helpers import QEMU_URI
from support.qemu_guest import Guest, qemu_conn, sweep_stale  # noqa: F401 - fixture
from support.system import wait_for
import virtsnap
from virtsnap import DomainState, external

pytestmark = pytest.mark.libvirtd

CHILD = """
import os, signal, sys
import virtsnap
from virtsnap import external
uri, name, op, snapshot, kill_at = sys.argv[1:6]

def on_step(step, index):
    if index == int(kill_at):
        os.kill(os.getpid(), signal.SIGKILL)

with virtsnap.open(uri) as conn:
    snap = conn.get_domain_by_name(name).get_snapshot_by_name(snapshot)
    if op.startswith("revert"):
        external.revert(snap, running=True, on_step=on_step)
    elif op == "delete":
        external.delete(snap, on_step=on_step)
    else:  # virtsnap's own block commit on a running guest, as on libvirt 7.0
        dom = snap.get_domain()
        external.execute_plan(dom, "delete", snapshot, external.plan_delete(snap), on_step)
"""


def run_crash_child(guest, op, snapshot, kill_at):
    return subprocess.run([sys.executable, "-c", CHILD, QEMU_URI, guest.name, op, snapshot,
                           str(kill_at)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)


def scenario(qemu_conn, op):  # noqa: F811
    """A guest with s1..s3: shut off (for delete, reverted to s1), or running for
    block-commit; for revert-memory, running with m1 (memory_scenario): (guest, dom)."""
    sweep_stale()
    guest = Guest("crash")
    guest.define()
    dom = qemu_conn.get_domain_by_name(guest.name)
    if op == "revert-memory":
        memory_scenario(dom, guest)
        return guest, dom
    build_chain(dom, guest, 3)
    if op == "delete":
        external.revert(dom.get_snapshot_by_name("s1"))
    if op == "block-commit":
        dom.start()
    return guest, dom


def result(dom, guest):
    views = {s.name: view_layers(snapshot_image(s)) for s in dom.list_all_snapshots()}
    current = dom.current_snapshot().name
    return views, view_layers(disk_file(dom)), current, len(image_files(guest.dir))


# From libvirt 9.9 the revert is libvirt's own single call: virtsnap takes no steps
# there to kill, so the revert case runs only where virtsnap does the revert.
REVERT_CASES = [] if virtsnap.libvirt_version() >= external.REVERTS_EXTERNAL_SINCE else [
    # revert to the middle of a chain, starting the guest
    ("revert", "s2", {"s1": [1], "s2": [1, 2], "s3": [1, 2, 3]}, [1, 2]),
    # revert to a snapshot with memory of the running guest: ends in virDomainRestoreFlags
    ("revert-memory", "m1", {"m1": [1]}, [1])]
CASES = REVERT_CASES + [
    # delete a snapshot outside the active chain: libvirt refuses on every version
    ("delete", "s2", {"s1": [1], "s3": [1, 2, 3]}, [1]),
    # delete the active layer of a running guest: block commit and pivot
    ("block-commit", "s3", {"s1": [1], "s2": [1, 2]}, [1, 2, 3, 4]),
]


@pytest.mark.parametrize("op,target,views,disk", CASES, ids=[c[0] for c in CASES])
def test_kill_before_every_step(qemu_conn, op, target, views, disk):  # noqa: F811
    guest, dom = scenario(qemu_conn, op)
    try:
        snap = dom.get_snapshot_by_name(target)
        by_virtsnap = (not op.startswith("revert") or
                       dom.get_connect().get_lib_version() < external.REVERTS_EXTERNAL_SINCE)
        steps = (external.plan_revert(snap, running=True) if op.startswith("revert")
                 else external.plan_delete(snap)) if by_virtsnap else []
        assert len(steps) >= 4
        expected_files = None
    finally:
        guest.remove()
    # kill before each step, and once more before the record is cleared
    for kill_at in range(len(steps) + 1):
        guest, dom = scenario(qemu_conn, op)
        try:
            proc = run_crash_child(guest, op, target, kill_at)
            assert proc.returncode == -9, proc.stderr
            assert os.path.exists(disk_file(dom))  # never a domain naming a missing file
            report = external.check(dom)
            assert [p.kind for p in report.problems][:1] == ["unfinished-operation"]
            assert external.read_intent(dom)["done"] == kill_at

            repaired = external.check(dom, repair=True)
            assert repaired.consistent, repaired.problems
            assert external.read_intent(dom) is None
            got_views, got_disk, current, files = result(dom, guest)
            assert (got_views, got_disk) == (views, disk), f"killed before step {kill_at}"
            if op.startswith("revert"):
                assert current == target
            if op != "delete":
                assert dom.state() is DomainState.RUNNING
                assert guest.disk_source() == disk_file(dom)
            if expected_files is None:
                expected_files = files
            assert files == expected_files, f"killed before step {kill_at}"
            assert sorted(image_files(guest.dir)) == sorted(repaired.files)
        finally:
            guest.remove()
    if not by_virtsnap:  # libvirt 9.9 and later revert by themselves
        guest, dom = scenario(qemu_conn, op)
        try:
            proc = run_crash_child(guest, op, target, 0)
            assert proc.returncode == 0, proc.stderr
            assert result(dom, guest)[:2] == (views, disk)
        finally:
            guest.remove()


PAUSE = """
import os, sys, time
import virtsnap
from virtsnap import external
uri, name, marker, release = sys.argv[1:5]

def on_step(step, index):
    if index == 1:
        open(marker, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)

with virtsnap.open(uri) as conn:
    external.delete(conn.get_domain_by_name(name).get_snapshot_by_name("s2"), on_step=on_step)
"""


def flock_waiters(path):
    """How many processes wait for the flock of ``path`` (the "->" lines of /proc/locks)."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as f:
        return sum(1 for line in f if "->" in line and line.split()[-3].endswith(f":{inode}"))


def test_a_second_call_waits_for_the_running_operation(qemu_conn, tmp_path):  # noqa: F811
    """While one process runs a delete, check --repair in another must not run the same
    plan from the intent record: it waits for the lock, then finds nothing to finish."""
    guest, dom = scenario(qemu_conn, "delete")
    try:
        marker, release = tmp_path / "at-step-1", tmp_path / "release"
        child = subprocess.Popen([sys.executable, "-c", PAUSE, QEMU_URI, guest.name, str(marker),
                                  str(release)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(marker.exists, "the child at step 1")
        assert external.read_intent(dom)["done"] == 1
        reports = []
        repair = threading.Thread(target=lambda: reports.append(external.check(dom, repair=True)))
        repair.start()
        wait_for(lambda: reports or flock_waiters(external.lock_path(dom)) == 1,
                 "check --repair to finish or to wait for the lock")
        release.touch()
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        repair.join(timeout=300)
        [report] = reports
        assert report.repaired == [] and report.consistent, report.problems
        assert sorted(dom.list_snapshot_names()) == ["s1", "s3"]
    finally:
        guest.remove()


def test_a_failed_block_job_leaves_the_operation_to_finish(qemu_conn):  # noqa: F811
    """The block commit of a running guest's active layer fails (its base is immutable:
    on libvirt 9.0, QEMU's "Could not open ...: Operation not permitted"): the call raises, the guest runs on files
    that exist, the record names the step, and the next call finishes the delete."""
    guest, dom = scenario(qemu_conn, "block-commit")
    try:
        steps = external.plan_delete(dom.get_snapshot_by_name("s3"))
        index, commit = next((i, step) for i, step in enumerate(steps)
                             if step["do"] == "block_commit")
        with immutable(commit["base"]):
            with pytest.raises(virtsnap.LibvirtError):
                external.execute_plan(dom, "delete", "s3", steps)
            assert dom.state() is DomainState.RUNNING
            assert all(os.path.exists(path) for path in guest_files(dom))
            assert external.read_intent(dom)["done"] == index
            assert [p.kind for p in external.check(dom).problems][:1] == ["unfinished-operation"]
        repaired = external.check(dom, repair=True)
        assert repaired.consistent, repaired.problems
        views, disk = result(dom, guest)[:2]
        assert (views, disk) == ({"s1": [1], "s2": [1, 2]}, [1, 2, 3, 4])
    finally:
        guest.remove()


@contextlib.contextmanager
def immutable(path):
    """``path`` with the file system's immutable flag (chattr +i) while the block runs."""
    get_flags, set_flags, immutable_flag = 0x80086601, 0x40086602, 0x10  # linux/fs.h
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, get_flags, b"\0" * 4))[0]
        fcntl.ioctl(fd, set_flags, struct.pack("i", flags | immutable_flag))
        try:
            yield
        finally:
            fcntl.ioctl(fd, set_flags, struct.pack("i", flags))
    finally:
        os.close(fd)


def guest_files(dom):
    """Every file the running domain's disks name, backing chains included."""
    root = ElementTree.fromstring(dom.get_xml_description())
    return [source.get("file") for source in root.iter("source") if source.get("file")]
