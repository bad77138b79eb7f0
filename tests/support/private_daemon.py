"""A private libvirtd for fault tests: its own config, socket and PID file.

It loads no hypervisor driver (``LIBVIRT_DRIVER_DIR`` points at an empty
directory), so it serves only the test driver and never touches the shared
daemon started by scripts/libvirtd-up. Clients reach it with
``test+unix:///default?socket=<dir>/libvirt-sock``; it is stopped by its PID.
"""

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import virtsnap
from support.helpers import virsh
from support.system import wait_until
from virtsnap import LibvirtError

LIBVIRTD = shutil.which("libvirtd") or "/usr/sbin/libvirtd"


def unique(prefix):
    """A name no other test (or engineer) uses at the same time."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def domain_xml(name, devices=""):
    """A small test-driver domain (shut off once defined)."""
    return (f"<domain type='test'><name>{name}</name><memory>65536</memory>"
            f"<os><type>hvm</type></os><devices>{devices}</devices></domain>")


def define_domain(uri, name, tmp_path, devices=""):
    """Define a persistent domain over ``uri`` with virsh.

    The caller must already hold a connection to ``uri``: the test driver
    behind a daemon forgets everything once its last client disconnects.
    """
    xml_file = Path(tmp_path) / f"{name}.xml"
    xml_file.write_text(domain_xml(name, devices))
    virsh("define", str(xml_file), uri=uri)


class PrivateDaemon:
    """A libvirtd of our own, test driver only, on sockets under ``workdir``."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.sock_dir = self.workdir / "sock"
        self.config = self.workdir / "libvirtd.conf"
        self.pid_file = self.workdir / "libvirtd.pid"
        self.log = self.workdir / "libvirtd.log"
        self.proc = None
        empty = self.workdir / "no-driver-modules"
        empty.mkdir(parents=True, exist_ok=True)
        self.sock_dir.mkdir(exist_ok=True)
        self.config.write_text(
            f'unix_sock_dir = "{self.sock_dir}"\n'
            'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
            f'log_outputs = "3:file:{self.log}"\n')
        self.env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(empty))

    @property
    def socket(self):
        return self.sock_dir / "libvirt-sock"

    def uri(self, path="/default"):
        return f"test+unix://{path}?socket={self.socket}"

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=30):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        # -t: exit by itself once idle for 10 minutes, should a test run die
        # without stopping it.
        self.proc = subprocess.Popen(
            [LIBVIRTD, "-f", str(self.config), "-p", str(self.pid_file), "-t", "600"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "libvirtd.stderr", "ab"))
        if not wait_until(self._answers, timeout, interval=0.1):
            self.stop()
            raise RuntimeError(f"private libvirtd did not answer within {timeout}s: "
                               f"{(self.workdir / 'libvirtd.stderr').read_text()[-2000:]}")
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"private libvirtd exited with {self.proc.returncode}")
        if not self.socket.exists():
            return False
        try:
            virtsnap.open(self.uri()).close()
        except LibvirtError:
            return False
        return True

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def pause(self):
        self.signal(signal.SIGSTOP)

    def resume(self):
        self.signal(signal.SIGCONT)

    def kill(self):
        """SIGKILL, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        """SIGTERM (after SIGCONT, in case it is frozen); SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
