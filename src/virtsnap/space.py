"""What a domain's snapshots cost on disk, and how much room is left for more.

API::

    disk_usage(dom, *, use_qemu_img=None) -> DomainUsage        # virtsnap du
    free_space(conn, path, *, local=None) -> FreeSpace | None
    space_guard(dom, min_free) -> str | None                    # the min_free guard
    disk_sources(dom) -> list[tuple[str, str]]                  # (target, file)
    parse_size(text) -> int ; format_bytes(n) -> str            # "20GiB" <-> bytes
    parse_threshold(text) -> ("percent", 10.0) | ("bytes", n)   # min_free
    DomainUsage.to_dict()                                       # the CLI's "du" document

Each figure says where it came from (``source``), in this order:

1. ``domain-stats``: virConnectGetAllDomainStats with the backing-chain flag
   (the whole chain of a running guest; the top image of a shut-off one);
2. ``storage-volume``: the storage volume at that path, for files in a pool;
3. ``qemu-img``: ``qemu-img info -U --output=json --backing-chain``, run on
   this machine, only when the hypervisor is local and libvirt had no answer.

Internal snapshots' vm-state sizes come from ``qemu-img`` alone (libvirt
has no call that reports them), so over a remote URI they are unknown.
A size that nothing could tell is None, never a guess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple, TypedDict
from urllib.parse import urlsplit

from virtsnap.errors import LibvirtError

if TYPE_CHECKING:
    from virtsnap import Connection, Domain
    from virtsnap._types import StorageVolume

    # ``qemu-img info --output=json``: the keys read here of an image and of its snapshots
    _QemuImgSnapshot = TypedDict("_QemuImgSnapshot", {"name": str, "vm-state-size": int})
    _QemuImgImage = TypedDict("_QemuImgImage", {
        "filename": str, "actual-size": int, "virtual-size": int,
        "snapshots": List[_QemuImgSnapshot]}, total=False)

__all__ = ["DiskUsage", "DiskUsageDict", "DomainUsage", "DomainUsageDict", "FreeSpace", "Layer",
           "LayerDict", "SnapshotUsage", "SnapshotUsageDict", "disk_sources", "disk_usage",
           "format_bytes", "free_space", "is_local_uri", "parse_size", "parse_threshold",
           "space_guard"]

STATS, VOLUME, QEMU_IMG = "domain-stats", "storage-volume", "qemu-img"

_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "m": 1024 ** 2, "mib": 1024 ** 2,
          "g": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4, "tib": 1024 ** 4,
          "kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"20GiB"`` -> bytes (IEC: KiB, MiB, GiB, TiB, or K, M, G, T; SI: kB, MB, GB, TB)."""
    match = _SIZE_RE.match(text) if isinstance(text, str) else None
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(f"bad size {text!r} (use e.g. 512MiB, 20GiB, 1TiB)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_threshold(text: str) -> Tuple[str, float]:
    """``"10%"`` -> ("percent", 10.0); ``"20GiB"`` -> ("bytes", 21474836480)."""
    if isinstance(text, str) and text.strip().endswith("%"):
        try:
            percent = float(text.strip()[:-1])
        except ValueError:
            percent = -1.0
        if not 0 <= percent <= 100:
            raise ValueError(f"bad percentage {text!r} (use e.g. 10%)")
        return "percent", percent
    try:
        return "bytes", float(parse_size(text))
    except ValueError:
        raise ValueError(f"bad free space {text!r} (use e.g. 10% or 20GiB)") from None


def format_bytes(size: Optional[int]) -> str:
    """Bytes in IEC units, e.g. ``1.5 GiB``; ``-`` for unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def is_local_uri(uri: Optional[str]) -> bool:
    """Whether ``uri`` names a hypervisor on this machine (no host, no remote transport)."""
    if not uri:
        return True
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2]
    return not parts.hostname and transport in ("", "unix")


# ---------------------------------------------------------------- the report


class LayerDict(TypedDict):
    """A :class:`Layer` as JSON: an item of a disk's ``chain`` in the ``du`` document."""
    file: str
    allocation: Optional[int]
    capacity: Optional[int]
    snapshot: Optional[str]
    source: Optional[str]


class DiskUsageDict(TypedDict):
    """A :class:`DiskUsage` as JSON: an item of ``disks`` in the ``du`` document."""
    target: str
    chain: List[LayerDict]
    chain_complete: bool


class SnapshotUsageDict(TypedDict):
    """A :class:`SnapshotUsage` as JSON: an item of ``snapshots`` in the ``du`` document."""
    name: str
    location: str
    vmstate: Optional[int]
    memory_file: Optional[str]
    memory: Optional[int]
    layers: List[str]
    frees: Optional[int]
    frees_at_least: Optional[int]
    frees_note: Optional[str]


class DomainUsageDict(TypedDict):
    """A :class:`DomainUsage` as JSON: the ``du`` document of virtsnap's --json schema."""
    domain: str
    uri: Optional[str]
    disks: List[DiskUsageDict]
    snapshots: List[SnapshotUsageDict]
    total: Optional[int]
    notes: List[str]


@dataclass
class Layer:
    """One image of a disk's backing chain."""

    file: str
    allocation: Optional[int] = None      # bytes on the host: qemu-img's actual-size
    capacity: Optional[int] = None        # guest-visible size
    snapshot: Optional[str] = None        # the snapshot whose creation made this image
    source: Optional[str] = None          # domain-stats, storage-volume, qemu-img or None

    def to_dict(self) -> LayerDict:
        return {"file": self.file, "allocation": self.allocation, "capacity": self.capacity,
                "snapshot": self.snapshot, "source": self.source}


@dataclass
class DiskUsage:
    target: str
    chain: List[Layer] = field(default_factory=list)   # top first
    complete: bool = True     # False when the images below the top are not known

    def to_dict(self) -> DiskUsageDict:
        return {"target": self.target, "chain": [layer.to_dict() for layer in self.chain],
                "chain_complete": self.complete}


@dataclass
class SnapshotUsage:
    """What one snapshot holds, and what deleting it frees where that is known."""

    name: str
    location: str                          # internal or external
    vmstate: Optional[int] = None          # internal vm-state bytes (qemu-img)
    memory_file: Optional[str] = None      # external memory state
    memory: Optional[int] = None
    layers: List[str] = field(default_factory=list)   # images its creation made
    frees: Optional[int] = None
    frees_at_least: Optional[int] = None
    frees_note: Optional[str] = None

    def to_dict(self) -> SnapshotUsageDict:
        return {"name": self.name, "location": self.location, "vmstate": self.vmstate,
                "memory_file": self.memory_file, "memory": self.memory,
                "layers": self.layers, "frees": self.frees,
                "frees_at_least": self.frees_at_least, "frees_note": self.frees_note}


@dataclass
class DomainUsage:
    domain: str
    uri: Optional[str]
    disks: List[DiskUsage] = field(default_factory=list)
    snapshots: List[SnapshotUsage] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def total(self) -> Optional[int]:
        """Bytes of every image and memory file, each counted once; None if one is unknown."""
        sizes: Dict[str, Optional[int]] = {}
        for disk in self.disks:
            for layer in disk.chain:
                sizes[layer.file] = layer.allocation
        for snap in self.snapshots:
            if snap.memory_file:
                sizes[snap.memory_file] = snap.memory
        if any(size is None for size in sizes.values()):
            return None
        return sum(size for size in sizes.values() if size is not None)

    def snapshot_bytes(self, name: str) -> Optional[int]:
        """The bytes a snapshot made (see :meth:`bytes_by_snapshot`); None if unknown."""
        return self.bytes_by_snapshot().get(name)

    def bytes_by_snapshot(self) -> Dict[str, Optional[int]]:
        """name -> bytes the snapshot made: its images, memory file and vm-state (None: unknown)."""
        made: Dict[str, List[Optional[int]]] = {}
        for disk in self.disks:
            for layer in disk.chain:
                if layer.snapshot is not None:
                    made.setdefault(layer.snapshot, []).append(layer.allocation)
        sizes: Dict[str, Optional[int]] = {}
        for snap in self.snapshots:
            parts = made.get(snap.name, []) + [snap.memory if snap.memory_file else 0,
                                               snap.vmstate if snap.location == "internal" else 0]
            sizes[snap.name] = None if any(part is None for part in parts) else sum(
                part for part in parts if part is not None)
        return sizes

    def to_dict(self) -> DomainUsageDict:
        return {"domain": self.domain, "uri": self.uri,
                "disks": [disk.to_dict() for disk in self.disks],
                "snapshots": [snap.to_dict() for snap in self.snapshots],
                "total": self.total, "notes": self.notes}


# ---------------------------------------------------------------- reading


def disk_sources(dom: Domain) -> List[Tuple[str, str]]:
    """(target, file) of each file-backed disk of ``dom`` (cdroms and floppies left out)."""
    root = ET.fromstring(dom.get_xml_description())
    out = []
    for disk in root.iterfind("devices/disk"):
        if disk.get("device", "disk") not in ("disk", "lun"):
            continue
        target = disk.find("target")
        source = disk.find("source")
        path = None if source is None else (source.get("file") or source.get("dev"))
        if target is not None and path:
            out.append((target.get("dev", "?"), path))
    return out


def _stats_chains(dom: Domain) -> Tuple[Dict[str, List[Tuple[str, Optional[int], Optional[int]]]],
                                        bool]:
    """target -> [(path, allocation, capacity)] top first, from the block statistics;
    and whether the guest is active.

    A running guest's ``physical`` is the image's actual-size (qemu's
    query-named-block-nodes); a shut-off guest's ``allocation`` is (libvirt
    stats the file: blocks times 512). Entries come top first per disk.
    """
    try:
        stats: Mapping[str, object] = dom.get_block_stats(backing=True)
        active = dom.state() != 5  # anything but SHUTOFF has a qemu process
    except LibvirtError:  # a driver without statistics: other sources answer
        return {}, False
    size_field = "physical" if active else "allocation"
    chains: Dict[str, List[Tuple[str, Optional[int], Optional[int]]]] = {}
    for index in range(_count(stats.get("block.count")) or 0):
        prefix = f"block.{index}."
        name, path = stats.get(prefix + "name"), stats.get(prefix + "path")
        if isinstance(name, str) and isinstance(path, str) and name and path:
            chains.setdefault(name, []).append(
                (path, _count(stats.get(prefix + size_field)),
                 _count(stats.get(prefix + "capacity"))))
    return chains, active


def _count(value: object) -> Optional[int]:
    """A typed parameter that libvirt gives as an integer, or None when absent."""
    return value if isinstance(value, int) else None


def _qemu_img_chain(path: str) -> Optional[List[_QemuImgImage]]:
    """``qemu-img info -U --backing-chain`` of a local file, or None."""
    if not os.path.exists(path):
        return None
    try:
        done = subprocess.run(["qemu-img", "info", "-U", "--output=json", "--backing-chain",
                               path], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        chain = json.loads(done.stdout)
    except ValueError:
        return None
    return chain if isinstance(chain, list) else [chain]


def _volume(conn: Connection, path: str, refresh: bool = False) -> Optional[StorageVolume]:
    try:
        return conn.storage_volume(path, refresh_pool=refresh)
    except LibvirtError:  # no storage driver, no such pool: unknown
        return None


def _snapshot_files(dom: Domain) -> Tuple[Dict[str, str], Dict[str, ET.Element]]:
    """file -> snapshot whose creation made it; name -> the snapshot's XML root."""
    made: Dict[str, str] = {}
    roots: Dict[str, ET.Element] = {}
    for name, xml in dom.snapshot_xml_descriptions().items():
        root = ET.fromstring(xml)
        roots[name] = root
        for disk in root.iterfind("disks/disk"):
            source = disk.find("source")
            if disk.get("snapshot") == "external" and source is not None:
                path = source.get("file") or source.get("dev")
                if path:
                    made[path] = name
    return made, roots


def disk_usage(dom: Domain, *, use_qemu_img: Optional[bool] = None) -> DomainUsage:
    """The backing chain of each disk of ``dom`` with sizes, and what each snapshot holds.

    ``use_qemu_img`` (default: when the connection's URI is local) allows
    ``qemu-img`` on this machine where libvirt has no answer.
    """
    conn = dom.get_connect()
    uri = conn.uri
    local = is_local_uri(uri) if use_qemu_img is None else use_qemu_img
    usage = DomainUsage(dom.name, uri)
    made, roots = _snapshot_files(dom)
    stats, active = _stats_chains(dom)
    internal = any(_is_internal(root) for root in roots.values())
    vmstates: Dict[str, int] = {}
    for target, top in disk_sources(dom):
        disk = DiskUsage(target)
        usage.disks.append(disk)
        from_stats = stats.get(target, [])
        if from_stats and from_stats[0][0] == top:
            disk.chain = [Layer(path, size, capacity, made.get(path),
                                STATS if size is not None else None)
                          for path, size, capacity in from_stats]
            # A shut-off guest's chain is probed by libvirt from its files, which
            # older releases do not do: one image alone may be the top of more.
            disk.complete = active or len(from_stats) > 1
        else:
            disk.chain = [Layer(top, snapshot=made.get(top))]
            disk.complete = False
        for layer in disk.chain:
            if layer.allocation is None:
                volume = _volume(conn, layer.file)
                if volume is not None:
                    layer.allocation, layer.capacity = volume["allocation"], volume["capacity"]
                    layer.source = VOLUME
        unknown = not disk.complete or any(layer.allocation is None for layer in disk.chain)
        images = _qemu_img_chain(top) if local and (unknown or internal) else None
        if images is None:
            continue
        for position, image in enumerate(images):
            path = image.get("filename", "")
            for snap in image.get("snapshots", []):
                # the vm-state lives in one image; the other disks' entries say 0
                name, size = snap.get("name"), int(snap.get("vm-state-size", 0))
                vmstates[name] = max(size, vmstates.get(name, 0))
            if position >= len(disk.chain):
                disk.chain.append(Layer(path, snapshot=made.get(path)))
            layer = disk.chain[position]
            if layer.allocation is None and layer.file == path and "actual-size" in image:
                layer.allocation, layer.capacity = int(image["actual-size"]), image.get(
                    "virtual-size")
                layer.source = QEMU_IMG
        disk.complete = True
    if any(not disk.complete for disk in usage.disks):
        usage.notes.append("libvirt did not report the backing chain; it is known only "
                           "through qemu-img on the hypervisor's machine")
    layers: Dict[str, List[str]] = {}
    for path, owner in made.items():
        layers.setdefault(owner, []).append(path)
    for name, root in roots.items():
        usage.snapshots.append(_snapshot_usage(name, root, layers.get(name, []), vmstates,
                                               local, conn))
    if any(s.location == "internal" and s.vmstate is None for s in usage.snapshots):
        usage.notes.append("internal snapshots' vm-state sizes are only known through "
                           "qemu-img on the hypervisor's machine")
    return usage


def _is_internal(root: ET.Element) -> bool:
    """Whether a snapshot's XML puts its memory or a disk inside a qcow2 image."""
    return root.find("memory[@snapshot='internal']") is not None or any(
        disk.get("snapshot") == "internal" for disk in root.iterfind("disks/disk"))


def _snapshot_usage(name: str, root: ET.Element, layers: List[str], vmstates: Dict[str, int],
                    local: bool, conn: Connection) -> SnapshotUsage:
    memory = root.find("memory")
    memory_mode = memory.get("snapshot") if memory is not None else None
    disks = [disk.get("snapshot") for disk in root.iterfind("disks/disk")]
    external = memory_mode == "external" or "external" in disks
    snap = SnapshotUsage(name, "external" if external else "internal")
    snap.layers = layers
    if external:
        if memory_mode == "external" and memory is not None:
            snap.memory_file = memory.get("file")
            if snap.memory_file:
                volume = _volume(conn, snap.memory_file)
                if volume is not None:
                    snap.memory = volume["allocation"]
                elif local and os.path.exists(snap.memory_file):
                    snap.memory = os.stat(snap.memory_file).st_blocks * 512
        snap.frees_at_least = snap.memory if snap.memory_file else 0
        snap.frees_note = ("deleting an external snapshot merges its images into their "
                           "neighbours; what that frees depends on how many clusters "
                           "overlap, which is not known in advance")
    else:
        snap.vmstate = vmstates.get(name)
        if "internal" not in disks and memory_mode != "internal":
            snap.vmstate = None
            snap.frees = 0 if not disks else None
            snap.frees_note = None if snap.frees == 0 else "unknown"
        else:
            snap.frees_at_least = snap.vmstate
            snap.frees_note = ("an internal snapshot frees its vm-state and the clusters "
                               "no other snapshot or the disk refers to; qemu does not "
                               "report the latter")
    return snap


# ---------------------------------------------------------------- free space


@dataclass
class FreeSpace:
    """Free and total bytes where a file lives, and where the figures came from."""

    path: str
    free: int
    total: int
    source: str          # "pool NAME" or "filesystem"

    def below(self, threshold: Tuple[str, float]) -> bool:
        """Whether free space is below ``("percent", 10.0)`` or ``("bytes", 20 * 2**30)``."""
        kind, value = threshold
        if kind == "percent":
            return self.total <= 0 or self.free * 100.0 < value * self.total
        return self.free < value


def free_space(conn: Connection, path: str, *, local: Optional[bool] = None) -> Optional[FreeSpace]:
    """Free space for ``path``: its storage pool (rescanned), else the filesystem when local."""
    volume = _volume(conn, path, refresh=not conn.readonly)
    if volume is not None:
        return FreeSpace(path, volume["pool_available"], volume["pool_capacity"],
                         f"pool {volume['pool']}")
    if local is None:
        local = is_local_uri(conn.uri)
    if not local:
        return None
    directory = os.path.dirname(path) or "."
    try:
        fs = os.statvfs(directory)
    except OSError:
        return None
    return FreeSpace(path, fs.f_bavail * fs.f_frsize, fs.f_blocks * fs.f_frsize, "filesystem")


def space_guard(dom: Domain, min_free: str) -> Optional[str]:
    """None when each disk of ``dom`` has ``min_free`` (``"10%"``, ``"20GiB"``) free.

    Otherwise the reason, starting "free space", with the figures of each
    disk that is short or whose free space cannot be determined.
    """
    threshold = parse_threshold(min_free)
    conn = dom.get_connect()
    local = is_local_uri(conn.uri)
    problems = []
    for target, path in disk_sources(dom):
        space = free_space(conn, path, local=local)
        if space is None:
            problems.append(f"{target} ({path}): cannot be determined (no storage pool holds "
                            "it" + ("" if local else " and the hypervisor is remote") + ")")
        elif space.below(threshold):
            percent = 100.0 * space.free / space.total if space.total else 0.0
            problems.append(f"{target}: {format_bytes(space.free)} free of "
                            f"{format_bytes(space.total)} ({percent:.1f}%) in {space.source}")
    if not problems:
        return None
    return f"free space below min_free {min_free}: " + "; ".join(problems)
