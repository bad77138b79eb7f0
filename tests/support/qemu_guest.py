"""Tiny QEMU guests for the integration tests (test_qemu.py, test_virsh.py).

A :class:`Guest` is a 64 MiB TCG domain on qemu:///system with a fresh qcow2
disk in its own temporary directory, defined, started and destroyed through
virsh (virtsnap has no lifecycle API, and virsh is an independent client).

:func:`guest_fixture` makes a pytest fixture (module scope by default) that
yields a defined guest, shut off or running, and always removes it: destroy,
``undefine --snapshots-metadata --checkpoints-metadata --managed-save
--nvram``, then its directory (disk, overlays, XML). It checks that the
domain is really gone and fails the test run if it is not.

Guest names are ``vs-it-<pid>-<counter>-<tag>``. Guests and directories left
behind by a test process that no longer exists (e.g. killed with SIGKILL) are
removed the first time a fixture here runs.
"""

import itertools
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import virtsnap
from support.helpers import QEMU_URI, delete_all_snapshots, virsh
from support.libvirtd_env import confining_security_models, guest_xml, make_disk, qemu_img_snapshots

PREFIX = "vs-it"
_NAME_RE = re.compile(rf"^{PREFIX}-(\d+)-\d+-")
_counter = itertools.count(1)
_swept = False
_confining = {}  # uri -> the daemon's security drivers other than DAC


def unique_name(tag):
    return f"{PREFIX}-{os.getpid()}-{next(_counter)}-{tag}"


def confining_drivers(uri):
    """The daemon's security drivers besides DAC (e.g. apparmor), asked once per URI."""
    if uri not in _confining:
        _confining[uri] = confining_security_models(virsh("capabilities", uri=uri))
    return _confining[uri]


class Guest:
    """One tiny guest: ``name``, ``dir`` (its own temporary directory), ``disk``."""

    def __init__(self, tag, uri=QEMU_URI, memory_mib=64):
        self.uri = uri
        self.name = unique_name(tag)
        self.dir = tempfile.mkdtemp(prefix=self.name + "-")
        self.disk = make_disk(self.dir, "disk.qcow2")
        self.xml_path = os.path.join(self.dir, "domain.xml")
        with open(self.xml_path, "w") as f:
            f.write(guest_xml(self.name, self.disk, confining_drivers(uri), memory_mib))

    def virsh(self, *args):
        return virsh(*args, uri=self.uri)

    def define(self):
        self.virsh("define", self.xml_path)

    def create_transient(self):
        self.virsh("create", self.xml_path)

    def start(self):
        self.virsh("start", self.name)

    def destroy(self):
        self.virsh("destroy", self.name)

    def domstate(self):
        """virsh's view of the state, e.g. 'running', 'paused', 'shut off'."""
        return self.virsh("domstate", self.name).strip()

    def ensure_running(self):
        if self.domstate() != "running":
            if self.domstate() != "shut off":
                self.destroy()
            self.start()

    def ensure_shut_off(self):
        if self.domstate() != "shut off":
            self.destroy()

    def disk_source(self):
        """The file behind vda now (an overlay after an external snapshot)."""
        out = self.virsh("domblklist", self.name)
        for line in out.splitlines():
            fields = line.split(None, 1)
            if fields and fields[0] == "vda":
                return fields[1].strip()
        raise AssertionError(f"no vda in domblklist:\n{out}")

    def path(self, filename):
        return os.path.join(self.dir, filename)

    def exists(self):
        try:
            self.virsh("domuuid", self.name)
        except RuntimeError:
            return False
        return True

    def remove(self):
        """Destroy and undefine (with all metadata), remove the directory.

        Raises AssertionError if the domain is still there afterwards.
        """
        try:
            _remove_domain(self.name, self.uri)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.exists():
            raise AssertionError(f"guest {self.name} is still defined after cleanup")


def _remove_domain(name, uri=QEMU_URI):
    for args in (("destroy", name),
                 ("undefine", name, "--snapshots-metadata", "--checkpoints-metadata",
                  "--managed-save", "--nvram"),
                 ("undefine", name, "--snapshots-metadata")):
        try:
            virsh(*args, uri=uri)
        except RuntimeError:
            pass


def _pid_alive(pid):
    return os.path.exists(f"/proc/{pid}")


def sweep_stale():
    """Remove guests and directories of test processes that are gone."""
    global _swept
    if _swept:
        return
    _swept = True
    try:
        names = virsh("list", "--all", "--name", uri=QEMU_URI).split()
    except RuntimeError:
        names = []
    for name in names:
        match = _NAME_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _remove_domain(name)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        match = _NAME_RE.match(entry)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)


def guest_fixture(tag, *, running, scope="module", memory_mib=64):
    """A fixture yielding a defined :class:`Guest`, running or shut off; always removed."""

    @pytest.fixture(scope=scope)
    def _guest(libvirtd):
        sweep_stale()
        guest = Guest(tag, memory_mib=memory_mib)
        try:
            guest.define()
            if running:
                guest.start()
            yield guest
        finally:
            guest.remove()

    return _guest


@pytest.fixture(scope="module")
def qemu_conn(libvirtd):
    """A virtsnap connection to qemu:///system, shared by a module's tests."""
    with virtsnap.open(QEMU_URI) as connection:
        yield connection


def running_domain_without_snapshots(guest, conn):
    """A fixture's body: ``guest`` running, as a virtsnap Domain of ``conn``, with
    no snapshots before and after the test."""
    guest.ensure_running()
    domain = conn.get_domain_by_name(guest.name)
    delete_all_snapshots(domain)
    yield domain
    delete_all_snapshots(domain)


def wipe_qcow2_snapshots(path):
    """Delete the internal snapshots left in an image no guest has open."""
    for tag in qemu_img_snapshots(path):
        subprocess.run(["qemu-img", "snapshot", "-d", tag, path], check=True,
                       stdin=subprocess.DEVNULL, capture_output=True)
