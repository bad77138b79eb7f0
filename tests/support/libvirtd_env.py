"""Helpers for tests that need a real libvirt daemon and a tiny QEMU guest.

Pure Python, no pytest dependency.  Needs root (scripts/libvirtd-up
installs and starts libvirt by hand; there is no systemd here).

Typical use (tests/support/qemu_guest.py wraps it in a fixture)::

    ensure_daemon()
    disk = make_disk(tmp_path, "disk.qcow2")
    xml = tmp_path / "g.xml"
    xml.write_text(guest_xml("vs-t1", disk))
    virsh("define", xml, uri=QEMU_URI)      # helpers.virsh
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBVIRTD_UP = os.path.join(ROOT, "scripts", "libvirtd-up")

_daemon_error = None
_daemon_checked = False


def ensure_daemon():
    """Run scripts/libvirtd-up once per process (later calls reuse the result).

    Raises RuntimeError carrying the script's output if it fails.
    """
    global _daemon_checked, _daemon_error
    if not _daemon_checked:
        _daemon_checked = True
        try:
            proc = subprocess.run(
                [LIBVIRTD_UP], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _daemon_error = "%s: %s" % (LIBVIRTD_UP, exc)
        else:
            if proc.returncode != 0:
                _daemon_error = "%s exited %d:\n%s" % (
                    LIBVIRTD_UP, proc.returncode, proc.stdout)
    if _daemon_error:
        raise RuntimeError(_daemon_error)


def confining_security_models(capabilities_xml):
    """The security drivers other than DAC that a daemon applies to guests (apparmor,
    selinux), from its ``virsh capabilities``."""
    root = ElementTree.fromstring(capabilities_xml)
    return [model.text for model in root.findall("host/secmodel/model")
            if model.text not in ("none", "dac")]


def guest_xml(name, disk_path, unconfined=(), memory_mib=64):
    """Domain XML of a diskful, OS-less TCG guest (64 MiB unless told, 1 vCPU).

    qemu runs as root with no relabelling (static DAC seclabel), so the disk
    may sit in any root-only directory such as a pytest tmp_path; libvirt
    leaves the image's owner and mode alone.  The security drivers named in
    ``unconfined`` (see confining_security_models) get ``type='none'``: with
    Debian's default AppArmor, libvirt would otherwise write and load a
    profile for every start and every new disk (virt-aa-helper).  No NIC, no graphics, no
    serial; the BIOS finds nothing to boot and idles, which is enough for
    internal (with memory) and external disk-only snapshots.
    """
    return """\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <seclabel type='static' model='dac' relabel='no'>
    <label>+0:+0</label>
  </seclabel>{unconfined}
</domain>
""".format(name=xml_escape(name), disk=xml_escape(os.path.abspath(disk_path)),
           memory_mib=int(memory_mib),
           unconfined="".join(f"\n  <seclabel type='none' model='{xml_escape(model)}'/>"
                              for model in unconfined))


def make_disk(directory, name, size="64M"):
    """Create an empty qcow2 image DIRECTORY/NAME and return its path."""
    path = os.path.join(os.fspath(directory), name)
    _run(["qemu-img", "create", "-q", "-f", "qcow2", path, size])
    return path


def qemu_img_snapshots(path):
    """Names of the internal snapshots stored in the qcow2 image at PATH.

    Uses force-share (-U), so it also works while a guest has the image
    open.  Reads `qemu-img info --output=json`, the machine-readable form of
    `qemu-img snapshot -l` (same list; tags with spaces survive).
    """
    out = _run(["qemu-img", "info", "-U", "--output=json", os.fspath(path)])
    return [s["name"] for s in json.loads(out).get("snapshots", [])]


def _run(cmd, timeout=120):
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (
            " ".join(cmd), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def xml_escape(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("'", "&apos;").replace('"', "&quot;"))


# ---------------------------------------------------------------- daemons the suite did not start

DAEMON_NAMES = ("virtlogd", "libvirtd", "virtqemud", "virtproxyd", "virtsecretd", "virtstoraged",
                "virtnodedevd", "virtnetworkd", "virtinterfaced", "virtnwfilterd")
# Where scripts/libvirtd-up records "PID NAME" of each daemon it started.
SUITE_PIDFILES = tuple(dict.fromkeys([os.environ.get("VIRTSNAP_PIDFILE", "/run/virtsnap-daemons.pids"),
                                      "/run/virtsnap-daemons.pids"]))


def _proc_stat(pid):
    """(comm, state, start time in clock ticks) of a live PID, or None."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            stat = stream.read()
    except OSError:
        return None
    comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[19])


def daemon_pid(name, run_dir="/run"):
    """The PID in RUN_DIR/NAME.pid if that process runs (not a zombie) as NAME, else None."""
    try:
        with open(os.path.join(run_dir, f"{name}.pid")) as stream:
            pid = int(stream.read().strip())
    except (OSError, ValueError):
        return None
    stat = _proc_stat(pid)
    return pid if stat is not None and stat[0] == name and stat[1] != "Z" else None


def pids_started_by_the_suite(pidfiles=SUITE_PIDFILES):
    """{pid: name} of the daemons scripts/libvirtd-up recorded as started by it."""
    started = {}
    for path in pidfiles:
        try:
            with open(path) as stream:
                for line in stream:
                    fields = line.split()
                    if len(fields) >= 2 and fields[0].isdigit():
                        started[int(fields[0])] = fields[1]
        except OSError:
            continue
    return started


def foreign_daemons(run_dir="/run", pidfiles=SUITE_PIDFILES):
    """{name: (pid, start time)} of the running libvirt daemons the suite did not start."""
    ours = pids_started_by_the_suite(pidfiles)
    found = {}
    for name in DAEMON_NAMES:
        pid = daemon_pid(name, run_dir)
        if pid is not None and ours.get(pid) != name:
            found[name] = (pid, _proc_stat(pid)[2])
    return found


def disturbed_daemons(before):
    """What happened to the daemons of ``foreign_daemons()`` since: [] if each one still
    runs, not stopped, as the same process."""
    problems = []
    for name, (pid, started) in before.items():
        stat = _proc_stat(pid)
        if stat is None or stat[0] != name or stat[1] == "Z" or stat[2] != started:
            problems.append(f"{name} (pid {pid}) is gone")
        elif stat[1] in ("T", "t"):
            problems.append(f"{name} (pid {pid}) is stopped")
    return problems
