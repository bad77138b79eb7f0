"""Revert to and delete external (disk-only, overlay) snapshots on every libvirt.

libvirt reverts to external snapshots from 9.9 and deletes them from 9.0, and
even the newest refuses some deletions (more than one child, outside the active
chain, an external child of an internal snapshot). :func:`revert` and
:func:`delete` call libvirt where it does the job and otherwise do what libvirt
11.3 does, through libvirt's own APIs (the domain definition, REDEFINE of
snapshot metadata, ``<metadata>``, storage volumes where a pool holds the images)
plus local ``qemu-img`` for the image files (libvirt has no API for an offline
commit or rebase, nor for an overlay outside a storage pool):

- revert to a disk-only snapshot puts each disk on a new overlay over the
  snapshot's image, restores the snapshot's domain definition, makes the
  snapshot current, and leaves the guest shut off unless ``running`` or
  ``paused``; the layer the guest ran on is removed when nothing needs it;
- revert to a snapshot with memory does the same, then restores the memory
  image with ``virDomainRestoreFlags`` onto the new overlays, running or paused
  as the snapshot was (or as ``running``/``paused`` say);
- delete merges the snapshot's layer into the one below it when exactly one
  layer depends on it, keeps it when several do, and removes it when none does,
  so no remaining snapshot and no disk loses a byte.

Crash safety: before its first change an operation writes its whole plan, a
list of idempotent steps, as an intent record in the domain's own
``<metadata>`` and advances it after each step. :func:`recover` (which
:func:`revert`, :func:`delete` and ``virtsnap check --repair`` call first)
finishes an interrupted plan from the step it stopped at.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple, TypedDict

from virtsnap._snapshot import (
    CreateFlags, DeleteFlags, Domain, DomainSnapshot, DomainState, ListFlags, RevertFlags,
    xml_escape,
)
from virtsnap._types import StorageVolume
from virtsnap.errors import InvalidArgumentError, LibvirtError, OperationInvalidError, OperationUnsupportedError, SnapshotNotFoundError

INTENT_URI = "urn:virtsnap:intent:1"
INTENT_KEY = "virtsnap"
XML_INACTIVE = 2  # VIR_DOMAIN_XML_INACTIVE
XML_SECURE = 1  # VIR_DOMAIN_XML_SECURE (domain and snapshot XML alike)
START_PAUSED = 1  # VIR_DOMAIN_START_PAUSED
SAVE_RUNNING = 2  # VIR_DOMAIN_SAVE_RUNNING
SAVE_PAUSED = 4  # VIR_DOMAIN_SAVE_PAUSED
# The record lives in the persistent definition, which virDomainDefineXML also writes.
AFFECT_CONFIG = 2  # VIR_DOMAIN_AFFECT_CONFIG
BLOCK_COMMIT_ACTIVE = 4  # VIR_DOMAIN_BLOCK_COMMIT_ACTIVE
BLOCK_JOB_ABORT_PIVOT = 2  # VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT
ERR_BLOCK_COPY_ACTIVE = 83  # VIR_ERR_BLOCK_COPY_ACTIVE: a pivot before the job is ready
REVERTS_EXTERNAL_SINCE = (9, 9, 0)
DELETES_EXTERNAL_SINCE = (9, 0, 0)

StepHook = Callable[[str, int], object]


class Step(TypedDict, total=False):
    """One idempotent step of a plan (JSON in the intent record): ``do`` names it."""

    do: str
    path: str
    backing: str
    backing_format: str
    src: str
    dst: str
    top: str
    base: str
    target: str
    active: bool
    snapshot: str
    current: bool
    paused: bool
    xml: str
    memory: str
    flags: int


class Record(TypedDict):
    """The intent record of an operation: its plan and how many steps are done."""

    op: str
    snapshot: str
    steps: List[Step]
    done: int
    started: int


@dataclass
class Outcome:
    """What :func:`revert` or :func:`delete` did: ``by`` is "libvirt" or "virtsnap"."""

    by: str
    steps: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading XML

def _snapshot_tree(snapshot: DomainSnapshot) -> ElementTree.Element:
    return ElementTree.fromstring(snapshot.get_xml_description(XML_SECURE))


def is_external(snapshot: DomainSnapshot) -> bool:
    """Whether any disk or the memory of ``snapshot`` is external."""
    root = ElementTree.fromstring(snapshot.get_xml_description())  # read-only connections too
    memory = root.find("memory")
    if memory is not None and memory.get("snapshot") == "external":
        return True
    return any(d.get("snapshot") == "external" for d in root.findall("disks/disk"))


def _disk_sources(domain_root: ElementTree.Element) -> Dict[str, Tuple[str, str]]:
    """target dev -> (file, format) of each file-backed disk of a <domain>."""
    out = {}
    for disk in domain_root.findall("devices/disk"):
        target, source = disk.find("target"), disk.find("source")
        if target is None or source is None or not source.get("file"):
            continue
        driver = disk.find("driver")
        fmt = (driver.get("type") if driver is not None else None) or "raw"
        out[target.get("dev") or ""] = (source.get("file") or "", fmt)
    return out


def _external_targets(snap_root: ElementTree.Element) -> Dict[str, Optional[str]]:
    """target dev -> overlay file of each external disk of a snapshot's XML."""
    out: Dict[str, Optional[str]] = {}
    for disk in snap_root.findall("disks/disk"):
        if disk.get("snapshot") == "external":
            source = disk.find("source")
            out[disk.get("name") or ""] = source.get("file") if source is not None else None
    return out


def _snapshot_domain(snap_root: ElementTree.Element) -> ElementTree.Element:
    dom = snap_root.find("inactiveDomain")
    if dom is None:
        dom = snap_root.find("domain")
    if dom is None:
        raise OperationInvalidError(
            f"snapshot '{snap_root.findtext('name')}' has no domain definition to revert to")
    return dom


# ---------------------------------------------------------------- image files (local qemu-img)

def _qemu_img(*args: str) -> str:
    try:
        proc = subprocess.run(["qemu-img", *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=3600)
    except OSError as exc:
        raise OperationUnsupportedError(f"cannot run qemu-img: {exc}") from None
    if proc.returncode != 0:
        raise OperationInvalidError(f"qemu-img {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def image_backing(path: str) -> Tuple[Optional[str], Optional[str]]:
    """(backing file, its format) of ``path``, (None, None) for a base image."""
    info = json.loads(_qemu_img("info", "-U", "--output=json", path))
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    if backing and not os.path.isabs(backing):
        backing = os.path.join(os.path.dirname(path), backing)
    return backing, info.get("backing-filename-format")


class Layers:
    """The backing relation of every image file a domain's disk and snapshots name."""

    def __init__(self) -> None:
        self.backing: Dict[str, Optional[str]] = {}
        self.format: Dict[str, Optional[str]] = {}
        self.missing: List[str] = []

    def add_chain(self, path: Optional[str], required: bool = True) -> None:
        """Follow ``path``'s backing chain; a missing file counts only if ``required``
        (a snapshot's overlay is gone once nothing builds on it, as with libvirt)."""
        seen = set()
        while path and path not in self.backing and path not in seen:
            seen.add(path)
            if not os.path.exists(path):
                if required and path not in self.missing:
                    self.missing.append(path)
                return
            backing, fmt = image_backing(path)
            self.backing[path] = backing
            if backing:
                self.format[backing] = fmt
            path = backing

    def chain(self, path: Optional[str]) -> List[str]:
        out = []
        while path and path not in out:
            out.append(path)
            path = self.backing.get(path)
        return out

    def dependents(self, path: str) -> List[str]:
        return sorted(p for p, b in self.backing.items() if b == path)


@dataclass
class DiskView:
    """One disk target: the file the domain uses, and each snapshot's image and overlay."""

    target: str
    current: Optional[str]
    bases: Dict[str, str]  # snapshot name -> the image holding its data
    overlays: Dict[str, Optional[str]]  # snapshot name -> the overlay it created


def _views(domain: Domain) -> Tuple[Dict[str, DiskView], Layers, Dict[str, ElementTree.Element]]:
    dom_root = ElementTree.fromstring(domain.get_xml_description(XML_INACTIVE | XML_SECURE))
    current = _disk_sources(dom_root)
    snaps = {s.name: _snapshot_tree(s) for s in domain.list_all_snapshots()}
    views: Dict[str, DiskView] = {}
    for target, (path, _fmt) in current.items():
        views[target] = DiskView(target, path, {}, {})
    for name, root in snaps.items():
        sources = _disk_sources(_snapshot_domain(root))
        for target, overlay in _external_targets(root).items():
            view = views.setdefault(target, DiskView(target, None, {}, {}))
            if target in sources:
                view.bases[name] = sources[target][0]
            view.overlays[name] = overlay
    layers = Layers()
    for view in views.values():
        layers.add_chain(view.current)
        for path in view.bases.values():
            layers.add_chain(path)
        for overlay in view.overlays.values():
            layers.add_chain(overlay, required=False)
    return views, layers, snaps


def needed_files(views: Dict[str, DiskView], layers: Layers,
                 without: Optional[str] = None) -> Set[str]:
    """Every file in the chain of a disk or of a snapshot's image (but ``without``'s)."""
    out: Set[str] = set()
    for view in views.values():
        out.update(layers.chain(view.current))
        for name, base in view.bases.items():
            if name != without:
                out.update(layers.chain(base))
    return out


# ---------------------------------------------------------------- intent records

def _intent_xml(record: Record) -> str:
    element = ElementTree.Element("intent")
    element.text = json.dumps(record, sort_keys=True)
    return ElementTree.tostring(element, encoding="unicode")


def read_intent(domain: Domain) -> Optional[Record]:
    """The unfinished operation recorded on ``domain``, or None."""
    text = domain.get_metadata(INTENT_URI, AFFECT_CONFIG)
    if text is None:
        return None
    record: Optional[Record] = json.loads(ElementTree.fromstring(text).text or "null")
    return record


def _write_intent(domain: Domain, record: Optional[Record]) -> None:
    domain.set_metadata(None if record is None else _intent_xml(record), INTENT_KEY, INTENT_URI,
                        AFFECT_CONFIG)


def _with_intent(domain_xml: str, record: Optional[Record]) -> str:
    """``domain_xml`` carrying ``record`` (or no record) in its <metadata>."""
    root = ElementTree.fromstring(domain_xml)
    metadata = root.find("metadata")
    if metadata is not None:
        for child in list(metadata):
            if child.tag.startswith("{" + INTENT_URI + "}"):
                metadata.remove(child)
    if record is not None:
        if metadata is None:
            metadata = ElementTree.SubElement(root, "metadata")
        element = ElementTree.SubElement(metadata, f"{{{INTENT_URI}}}intent")
        element.text = json.dumps(record, sort_keys=True)
    return ElementTree.tostring(root, encoding="unicode")


# ---------------------------------------------------------------- steps (each idempotent)

VOL_FILE = 0  # VIR_STORAGE_VOL_FILE
ERR_NO_STORAGE_VOL = 50  # VIR_ERR_NO_STORAGE_VOL


def _file_volume(domain: Domain, path: str) -> Optional[StorageVolume]:
    """The storage volume at ``path`` if a pool holds it as a plain file, or None
    (also for a pool's stale entry whose file is gone, e.g. removed by libvirt's revert)."""
    try:
        volume = domain.get_connect().storage_volume(path)
    except LibvirtError as exc:
        if exc.code != ERR_NO_STORAGE_VOL:
            raise
        return None
    return volume if volume is not None and volume["type"] == VOL_FILE else None


def _overlay_volume_xml(name: str, capacity: int, backing: str, backing_format: str) -> str:
    return (f"<volume><name>{xml_escape(name)}</name>"
            f"<capacity unit='bytes'>{capacity}</capacity>"
            f"<target><format type='qcow2'/></target>"
            f"<backingStore><path>{xml_escape(backing)}</path>"
            f"<format type='{xml_escape(backing_format)}'/></backingStore></volume>")


def _step_create_overlay(domain: Domain, step: Step) -> None:
    """A new qcow2 overlay: a volume of the backing image's pool when it lies in that
    pool's directory (virStorageVolCreateXML), else local ``qemu-img create``. A
    leftover of an interrupted run is removed first: nothing has written to it yet."""
    path, backing = step["path"], step["backing"]
    backing_volume = _file_volume(domain, backing)
    if backing_volume is None or os.path.dirname(path) != os.path.dirname(backing):
        _qemu_img("create", "-q", "-f", "qcow2", "-F", step["backing_format"], "-b",
                  backing, path)
        return
    _step_remove(domain, {"path": path})
    domain.get_connect().create_storage_volume(backing_volume["pool"], _overlay_volume_xml(
        os.path.basename(path), backing_volume["capacity"], backing, step["backing_format"]))


def _step_define(domain: Domain, step: Step, record: Record) -> None:
    # The new definition carries the record advanced past this step.
    advanced = record.copy()
    advanced["done"] += 1
    domain.define_xml(_with_intent(step["xml"], advanced))


def _step_copy(domain: Domain, step: Step) -> None:
    shutil.copyfile(step["src"], step["dst"] + ".part")
    os.replace(step["dst"] + ".part", step["dst"])


def _step_remove(domain: Domain, step: Step) -> None:
    """Remove a file: with virStorageVolDelete if it is a pool's volume, else unlink."""
    if _file_volume(domain, step["path"]) is not None:
        domain.get_connect().delete_storage_volume(step["path"])
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(step["path"])


def _step_commit(domain: Domain, step: Step) -> None:
    # -d keeps the top intact, so the step can run again after a crash.
    _qemu_img("commit", "-q", "-d", "-b", step["base"], step["top"])


def _live_chain(domain: Domain, target: str) -> List[str]:
    """The files of ``target``'s chain in the running domain's XML (its backingStore)."""
    root = ElementTree.fromstring(domain.get_xml_description())
    for disk in root.findall("devices/disk"):
        dev = disk.find("target")
        if dev is None or dev.get("dev") != target:
            continue
        out = []
        node: Optional[ElementTree.Element] = disk
        while node is not None:
            source = node.find("source")
            if source is None or not source.get("file"):
                break
            out.append(source.get("file") or "")
            node = node.find("backingStore")
        return out
    return []


def _step_block_commit(domain: Domain, step: Step) -> None:
    """libvirt's block commit of a running guest's layer, pivoting when it is the active
    one; after a crash the job may still run (wait for it) or be over (nothing to do)."""
    target, top = step["target"], step["top"]
    if domain.block_job_info(target) is None:
        if top not in _live_chain(domain, target):
            return
        domain.block_commit(target, step["base"], top, 0,
                            BLOCK_COMMIT_ACTIVE if step["active"] else 0)
    while True:
        info = domain.block_job_info(target)
        if info is None:
            break
        if step["active"] and info["end"] and info["cur"] == info["end"]:
            try:
                domain.block_job_abort(target, BLOCK_JOB_ABORT_PIVOT)
                continue
            except LibvirtError as exc:  # all copied, but QEMU has not said "ready" yet
                if exc.code != ERR_BLOCK_COPY_ACTIVE:
                    raise
        time.sleep(0.05)
    if top in _live_chain(domain, target):
        raise OperationInvalidError(f"block commit of {top} into {step['base']} did not "
                                    f"complete; nothing was removed")


def _step_rebase(domain: Domain, step: Step) -> None:
    # Unsafe rebase: the new backing file holds the same bytes as the old one.
    _qemu_img("rebase", "-q", "-u", "-F", step["backing_format"], "-b", step["backing"],
              step["path"])


def _step_redefine(domain: Domain, step: Step) -> None:
    flags = CreateFlags.REDEFINE | (CreateFlags.CURRENT if step.get("current") else 0)
    domain.create_snapshot(step["xml"], flags)


def _step_drop_metadata(domain: Domain, step: Step) -> None:
    try:
        domain.get_snapshot_by_name(step["snapshot"]).delete(DeleteFlags.METADATA_ONLY)
    except SnapshotNotFoundError:
        pass


def _step_start(domain: Domain, step: Step) -> None:
    if domain.state() == DomainState.SHUTOFF:
        domain.start(START_PAUSED if step.get("paused") else 0)


def _step_restore(domain: Domain, step: Step) -> None:
    """Start the guest from the snapshot's memory image, on the disks of ``xml``."""
    if domain.state() != DomainState.SHUTOFF:
        return  # restored before an interruption
    domain.get_connect().restore(step["memory"], step["xml"], step["flags"])


def _step_destroy(domain: Domain, step: Step) -> None:
    if domain.state() != DomainState.SHUTOFF:
        domain.destroy()


_STEPS: Dict[str, Callable[[Domain, Step], None]] = {
    "create_overlay": _step_create_overlay,
    "remove": _step_remove,
    "commit": _step_commit,
    "rebase": _step_rebase,
    "block_commit": _step_block_commit,
    "redefine": _step_redefine,
    "drop_metadata": _step_drop_metadata,
    "start": _step_start,
    "destroy": _step_destroy,
    "restore": _step_restore,
    "copy": _step_copy,
}


def describe(step: Step) -> str:
    do = step["do"]
    if do in ("create_overlay", "remove", "rebase"):
        return f"{do} {step['path']}"
    if do in ("commit", "block_commit"):
        return f"{do} {step['top']} into {step['base']}"
    if do in ("redefine", "drop_metadata"):
        return f"{do} {step['snapshot']}"
    if do == "copy":
        return f"copy {step['src']} to {step['dst']}"
    if do == "restore":
        return f"restore {step['memory']}"
    return str(do)


def _run(domain: Domain, record: Record, on_step: Optional[StepHook]) -> List[str]:
    """Run the record's steps from the first one not done; clear the record at the end."""
    done = []
    steps = record["steps"]
    while record["done"] < len(steps):
        index = record["done"]
        step = steps[index]
        if on_step is not None:
            on_step(step["do"], index)
        if step["do"] == "define":
            _step_define(domain, step, record)
        else:
            _STEPS[step["do"]](domain, step)
        record["done"] = index + 1
        if step["do"] != "define":
            _write_intent(domain, record)
        done.append(describe(step))
    if on_step is not None:
        on_step("finish", len(steps))
    _write_intent(domain, None)
    return done


def execute_plan(domain: Domain, op: str, snapshot: str, steps: List[Step],
                 on_step: Optional[StepHook] = None) -> Outcome:
    """Run a plan of :func:`plan_revert` or :func:`plan_delete` with its intent record,
    whatever libvirt could do itself (:func:`revert` and :func:`delete` call this only
    where libvirt refuses): to compare virtsnap's way with libvirt's."""
    with _exclusive(domain):
        return _execute(domain, op, snapshot, steps, on_step)


def _execute(domain: Domain, op: str, snapshot: str, steps: List[Step],
             on_step: Optional[StepHook]) -> Outcome:
    record: Record = {"op": op, "snapshot": snapshot, "steps": steps, "done": 0,
                      "started": int(time.time())}
    _write_intent(domain, record)
    done = _run(domain, record, on_step)
    return Outcome("virtsnap", done,
                   [s["path"] for s in steps if s["do"] == "remove"])


def recover(domain: Domain, *, on_step: Optional[StepHook] = None) -> Optional[Outcome]:
    """Finish the operation an earlier call left unfinished on ``domain``, if any."""
    with _exclusive(domain):
        return _recover(domain, on_step)


def _recover(domain: Domain, on_step: Optional[StepHook]) -> Optional[Outcome]:
    record = read_intent(domain)
    if record is None:
        return None
    done = _run(domain, record, on_step)
    return Outcome("virtsnap", done,
                   [s["path"] for s in record["steps"] if s["do"] == "remove"])


# ---------------------------------------------------------------- one operation at a time

def lock_path(domain: Domain) -> str:
    """The file whose ``flock`` serialises virtsnap's external operations on ``domain``
    on this host (beside ``virtsnap auto``'s locks, under another name)."""
    from virtsnap.policy.locks import default_lock_dir

    return os.path.join(default_lock_dir(), f"external-{domain.uuid}.lock")


@contextlib.contextmanager
def _exclusive(domain: Domain) -> Iterator[None]:
    """Hold the domain's lock, waiting for another virtsnap's operation to end: a second
    process must not run (or recover) the same plan meanwhile."""
    from virtsnap.policy.locks import prepare_lock_dir

    path = lock_path(domain)
    prepare_lock_dir(os.path.dirname(path))  # owned by us, no symlink, 0700
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


# ---------------------------------------------------------------- NVRAM of UEFI guests

def nvram_copy_path(nvram: str, snapshot_name: str) -> str:
    """Where the NVRAM copy of snapshot ``snapshot_name`` lives: beside the NVRAM file."""
    return f"{nvram}.snapshot-{snapshot_name.replace('/', '%2F')}"


def _nvram_copy(domain: Domain, snapshot_name: str) -> Optional[str]:
    """The NVRAM copy kept for ``snapshot_name``, if the guest has NVRAM and there is one."""
    nvram = _nvram(domain)
    if nvram is None or not is_local(domain):
        return None
    path = nvram_copy_path(nvram, snapshot_name)
    return path if os.path.exists(path) else None


def create(domain: Domain, xml: Optional[str] = None, flags: int = 0, *,
           name: Optional[str] = None, description: Optional[str] = None) -> DomainSnapshot:
    """``Domain.create_snapshot``, plus, for an external snapshot of a guest with NVRAM
    (UEFI), a copy of the NVRAM file that :func:`revert` puts back (libvirt keeps none)."""
    snapshot = domain.create_snapshot(xml, flags, name=name, description=description)
    if flags & CreateFlags.NO_METADATA:
        return snapshot  # libvirt keeps nothing to revert to
    nvram = _nvram(domain)
    if nvram and is_local(domain) and os.path.exists(nvram) and is_external(snapshot):
        copy = nvram_copy_path(nvram, snapshot.name)
        shutil.copyfile(nvram, copy + ".part")
        os.replace(copy + ".part", copy)
    return snapshot


# ---------------------------------------------------------------- revert

def _nvram(domain: Domain) -> Optional[str]:
    nvram = ElementTree.fromstring(domain.get_xml_description(XML_INACTIVE)).find("os/nvram")
    return nvram.text if nvram is not None and nvram.text else None


def is_local(domain: Domain) -> bool:
    """Whether the hypervisor runs on this host (a URI without a host name), so that
    ``qemu-img`` here sees the files libvirt names."""
    from urllib.parse import urlparse

    return urlparse(domain.get_connect().uri).hostname in (None, "", "localhost")


def _require_local(domain: Domain, what: str) -> None:
    if not is_local(domain):
        raise OperationUnsupportedError(
            f"{what} needs qemu-img on the hypervisor's host: run virtsnap there")


def _lib_version(domain: Domain) -> Tuple[int, int, int]:
    return domain.get_connect().get_lib_version()


def _overlay_name(base: str, existing: Set[str]) -> str:
    stem = os.path.splitext(base)[0]
    stamp = int(time.time())
    while True:
        path = f"{stem}.{stamp}"
        if path not in existing and not os.path.exists(path):
            return path
        stamp += 1


def plan_revert(snapshot: DomainSnapshot, *, running: bool = False,
                paused: bool = False) -> List[Step]:
    """The steps that revert to an external ``snapshot`` as libvirt 11.3 does."""
    domain = snapshot.get_domain()
    root = _snapshot_tree(snapshot)
    views, layers, snaps = _views(domain)
    name = root.findtext("name") or ""
    memory = _memory_file(root)
    if memory is not None and not os.path.exists(memory):
        raise OperationInvalidError(f"snapshot '{name}' cannot be reverted to, its memory "
                                    f"image is missing: {memory}")
    gone = [path for view in views.values() if name in view.bases
            for path in layers.chain(view.bases[name]) if path in layers.missing]
    if gone:
        raise OperationInvalidError(f"snapshot '{name}' cannot be reverted to, its images are "
                                    f"missing: " + ", ".join(gone))
    new_domain = copy.deepcopy(_snapshot_domain(root))
    new_domain.tag = "domain"
    steps: List[Step] = []
    if domain.state() != DomainState.SHUTOFF:
        steps.append({"do": "destroy"})
    overlays: Dict[str, str] = {}
    created: Set[str] = set()
    sources = _disk_sources(new_domain)
    for target in _external_targets(root):
        base, fmt = sources[target]
        path = _overlay_name(base, created)
        created.add(path)
        overlays[target] = path
        steps.append({"do": "create_overlay", "path": path, "backing": base,
                      "backing_format": fmt})
    _point_disks(new_domain, overlays)
    nvram, nvram_copy = _nvram(domain), _nvram_copy(domain, name)
    if nvram is not None and nvram_copy is not None:
        steps.append({"do": "copy", "src": nvram_copy, "dst": nvram})
    steps.append({"do": "define", "xml": ElementTree.tostring(new_domain, encoding="unicode")})
    # The reverted-to snapshot becomes current; a leaf's overlay is the new one (as libvirt).
    if not snapshot.num_of_child_snapshots():
        for disk in root.findall("disks/disk"):
            source = disk.find("source")
            if disk.get("name") in overlays and source is not None:
                source.set("file", overlays[disk.get("name") or ""])
    steps.append({"do": "redefine", "snapshot": name, "current": True,
                  "xml": ElementTree.tostring(root, encoding="unicode")})
    # The layers the guest ran on go if no snapshot needs them any more.
    old = {target: views[target].current for target in overlays if target in views}
    for target in old:
        views[target].current = None
    keep = needed_files(views, layers)
    for target, top in old.items():
        for path in layers.chain(top):
            if path in keep:
                break
            steps.append({"do": "remove", "path": path})
    if memory is not None:
        running_definition = root.find("domain")  # the one the memory image was saved with
        saved = copy.deepcopy(running_definition if running_definition is not None
                              else _snapshot_domain(root))
        saved.tag = "domain"
        _point_disks(saved, overlays)
        if not running and (paused or root.findtext("state") == "paused"):
            flags = SAVE_PAUSED
        else:
            flags = SAVE_RUNNING
        steps.append({"do": "restore", "memory": memory, "flags": flags,
                      "xml": ElementTree.tostring(saved, encoding="unicode")})
    elif running or paused:
        steps.append({"do": "start", "paused": paused})
    return steps


def _memory_file(snap_root: ElementTree.Element) -> Optional[str]:
    """The memory image of a snapshot with external memory, or None."""
    memory = snap_root.find("memory")
    if memory is None or memory.get("snapshot") != "external":
        return None
    return memory.get("file") or None


def _point_disks(domain_root: ElementTree.Element, overlays: Dict[str, str]) -> None:
    """Put each disk of ``overlays`` (target dev -> file) on its new qcow2 overlay."""
    for disk in domain_root.findall("devices/disk"):
        dev = disk.find("target")
        source = disk.find("source")
        if dev is None or source is None or dev.get("dev") not in overlays:
            continue
        source.set("file", overlays[dev.get("dev") or ""])
        driver = disk.find("driver")
        if driver is None:
            driver = ElementTree.SubElement(disk, "driver", name="qemu")
        driver.set("type", "qcow2")
        for backing in disk.findall("backingStore"):
            disk.remove(backing)


def revert(snapshot: DomainSnapshot, *, running: bool = False, paused: bool = False, force: bool = False,
           reset_nvram: bool = False, on_step: Optional[StepHook] = None) -> Outcome:
    """Revert to ``snapshot`` (libvirt's ``virDomainRevertToSnapshot``, for any snapshot
    on any libvirt).

    ``on_step(name, index)`` is called before each step virtsnap takes itself
    (and with "finish" before it clears the intent record): progress reports, or
    a test that kills the process there.
    """
    if running and paused:  # libvirt's own refusal (InvalidArgumentError), as virsh shows it
        snapshot.revert_to(RevertFlags.RUNNING | RevertFlags.PAUSED)
    domain = snapshot.get_domain()
    with _exclusive(domain):
        return _revert(snapshot, domain, running, paused, force, reset_nvram, on_step)


def _libvirt_revert(snapshot: DomainSnapshot, flags: int) -> None:
    """libvirt's revert. From 9.9 libvirt names a reverted disk's new overlay after the
    snapshot's image and the current second, so a second revert to the same snapshot
    within that second finds the name taken ("already exists"): it is tried once more
    in the next second."""
    try:
        snapshot.revert_to(flags)
    except OperationUnsupportedError as exc:
        if not is_external(snapshot) or "already exists" not in str(exc):
            raise
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        snapshot.revert_to(flags)


def _revert(snapshot: DomainSnapshot, domain: Domain, running: bool, paused: bool,
            force: bool, reset_nvram: bool, on_step: Optional[StepHook]) -> Outcome:
    _recover(domain, on_step)
    flags = ((RevertFlags.RUNNING if running else 0) | (RevertFlags.PAUSED if paused else 0)
             | (RevertFlags.FORCE if force else 0))
    if reset_nvram:
        flags |= RevertFlags.RESET_NVRAM
    if not is_external(snapshot) or _lib_version(domain) >= REVERTS_EXTERNAL_SINCE:
        nvram = _nvram(domain)
        nvram_copy = _nvram_copy(domain, snapshot.name) if is_external(snapshot) else None
        if nvram is None or nvram_copy is None:
            _libvirt_revert(snapshot, flags)
            return Outcome("libvirt")
        # libvirt reverts the disks; the NVRAM goes back before the guest starts
        _libvirt_revert(snapshot, flags & ~(RevertFlags.RUNNING | RevertFlags.PAUSED))
        _step_copy(domain, {"src": nvram_copy, "dst": nvram})
        if running or paused:
            domain.start(START_PAUSED if paused else 0)
        return Outcome("libvirt", [f"copy {nvram_copy}"])
    if reset_nvram and _nvram(domain):
        raise OperationUnsupportedError(
            "resetting NVRAM on revert to an external snapshot needs libvirt 9.9 or later")
    _require_local(domain, f"reverting to external snapshot '{snapshot.name}' on libvirt "
                           f"older than 9.9")
    steps = plan_revert(snapshot, running=running, paused=paused)
    return _execute(domain, "revert", snapshot.name, steps, on_step)


# ---------------------------------------------------------------- delete

def _replace_file(root: ElementTree.Element, old: str, new: str) -> bool:
    changed = False
    for source in root.iter("source"):
        if source.get("file") == old:
            source.set("file", new)
            changed = True
    return changed


def plan_delete(snapshot: DomainSnapshot) -> List[Step]:
    """The steps that delete external ``snapshot`` losing no byte of anything that remains."""
    domain = snapshot.get_domain()
    name = snapshot.name
    views, layers, snaps = _views(domain)
    running = domain.state() != DomainState.SHUTOFF
    active = set()
    for view in views.values():
        active.update(layers.chain(view.current))
    steps: List[Step] = []
    redefine: Dict[str, ElementTree.Element] = {}
    remove: List[str] = []
    for target, view in views.items():
        base = view.bases.get(name)
        if base is None:
            continue
        if any(path in layers.missing for path in layers.chain(base)):
            continue  # its files are gone already: only the metadata goes
        keep = needed_files(views, layers, without=name)
        if base in keep:
            dependents = layers.dependents(base)
            if len(dependents) != 1 or any(base == b for n, b in view.bases.items() if n != name):
                continue  # several layers build on it: it stays, only the metadata goes
            top = dependents[0]
            live = running and top in active
            if live:  # QEMU merges it and moves the layer above onto the base
                steps.append({"do": "block_commit", "target": target, "top": top, "base": base,
                              "active": top == view.current})
            else:
                steps.append({"do": "commit", "top": top, "base": base})
            for child in layers.dependents(top):
                if not (live and child in active):
                    steps.append({"do": "rebase", "path": child, "backing": base,
                                  "backing_format": layers.format.get(top) or "qcow2"})
            for other, root in snaps.items():
                if other != name and _replace_file(_snapshot_domain(root), top, base):
                    redefine[other] = root
            if view.current == top:
                steps.append({"do": "define_disk", "target": target, "path": base})
            remove.append(top)
        else:
            # Nothing else needs the snapshot's layers: the ones only it needs go.
            for path in layers.chain(base):
                if path in keep or path in active:
                    break
                remove.append(path)
            overlay = view.overlays.get(name)
            if overlay and overlay not in keep and overlay not in active \
                    and not layers.dependents(overlay):
                remove.append(overlay)
    # Dropping the metadata moves the children to the parent, and libvirt 9.0 and
    # later also rewrite their disks: redefine them afterwards as they must read.
    parent = snapshot.get_parent()
    for child in snapshot.list_child_snapshot_names():
        root = snaps[child]
        for element in root.findall("parent"):
            root.remove(element)
        if parent is not None:
            ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = \
                parent.name
        redefine[child] = root
    steps.append({"do": "drop_metadata", "snapshot": name})
    nvram_copy = _nvram_copy(domain, name)
    if nvram_copy is not None:
        remove.append(nvram_copy)
    memory = _memory_file(_snapshot_tree(snapshot))
    if memory is not None and os.path.exists(memory):
        remove.append(memory)
    for other, root in redefine.items():
        steps.append({"do": "redefine", "snapshot": other,
                      "current": snaps_is_current(domain, other),
                      "xml": ElementTree.tostring(root, encoding="unicode")})
    for path in dict.fromkeys(remove):
        steps.append({"do": "remove", "path": path})
    return _resolve_define_disk(domain, steps)


def snaps_is_current(domain: Domain, name: str) -> bool:
    return domain.get_snapshot_by_name(name).is_current()


def _resolve_define_disk(domain: Domain, steps: List[Step]) -> List[Step]:
    """Turn the plan's disk switches into one definition of the domain."""
    switches = [s for s in steps if s["do"] == "define_disk"]
    if not switches:
        return steps
    root = ElementTree.fromstring(domain.get_xml_description(XML_INACTIVE | XML_SECURE))
    for switch in switches:
        for disk in root.findall("devices/disk"):
            target = disk.find("target")
            source = disk.find("source")
            if target is not None and source is not None \
                    and target.get("dev") == switch["target"]:
                source.set("file", switch["path"])
                for backing in disk.findall("backingStore"):
                    disk.remove(backing)
    xml = ElementTree.tostring(root, encoding="unicode")
    out = [s for s in steps if s["do"] != "define_disk"]
    # The definition moves off the merged top before the top is removed.
    first_remove = next(i for i, s in enumerate(out) if s["do"] in ("redefine", "drop_metadata"))
    out.insert(first_remove, {"do": "define", "xml": xml})
    return out


def delete(snapshot: DomainSnapshot, *, children: bool = False, children_only: bool = False,
           metadata_only: bool = False, on_step: Optional[StepHook] = None) -> Outcome:
    """Delete ``snapshot`` (``virDomainSnapshotDelete`` for any snapshot on any libvirt).

    ``children`` also deletes its descendants, ``children_only`` only them, leaves
    first, one at a time; ``metadata_only`` is libvirt's own (it keeps every file).
    ``on_step`` is as for :func:`revert`.
    """
    if children and children_only:  # libvirt's own refusal, as virsh shows it
        snapshot.delete(DeleteFlags.CHILDREN | DeleteFlags.CHILDREN_ONLY)
    domain = snapshot.get_domain()
    with _exclusive(domain):
        _recover(domain, on_step)
        return _delete(snapshot, domain, children, children_only, metadata_only, on_step)


def _delete(snapshot: DomainSnapshot, domain: Domain, children: bool, children_only: bool,
            metadata_only: bool, on_step: Optional[StepHook]) -> Outcome:
    if metadata_only:
        flags = DeleteFlags.METADATA_ONLY
        flags |= DeleteFlags.CHILDREN if children else 0
        flags |= DeleteFlags.CHILDREN_ONLY if children_only else 0
        snapshot.delete(flags)
        return Outcome("libvirt")
    if children or children_only:
        outcome = Outcome("libvirt")
        victims = list(reversed(snapshot.list_all_children(
            ListFlags.DESCENDANTS | ListFlags.TOPOLOGICAL)))
        if children:
            victims.append(snapshot)
        for victim in victims:
            sub = _delete(victim, domain, False, False, False, on_step)
            if sub.by == "virtsnap":
                outcome.by = "virtsnap"
            outcome.steps += sub.steps
            outcome.removed += sub.removed
        return outcome
    if not is_external(snapshot):
        snapshot.delete()
        return Outcome("libvirt")
    # libvirt (9.0 and later) is called for the merges it can do. Removing layers that
    # nothing needs any more, or keeping a branch point's, is virtsnap's: libvirt refuses
    # those, or (a leaf outside the active chain, libvirt 9.9 and later) keeps the layer
    # below the leaf's overlay although only the leaf needed it.
    local = is_local(domain)
    if _lib_version(domain) >= DELETES_EXTERNAL_SINCE and (
            not local or any(step["do"] in ("commit", "block_commit")
                             for step in plan_delete(snapshot))):
        try:
            # libvirt keeps no NVRAM copy, and 9.0 keeps the memory image
            extra = [path for path in (_nvram_copy(domain, snapshot.name),
                                       _memory_file(_snapshot_tree(snapshot)))
                     if local and path is not None]
            snapshot.delete()
            for path in extra:
                _step_remove(domain, {"path": path})
            return Outcome("libvirt", removed=extra)
        except (OperationUnsupportedError, OperationInvalidError, InvalidArgumentError):
            pass  # refused in validation, before any change; virtsnap does it below
    _require_local(domain, f"deleting external snapshot '{snapshot.name}' where libvirt refuses")
    steps = plan_delete(snapshot)
    return _execute(domain, "delete", snapshot.name, steps, on_step)


# ---------------------------------------------------------------- check

@dataclass
class Problem:
    """One inconsistency: ``kind`` is missing-file, snapshot-image-missing,
    unreferenced-layer, unfinished-operation, missing-memory or missing-nvram."""

    kind: str
    detail: str
    path: Optional[str] = None
    snapshot: Optional[str] = None


@dataclass
class Report:
    """What :func:`check` found: ``files`` are the image files something needs."""

    domain: str
    problems: List[Problem] = field(default_factory=list)
    files: List[str] = field(default_factory=list)
    repaired: List[str] = field(default_factory=list)
    local: bool = True  # False: a remote hypervisor, whose files were not read

    @property
    def consistent(self) -> bool:
        return not self.problems

    def to_dict(self) -> Dict[str, object]:
        return {"domain": self.domain, "consistent": self.consistent,
                "problems": [p.__dict__ for p in self.problems], "files": self.files,
                "repaired": self.repaired, "local": self.local}


def check(domain: Domain, *, repair: bool = False) -> Report:
    """Check ``domain``'s snapshot metadata against its disks' real backing chains
    (read with local ``qemu-img``); ``repair`` finishes an unfinished operation first
    and touches nothing else."""
    report = Report(domain.name)
    if repair:
        outcome = recover(domain)
        if outcome is not None:
            report.repaired = outcome.steps
    record = read_intent(domain)
    if record is not None:
        report.problems.append(Problem(
            "unfinished-operation",
            f"{record['op']} of snapshot '{record['snapshot']}' stopped after step "
            f"{record['done']} of {len(record['steps'])}", snapshot=record["snapshot"]))
    if not is_local(domain):
        report.local = False
        return report  # the image files are on another host: only the record is checked
    views, layers, snaps = _views(domain)
    needed = needed_files(views, layers)
    report.files = sorted(p for p in needed if os.path.exists(p))
    for path in layers.missing:
        users = sorted(name for view in views.values() for name, base in view.bases.items()
                       if path in layers.chain(base) or path == base)
        in_disk = any(path in layers.chain(v.current) or path == v.current
                      for v in views.values())
        if users:
            for name in users:
                report.problems.append(Problem(
                    "snapshot-image-missing", f"snapshot '{name}' needs {path}, which is gone",
                    path, name))
        if in_disk or not users:
            report.problems.append(Problem("missing-file", f"{path} is missing", path))
    for view in views.values():
        for name, overlay in view.overlays.items():
            if overlay and overlay in layers.backing and overlay not in needed:
                report.problems.append(Problem(
                    "unreferenced-layer",
                    f"{overlay} (overlay of '{name}') is needed by no snapshot and no disk",
                    overlay, name))
    for name, root in snaps.items():
        memory = root.find("memory")
        memory_file = memory.get("file") if memory is not None else None
        if memory is not None and memory.get("snapshot") == "external" \
                and memory_file and not os.path.exists(memory_file):
            report.problems.append(Problem(
                "missing-memory", f"memory image of '{name}' is missing: {memory_file}",
                memory_file, name))
    nvram = _nvram(domain)
    if nvram and not os.path.exists(nvram):
        report.problems.append(Problem("missing-nvram", f"NVRAM file {nvram} is missing", nvram))
    return report
