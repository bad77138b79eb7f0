"""Export a domain's snapshot metadata to a directory, and import it elsewhere.

This moves snapshot *metadata* (the XML libvirt keeps), e.g. to the new host
of a migrated guest; disk images and memory files are not copied.

Layout of an export directory (created with mode 0700; every file 0600)::

    index.json          the index, below
    snapshot-0001.xml   one snapshot's XML per file, numbered in index order
    snapshot-0002.xml   (numbers, not names: a name may hold '/' or '..')
    ...

``index.json``::

    {
      "format": "virtsnap-snapshots",
      "version": 1,
      "domain": {"name": "test", "uuid": "6695eb01-..."},
      "current": "b",                      # or null
      "snapshots": [                       # parents before children
        {"name": "a", "parent": null, "file": "snapshot-0001.xml"},
        {"name": "b", "parent": "a", "file": "snapshot-0002.xml"}
      ]
    }

Export reads the listing before and after fetching the XML, and raises
:class:`SnapshotsChangedError` if another client created or deleted a
snapshot meanwhile: an export holds every snapshot, or fails. By default
libvirt leaves security-sensitive data out of the XML, such as the ``passwd``
of the VNC and SPICE ``<graphics>`` in the embedded domain definition; an
import of such an export restores the definition without them.
``secure=True`` fetches with ``XMLFlags.SECURE`` (which a read-only
connection may not do). A carriage return in a name, a description or any
text is written as ``&#13;``: XML parsers, libvirt's too, read a raw CR as LF.

Import redefines every snapshot with ``CreateFlags.REDEFINE``, parents
before children, then redefines the current one once more with
``REDEFINE|CURRENT`` (libvirt needs a parent to exist before its children, so
the current snapshot cannot simply come last when it has children). It is
all or nothing: it refuses a name the domain already has, unless
``replace=True``; if libvirt refuses any step, it deletes the metadata of the
snapshots it added, redefines the ones it replaced as they were, makes the
previous current snapshot current again, and re-raises.

libvirt refuses to redefine a snapshot whose embedded ``<domain>``
definition carries another domain's UUID ("definition for snapshot X must
use uuid Y"). When importing onto a different domain, the ``<name>`` and
``<uuid>`` of the ``<domain>`` (and ``<inactiveDomain>``) inside each
snapshot are therefore rewritten to the target domain's; the rest of that
definition is kept, and is what a revert to the snapshot would restore.
Importing onto the same domain (same UUID and name, the migration case)
passes the XML through unchanged.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from typing import Dict, List, Optional, TextIO, Tuple, Union

from virtsnap import CreateFlags, DeleteFlags, Domain, DomainSnapshot, LibvirtError, XMLFlags
from virtsnap._files import open_output_dir, write_atomic
from virtsnap.info import parse_snapshot_xml
from virtsnap.tree import SnapshotTree

__all__ = ["INDEX_FILE", "ImportRollbackError", "SnapshotExistsError", "SnapshotsChangedError",
           "TransferError", "export_snapshots", "import_snapshots", "retarget_snapshot_xml"]

#: The index that :func:`export_snapshots` writes beside the XML files: names, parents, order.
INDEX_FILE = "index.json"
FORMAT = "virtsnap-snapshots"
VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


class TransferError(Exception):
    """An export or import that was not done: see the subclasses."""


class SnapshotsChangedError(TransferError):
    """Snapshots were created or deleted while the export read them."""


class SnapshotExistsError(TransferError):
    """The import would overwrite snapshots the domain has (``replace=True`` allows it).

    ``domain`` and ``names`` let a caller word the advice its own way (``--replace``).
    """

    def __init__(self, domain: str, names: List[str], advice: str = "replace=True") -> None:
        self.domain, self.names = domain, names
        super().__init__(f"domain {domain} already has snapshot(s) "
                         f"{', '.join(map(repr, names))}; {advice} overwrites them")


class ImportRollbackError(TransferError):
    """An import failed and undoing it failed too; the message says what is left."""


def export_snapshots(domain: Domain, directory: PathLike, *, secure: bool = False) -> List[str]:
    """Write every snapshot's XML and the index into ``directory``; return the names
    in the order written (parents before children).

    ``secure=True`` includes the data libvirt leaves out by default (passwords).
    Raises :class:`SnapshotsChangedError` if the snapshots changed meanwhile.
    """
    parents = domain.snapshot_parents()
    documents = domain.snapshot_xml_descriptions(XMLFlags.SECURE if secure else 0)
    current = domain.current_snapshot().name if domain.has_current_snapshot() else None
    after = domain.snapshot_parents()
    if after != parents or set(documents) != set(parents):
        gone = object()
        changed = sorted(name for name in set(parents) | set(after) | set(documents)
                         if name not in documents or parents.get(name, gone) != after.get(name, gone))
        raise SnapshotsChangedError(
            f"snapshots of {domain.name} changed during the export, nothing written: "
            f"{', '.join(map(repr, changed))}")
    order = list(SnapshotTree(parents).topological())
    if len(order) != len(documents):  # libvirt reported a parent cycle
        raise SnapshotsChangedError(f"the snapshots of {domain.name} do not form a tree")
    dir_fd = open_output_dir(os.fspath(directory))
    try:
        entries = []
        for number, name in enumerate(order, 1):
            filename = f"snapshot-{number:04d}.xml"
            write_atomic(filename, _keep_carriage_returns(documents[name]).encode(),
                         dir_fd=dir_fd)
            entries.append({"name": name, "parent": parents[name], "file": filename})
        index = {
            "format": FORMAT,
            "version": VERSION,
            "domain": {"name": domain.name, "uuid": domain.uuid},
            "current": current if current in documents else None,
            "snapshots": entries,
        }
        write_atomic(INDEX_FILE, (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode(),
                     dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return order


def import_snapshots(domain: Domain, directory: PathLike, *, replace: bool = False) -> List[str]:
    """Redefine the snapshots exported in ``directory`` on ``domain``; return their names.

    All or nothing (see the module's documentation). Raises :class:`ValueError`
    for a malformed export, :class:`OSError` for unreadable files,
    :class:`SnapshotExistsError` for names the domain has (unless ``replace``),
    and the :class:`~virtsnap.LibvirtError` of a refused step, after undoing the
    steps before it (:class:`ImportRollbackError` if that fails too).
    """
    files, current = _read_index(directory)
    documents: Dict[str, str] = {}
    parents: Dict[str, Optional[str]] = {}
    for name, file in files.items():
        path = os.path.join(directory, file)
        with open(path, encoding="utf-8", newline="") as stream:
            xml = _keep_carriage_returns(_read_text(stream, path))
        info = parse_snapshot_xml(xml, domain.name)
        if info.name != name:
            raise ValueError(f"{file} does not hold snapshot {name!r}")
        documents[info.name] = _keep_carriage_returns(
            retarget_snapshot_xml(xml, domain.name, domain.uuid))
        parents[info.name] = info.parent
    # The order comes from the XML itself, whatever the index says.
    order = list(SnapshotTree(parents).topological())
    if len(order) != len(parents):
        raise ValueError(f"{directory}: the snapshots' parents form a cycle")
    existing = set(domain.list_snapshot_names())
    clashes = [name for name in order if name in existing]
    if clashes and not replace:
        raise SnapshotExistsError(domain.name, clashes)
    undo = _Undo(domain, clashes)
    try:
        for name in order:
            domain.create_snapshot(documents[name], CreateFlags.REDEFINE)
            undo.added(name, name not in existing)
        if current is not None:
            domain.create_snapshot(documents[current], CreateFlags.REDEFINE | CreateFlags.CURRENT)
    except BaseException as exc:
        undo.run(exc)
        raise
    return order


class _Undo:
    """What an import changed, and how to put it back."""

    def __init__(self, domain: Domain, replaced: List[str]) -> None:
        self.domain = domain
        self.current: Optional[str] = (domain.current_snapshot().name
                                       if domain.has_current_snapshot() else None)
        saved = replaced + ([self.current] if self.current is not None else [])
        # Secure XML, so that undoing loses no password.
        self.old_xml = {name: _keep_carriage_returns(
            domain.get_snapshot_by_name(name).get_xml_description(XMLFlags.SECURE))
            for name in saved}
        self.old_parents = domain.snapshot_parents() if replaced else {}
        self.new: List[str] = []
        self.replaced: List[str] = []

    def added(self, name: str, new: bool) -> None:
        (self.new if new else self.replaced).append(name)

    def run(self, cause: BaseException) -> None:
        """Undo every step; raise ImportRollbackError from ``cause`` naming what failed."""
        failed = []
        for name in reversed(self.new):
            try:
                _delete_metadata(self.domain.get_snapshot_by_name(name))
            except LibvirtError as exc:
                failed.append(f"added snapshot {name!r} not removed: {exc}")
        # Parents before children, so that no redefinition sees a parent cycle.
        for name in SnapshotTree({n: self.old_parents[n] for n in self.replaced}).topological():
            try:
                self.domain.create_snapshot(self.old_xml[name], CreateFlags.REDEFINE)
            except LibvirtError as exc:
                failed.append(f"replaced snapshot {name!r} not restored: {exc}")
        if self.current is not None:
            try:
                if not (self.domain.has_current_snapshot()
                        and self.domain.current_snapshot().name == self.current):
                    self.domain.create_snapshot(self.old_xml[self.current],
                                                CreateFlags.REDEFINE | CreateFlags.CURRENT)
            except LibvirtError as exc:
                failed.append(f"current snapshot {self.current!r} not restored: {exc}")
        if failed:
            raise ImportRollbackError(f"import into {self.domain.name} failed ({cause}), "
                                      f"and undoing it failed: {'; '.join(failed)}") from cause


def _delete_metadata(snapshot: DomainSnapshot) -> None:
    """Delete only libvirt's metadata of a redefined snapshot (its data was never ours).

    libvirt's test driver keeps nothing but metadata and refuses the flag.
    """
    try:
        snapshot.delete(DeleteFlags.METADATA_ONLY)
    except LibvirtError:
        if not snapshot.get_connect().uri.startswith("test"):
            raise
        snapshot.delete()


def _keep_carriage_returns(xml: str) -> str:
    """``xml`` with every CR as ``&#13;``: a raw CR reads back as LF."""
    return xml.replace("\r", "&#13;")


def retarget_snapshot_xml(xml: str, name: str, uuid: str) -> str:
    """The snapshot XML with its embedded domain definition renamed to ``name``/``uuid``.

    Returned unchanged when it already names that domain.
    """
    root = ElementTree.fromstring(xml)
    changed = False
    for definition in (root.find("domain"), root.find("inactiveDomain")):
        if definition is None:
            continue
        for tag, value in (("name", name), ("uuid", uuid)):
            element = definition.find(tag)
            if element is not None and element.text != value:
                element.text = value
                changed = True
    if not changed:
        return xml
    _keep_namespace_prefixes(xml)
    return ElementTree.tostring(root, encoding="unicode")


def _keep_namespace_prefixes(xml: str) -> None:
    """Let ElementTree write e.g. ``qemu:commandline`` back with its own prefix."""
    parser: "ElementTree.XMLPullParser[ElementTree.Element]" = ElementTree.XMLPullParser(
        events=("start-ns",))
    parser.feed(xml)
    for event in parser.read_events():  # only ("start-ns", (prefix, uri)) events
        namespace = event[-1]
        if not isinstance(namespace, tuple):
            continue
        prefix, uri = namespace
        if prefix:
            try:
                ElementTree.register_namespace(prefix, uri)
            except ValueError:  # a reserved "ns0"-style prefix: ElementTree picks one
                pass


def _read_text(stream: TextIO, path: str) -> str:
    """The text of ``stream``; ValueError naming ``path`` if it is no UTF-8."""
    try:
        return stream.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start} is "
                         f"{exc.object[exc.start:exc.start + 1]!r})") from None


def _read_index(directory: PathLike) -> Tuple[Dict[str, str], Optional[str]]:
    """The index's snapshots (name: file, in its order) and the current one's name."""
    path = os.path.join(directory, INDEX_FILE)
    with open(path, encoding="utf-8") as stream:
        try:
            index = json.loads(_read_text(stream, path))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ValueError(f"{path}: not a virtsnap snapshot index")
    if index.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported index version {index.get('version')!r}")
    entries = index.get("snapshots")
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'snapshots' must be a list")
    files: Dict[str, str] = {}
    for entry in entries:
        fields = entry if isinstance(entry, dict) else {}
        name, file = fields.get("name"), fields.get("file")
        if not (isinstance(name, str) and isinstance(file, str) and _is_plain_file_name(file)):
            raise ValueError(f"{path}: bad snapshot entry {entry!r}")
        if name in files:
            raise ValueError(f"{path}: snapshot {name!r} is listed twice")
        files[name] = file
    current = index.get("current")
    if not isinstance(current, (str, type(None))):
        raise ValueError(f"{path}: field 'current' must be a snapshot name or null, "
                         f"not {current!r}")
    if current is not None and current not in files:
        raise ValueError(f"{path}: current snapshot {current!r} is not in the index")
    return files, current


def _is_plain_file_name(value: str) -> bool:
    """A file directly inside the export directory: no path, no '..', no hidden file."""
    return (value == os.path.basename(value) and not value.startswith(".")
            and "\0" not in value)
