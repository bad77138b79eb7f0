"""Layers and bytes of external snapshots, read with qemu-img and qemu-io (tests/test_external*.py).

Layer ``k`` of a test chain writes pattern ``0x10 + k`` at offset 0 and at
``k * 64 KiB``, so a view built from layers 1..k reads pattern k at 0, pattern j
at each ``j * 64 KiB`` written, and zeros elsewhere: a lost or extra layer shows.
"""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree

import pytest

from virtsnap import CreateFlags
from support.helpers import QEMU_URI
from support.qemu_guest import Guest, sweep_stale
from support.snapshots import external_xml  # noqa: F401 - re-exported for the external tests

CHUNK = 64 * 1024
MAX_LAYER = 8


def pattern(layer):
    return 0x10 + layer


def qemu_io(path, command, *, readonly):
    args = ["qemu-io", "-f", "qcow2"] + (["-r", "-U"] if readonly else []) + ["-c", command, path]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or "failed" in out.lower():
        raise AssertionError(f"{' '.join(args)}: {out}")
    return out


def write_layer(path, layer):
    """Write layer ``layer``'s pattern into the image ``path`` (no guest may have it open)."""
    qemu_io(path, f"write -P {pattern(layer)} 0 {CHUNK}", readonly=False)
    qemu_io(path, f"write -P {pattern(layer)} {layer * CHUNK} {CHUNK}", readonly=False)


def view_layers(path):
    """The layers whose bytes ``path`` shows, checking that offset 0 holds the last one."""
    layers = []
    for layer in range(1, MAX_LAYER + 1):
        if _reads(path, layer * CHUNK, pattern(layer)):
            layers.append(layer)
        elif not _reads(path, layer * CHUNK, 0):
            raise AssertionError(f"{path}: chunk {layer} holds neither layer {layer} nor zeros")
    top = layers[-1] if layers else None
    if top is not None and not _reads(path, 0, pattern(top)):
        raise AssertionError(f"{path}: offset 0 does not hold the top layer {top}")
    return layers


def _reads(path, offset, value):
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-r", "-U", "-c",
                          f"read -P {value} {offset} {CHUNK}", path],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout + out.stderr


def backing_chain(path):
    """[path, its backing file, ...] as qemu-img reads it."""
    out = subprocess.run(["qemu-img", "info", "-U", "--backing-chain", path],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines()
            if line.startswith("image:")]


def take_external(dom, guest, name):
    """An external disk-only snapshot ``name`` with its overlay in the guest's directory."""
    return dom.create_snapshot(external_xml(name, guest.path(name + ".qcow2")),
                               CreateFlags.DISK_ONLY)


def take_with_memory(dom, guest, name):
    """An external snapshot ``name`` of the running guest: its memory in ``name.save``,
    vda on the overlay ``name.qcow2``, both in the guest's directory."""
    return dom.create_snapshot(
        f"<domainsnapshot><name>{name}</name>"
        f"<memory snapshot='external' file='{guest.path(name + '.save')}'/>"
        f"<disks><disk name='vda' snapshot='external'>"
        f"<source file='{guest.path(name + '.qcow2')}'/></disk></disks></domainsnapshot>")


def memory_scenario(dom, guest):
    """Layer 1, then snapshot m1 with memory of the running guest, then layer 2 written
    while it is shut off, and the guest started again: m1 holds [1], the disk [1, 2]."""
    write_layer(guest.disk, 1)
    dom.start()
    take_with_memory(dom, guest, "m1")
    dom.destroy()
    write_layer(disk_file(dom), 2)
    dom.start()


def snapshot_image(snap):
    """The image holding ``snap``'s data: vda's source in the snapshot's domain definition."""
    root = ElementTree.fromstring(snap.get_xml_description())
    for dom in (root.find("inactiveDomain"), root.find("domain")):
        if dom is None:
            continue
        for disk in dom.findall("devices/disk"):
            if disk.find("target").get("dev") == "vda":
                return disk.find("source").get("file")
    raise AssertionError(f"snapshot {snap.name} names no vda")


def disk_file(dom):
    """vda's source in the domain's persistent definition."""
    root = ElementTree.fromstring(dom.get_xml_description(2))  # VIR_DOMAIN_XML_INACTIVE
    for disk in root.findall("devices/disk"):
        if disk.find("target").get("dev") == "vda":
            return disk.find("source").get("file")
    raise AssertionError("no vda")


def image_files(directory):
    """The image files in a guest's directory (not its domain XML nor memory images)."""
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if not f.endswith((".xml", ".save")))


def build_chain(dom, guest, count):
    """Layer 1 in the base, then snapshot s<k> and layer k+1, ``count`` times (shut off).

    Afterwards snapshot s<k> holds layers 1..k and the disk layers 1..count+1.
    """
    write_layer(guest.disk, 1)
    snaps = []
    for k in range(1, count + 1):
        snaps.append(take_external(dom, guest, f"s{k}"))
        write_layer(disk_file(dom), k + 1)
    return snaps


def external_cli(*args):
    """``virtsnap -c QEMU_URI ARGS...`` in a child process: its CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in ("LIBVIRT_DEFAULT_URI", "VIRTSNAP_DEBUG")}
    return subprocess.run([sys.executable, "-m", "virtsnap", "-c", QEMU_URI, *args],
                          capture_output=True, text=True, timeout=300, env=env,
                          stdin=subprocess.DEVNULL)


def disk_only_policy(directory, guest, *, keep_last):
    """A ``virtsnap auto`` config file in ``directory``: one disk-only policy of ``guest``."""
    config = directory / "disk-only.toml"
    config.write_text(textwrap.dedent(f"""\
        [[policy]]
        label = "ext"
        uris = ["{QEMU_URI}"]
        domains = ["{guest.name}"]
        interval = "1s"
        keep_last = {keep_last}
        disk_only = true
        """))
    return config


def external_auto(config):
    """``virtsnap auto --config CONFIG --json`` with one policy of one domain:
    (exit status, that policy's result, stderr)."""
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--json"], capture_output=True, text=True, timeout=300,
                            stdin=subprocess.DEVNULL)
    [policy] = json.loads(result.stdout)["hosts"][0]["domains"][0]["policies"]
    return result.returncode, policy, result.stderr


def ovmf_images():
    """(firmware, variable template) of OVMF: Debian 11 and 12 ship the 2 MB images,
    Debian 13 only the 4 MB ones."""
    for code, vars_ in (("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
                        ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd")):
        if os.path.exists(code) and os.path.exists(vars_):
            return code, vars_
    raise AssertionError("OVMF is not installed (Debian package ovmf)")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def uefi_guest(libvirtd):
    """A shut-off guest with OVMF's pflash firmware and its own NVRAM file (``nvram``),
    never started; always removed."""
    ovmf_code, ovmf_vars = ovmf_images()
    sweep_stale()
    guest = Guest("uefi", memory_mib=128)
    guest.nvram = guest.path("VARS.fd")
    with open(ovmf_vars, "rb") as src, open(guest.nvram, "wb") as dst:
        dst.write(src.read())
    with open(guest.xml_path) as f:
        xml = f.read()
    xml = xml.replace("<type arch='x86_64'>hvm</type>",
                      "<type arch='x86_64'>hvm</type>\n"
                      f"    <loader readonly='yes' type='pflash'>{ovmf_code}</loader>\n"
                      f"    <nvram template='{ovmf_vars}'>{guest.nvram}</nvram>")
    xml = xml.replace("  <on_poweroff>", "  <features><acpi/></features>\n  <on_poweroff>", 1)
    with open(guest.xml_path, "w") as f:
        f.write(xml)
    try:
        guest.define()
        yield guest
    finally:
        guest.remove()


@contextlib.contextmanager
def dir_pool(guest):
    """A started ``dir`` storage pool over the guest's directory (its files are its
    volumes from the start); yields its name, always destroyed and undefined."""
    name = guest.name + "-pool"
    guest.virsh("pool-define-as", name, "dir", "--target", guest.dir)
    try:
        guest.virsh("pool-start", name)
        yield name
    finally:
        with contextlib.suppress(RuntimeError):
            guest.virsh("pool-destroy", name)
        guest.virsh("pool-undefine", name)


def pool_volume_paths(guest, pool):
    """The paths ``virsh vol-list`` shows for ``pool`` (libvirt's list, not rescanned)."""
    return {line.split()[-1] for line in guest.virsh("vol-list", pool).splitlines()
            if line.strip()}
