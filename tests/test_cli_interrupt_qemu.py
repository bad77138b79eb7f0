"""Ctrl-C during a real snapshot job on a QEMU guest, and job stats of that job.

The memory of an external snapshot is written by a QEMU migration job into
the memory file (through libvirt's iohelper, which buffers about 1 MiB).
Here that file is a FIFO that the test holds open and does not read: the
job stalls once the pipes and that buffer are full, and stays running for as
long as the test wants, with no timing involved. The guest has 2 GiB of
(untouched) memory so that even its zero pages, about 9 bytes each in the
stream, make several MiB. Every wait polls a condition with a deadline:

- the job is stalled: the pipe is full and QEMU's migration is "active";
- the abort landed: QEMU's migration is "cancelling", or already
  "cancelled" (its cancel shuts the file down, which can end the blocked
  write at once); asked through libvirt's monitor passthrough, which a
  snapshot job allows;
- then the test drains the FIFO, QEMU's blocked write returns, and the
  cancelled migration ends the snapshot job.
"""

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import threading

import pytest

import virtsnap
from support.helpers import QEMU_URI, virsh
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from support.system import rss, wait_for

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

MEMORY_MIB = 2048


guest = guest_fixture("int", running=True, scope="function", memory_mib=MEMORY_MIB)


F_GETPIPE_SZ = 1032
DEADLINE = 60


CANCELLED = ("cancelling", "cancelled")


def migration_status(guest):
    """QEMU's own view of its migration (the memory save), through libvirt."""
    reply = guest.virsh("qemu-monitor-command", guest.name, '{"execute": "query-migrate"}')
    return json.loads(reply)["return"].get("status")


class StalledMemory:
    """A FIFO for a snapshot's memory, read only when :meth:`drain` is called."""

    def __init__(self, guest):
        self.guest = guest
        self.path = guest.path("memory.fifo")
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.capacity = fcntl.fcntl(self.fd, F_GETPIPE_SZ)
        self.drained = 0
        self.reader = None

    def snapshot_xml(self, name):
        overlay = self.guest.path("vda.overlay")
        return (f"<domainsnapshot><name>{name}</name>"
                f"<memory snapshot='external' file='{self.path}'/><disks>"
                f"<disk name='vda' snapshot='external'><source file='{overlay}'/></disk>"
                f"</disks></domainsnapshot>")

    def buffered(self):
        size = bytearray(4)
        fcntl.ioctl(self.fd, termios.FIONREAD, size)
        return int.from_bytes(size, sys.byteorder)

    def wait_until_stalled(self):
        wait_for(lambda: self.buffered() == self.capacity
                 and migration_status(self.guest) == "active",
                 "the memory save to fill the FIFO and block")

    def drain(self):
        """Read to end of file in a thread (once); join() it with :meth:`join`."""
        if self.reader is not None:
            return

        def read_all():
            while True:
                select.select([self.fd], [], [], DEADLINE)
                try:
                    chunk = os.read(self.fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    return
                self.drained += len(chunk)
        self.reader = threading.Thread(target=read_all, daemon=True)
        self.reader.start()

    def join(self):
        self.drain()                  # also after a failure: lets the job end
        self.reader.join(DEADLINE)
        assert not self.reader.is_alive(), "QEMU never closed the memory FIFO"
        os.close(self.fd)


def assert_nothing_was_made(guest, disk_before):
    assert virsh("snapshot-list", guest.name, "--name", uri=QEMU_URI).strip() == ""
    assert guest.domstate() == "running"
    assert guest.disk_source() == disk_before
    assert not os.path.exists(guest.path("vda.overlay"))


def test_ctrl_c_during_create_aborts_the_job_and_exits_130(guest):
    """SIGINT to `virtsnap create` while QEMU saves the memory: the command asks
    libvirt to abort the job, says that the job stopped, exits 130 without a
    traceback, and no snapshot (not half of one) is left; the guest runs on."""
    memory = StalledMemory(guest)
    xml_file = guest.path("snapshot.xml")
    with open(xml_file, "w") as f:
        f.write(memory.snapshot_xml("interrupted"))
    disk_before = guest.disk_source()
    env = {key: value for key, value in os.environ.items()
           if key not in ("LIBVIRT_DEFAULT_URI", "VIRTSNAP_DEBUG")}
    cli = subprocess.Popen([sys.executable, "-m", "virtsnap", "-c", QEMU_URI, "create",
                            guest.name, "--xml", xml_file],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    try:
        memory.wait_until_stalled()
        assert "Unbounded" in guest.virsh("domjobinfo", guest.name)
        cli.send_signal(signal.SIGINT)
        wait_for(lambda: migration_status(guest) in CANCELLED, "libvirt to cancel the save")
        memory.drain()
        stdout, stderr = cli.communicate(timeout=DEADLINE)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        memory.join()
    assert cli.returncode == 130, (stdout, stderr)
    assert stdout == "" and "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: interrupted: asked libvirt to abort the job; "
                               "the job stopped: "), stderr
    assert "abort" in lines[0].split("the job stopped: ", 1)[1].lower(), stderr
    assert memory.drained > memory.capacity      # QEMU wrote on once the pipe was read
    wait_for(lambda: "None" in guest.virsh("domjobinfo", guest.name), "the job to end")
    assert_nothing_was_made(guest, disk_before)


def narrowed(enum_class, missing):
    """``enum_class`` as headers older than the daemon would make it, without ``missing``."""
    import enum
    return enum.IntEnum(enum_class.__name__,
                        {m.name: m.value for m in enum_class if m is not missing},
                        module="virtsnap")


# virDomainGetJobStats flags: the last job's statistics, kept for later calls.
JOB_STATS_COMPLETED, JOB_STATS_KEEP_COMPLETED = 1, 2


def test_a_job_type_newer_than_the_headers_stays_an_int_and_leaks_nothing(
        guest, qemu_conn, monkeypatch):  # noqa: F811 - fixture
    """A job whose type our JobType lacks (taken out, as headers older than the
    daemon would): get_job_stats() keeps the int, with all the typed parameters,
    for the running (stalled) job and for a completed one; and frees them:
    5,000 calls on the completed job's kept statistics (about 19 parameters of
    96 bytes each per call, 9 MB if leaked) grow the process by less than 2 MiB.
    JobType(job_type) used to raise ValueError before freeing the parameters."""
    from virtsnap import _snapshot

    dom = qemu_conn.get_domain_by_name(guest.name)
    memory = StalledMemory(guest)
    disk_before = guest.disk_source()
    outcome = {}

    def create():
        try:
            outcome["snapshot"] = dom.create_snapshot(memory.snapshot_xml("stats"))
        except virtsnap.LibvirtError as exc:
            outcome["error"] = exc

    creator = threading.Thread(target=create, daemon=True)
    creator.start()
    try:
        memory.wait_until_stalled()
        running = dom.get_job_stats()
        assert running["type"] is virtsnap.JobType.UNBOUNDED and len(running) > 5
        with monkeypatch.context() as patch:
            patch.setattr(_snapshot, "JobType",
                          narrowed(virtsnap.JobType, virtsnap.JobType.UNBOUNDED))
            stats = dom.get_job_stats()
        assert type(stats["type"]) is int and stats["type"] == 2
        assert stats.keys() == running.keys()
    finally:
        try:
            dom.abort_job()
            wait_for(lambda: migration_status(guest) in CANCELLED,
                     "libvirt to cancel the save")
        finally:
            memory.drain()
            creator.join(DEADLINE)
            memory.join()
    assert isinstance(outcome.get("error"), virtsnap.LibvirtError), outcome
    assert_nothing_was_made(guest, disk_before)

    # A cancelled job keeps no statistics (type NONE alone); a completed one does.
    dom.create_snapshot(
        f"<domainsnapshot><name>kept</name><memory snapshot='external' "
        f"file='{guest.path('memory.saved')}'/><disks><disk name='vda' snapshot='external'>"
        f"<source file='{guest.path('vda.kept')}'/></disk></disks></domainsnapshot>")
    flags = JOB_STATS_COMPLETED | JOB_STATS_KEEP_COMPLETED
    kept = dom.get_job_stats(flags)
    assert kept["type"] is virtsnap.JobType.COMPLETED and len(kept) > 5, kept
    monkeypatch.setattr(_snapshot, "JobType", narrowed(virtsnap.JobType, kept["type"]))
    unknown = dom.get_job_stats(flags)
    assert type(unknown["type"]) is int and unknown["type"] == kept["type"]
    assert unknown.keys() == kept.keys()
    for _ in range(500):
        dom.get_job_stats(flags)
    before = rss()
    for _ in range(5000):
        dom.get_job_stats(flags)
    growth = rss() - before
    assert 5000 * 96 * len(kept) > 4 * 2 * 1024 * 1024      # a leak would show
    assert growth < 2 * 1024 * 1024, f"grew {growth} bytes"
