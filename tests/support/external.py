"""Layers and bytes of external snapshots, read with qemu-img and qemu-io (tests/test_external*.py).

Layer ``k`` of a test chain writes pattern ``0x10 + k`` at offset 0 and at
``k * 64 KiB``, so a view built from layers 1..k reads pattern k at 0, pattern j
at each ``j * 64 KiB`` written, and zeros elsewhere: a lost or extra layer shows.
"""

import os
import subprocess
import xml.etree.ElementTree as ElementTree

from virtsnap import CreateFlags
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
