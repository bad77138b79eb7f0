"""Snapshot XML parsed into small, frozen, typed records.

``DomainSnapshot.info()`` and ``Domain.snapshot_infos()`` in the compiled
core call :func:`snapshot_info` and :func:`snapshot_infos`. Elements this
module does not know about are ignored, so newer libvirt output still parses.

The XML is read as XML 1.0 says, with one exception: a carriage return is
data. libvirt writes a CR in a name or a description raw, and XML's
end-of-line handling would turn it into a line feed, so a CR is kept as it is.
The reader stops at the snapshot's embedded ``<domain>``, which is most of
the document and holds nothing a :class:`SnapshotInfo` needs: one regular
expression reads the layout libvirt writes, and anything else (comments,
CDATA, a DOCTYPE, another order) goes through :mod:`xml.etree.ElementTree`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import xml.etree.ElementTree as ElementTree  # imported where a document needs it
    from typing import Any, Callable, Dict, List, Optional, Tuple, TypedDict

    class MemoryDict(TypedDict):
        mode: str
        file: Optional[str]

    class DiskDict(TypedDict):
        name: str
        mode: Optional[str]
        driver_type: Optional[str]
        source: Optional[str]

    class SnapshotDict(TypedDict):
        """A snapshot as JSON: the ``snapshot`` of virtsnap's --json schema."""
        name: str
        domain: str
        description: Optional[str]
        state: str
        creation_time: str
        parent: Optional[str]
        is_current: bool
        location: str
        memory: MemoryDict
        disks: List[DiskDict]

    _Fields = Tuple[Optional[str], Optional[str], str, Optional[str], int,
                    "SnapshotMemory", Tuple["SnapshotDisk", ...]]

__all__ = [
    "SnapshotDisk",
    "SnapshotInfo",
    "SnapshotMemory",
    "parse_snapshot_xml",
    "snapshot_info",
    "snapshot_infos",
]

# slots=True needs Python 3.10; on 3.9 the records are frozen without slots.
_RECORD = {"frozen": True, "slots": True} if sys.version_info >= (3, 10) else {"frozen": True}


@dataclass(**_RECORD)
class SnapshotMemory:
    """How the guest's memory was saved: ``mode`` is "no", "internal" or "external"."""

    #: "no", "internal" or "external".
    mode: str
    #: The memory state file of an external snapshot, else None.
    file: Optional[str] = None

    def to_dict(self) -> MemoryDict:
        """The JSON-ready form: ``{"mode": ..., "file": ...}``."""
        return {"mode": self.mode, "file": self.file}


@dataclass(**_RECORD)
class SnapshotDisk:
    """One disk of a snapshot.

    ``mode`` is "internal", "external", "no" or "manual"; ``source`` is the
    overlay file of an external snapshot (or its block device / network name).
    """

    #: The disk's target name (``vda``).
    name: str
    #: "internal", "external", "no" or "manual"; None when libvirt does not say.
    mode: Optional[str] = None
    #: The overlay's format (``qcow2``) of an external snapshot.
    driver_type: Optional[str] = None
    #: The overlay file, block device or network name of an external snapshot.
    source: Optional[str] = None

    def to_dict(self) -> DiskDict:
        """The JSON-ready form, one key per field."""
        return {"name": self.name, "mode": self.mode,
                "driver_type": self.driver_type, "source": self.source}


@dataclass(**_RECORD)
class SnapshotInfo:
    """What the snapshot XML says, plus whether the snapshot is the current one."""

    #: The snapshot's name.
    name: str
    #: The owning domain's name.
    domain: str
    #: The free-form description, or None.
    description: Optional[str]
    #: The domain state saved in the snapshot: "running", "shutoff", "disk-snapshot", ...
    state: str
    #: When libvirt took it (``creationTime``), in UTC.
    creation_time: datetime
    #: The parent snapshot's name, None for a root.
    parent: Optional[str]
    #: How the memory was saved.
    memory: SnapshotMemory
    #: The disks, in the XML's order.
    disks: Tuple[SnapshotDisk, ...]
    #: Whether it was the domain's current snapshot when read.
    is_current: bool = False

    @property
    def location(self) -> str:
        """ "external" or "internal", decided as ``virsh snapshot-info`` does."""
        external = (self.memory.mode == "external"
                    or self.state == "disk-snapshot"
                    or any(disk.mode == "external" for disk in self.disks))
        return "external" if external else "internal"

    def to_dict(self) -> SnapshotDict:
        """The JSON-ready form (the CLI's ``--json`` snapshot object)."""
        return {
            "name": self.name,
            "domain": self.domain,
            "description": self.description,
            "state": self.state,
            "creation_time": self.creation_time.isoformat(),
            "parent": self.parent,
            "is_current": self.is_current,
            "location": self.location,
            "memory": self.memory.to_dict(),
            "disks": [disk.to_dict() for disk in self.disks],
        }


def parse_snapshot_xml(xml: str, domain: str, is_current: bool = False,
                       name: Optional[str] = None) -> SnapshotInfo:
    """Parse one ``<domainsnapshot>`` document; ``domain`` is the owning domain's name.

    ``name``, when given, is the snapshot's name as libvirt reports it
    (``virDomainSnapshotGetName``) and is used instead of the XML's.
    Raises :class:`ValueError` when the document is not a snapshot.
    """
    fields = _fields_of_layout(xml)
    if fields is None:
        fields = _fields_of_tree(_parse_keeping_cr(xml))
    xml_name, description, state, parent, created, memory, disks = fields
    if name is None:
        name = xml_name
    if not name:
        raise ValueError("snapshot XML has no <name>")
    return _new_info(name, domain, description, state, datetime.fromtimestamp(created, _UTC),
                     parent, memory, disks, is_current)


def _record_maker(cls: Any) -> Any:
    """A constructor for the frozen, slotted ``cls`` that sets each slot directly.

    The dataclass ``__init__`` calls ``object.__setattr__`` once per field,
    which is half the cost of reading a snapshot; the result is the same.
    """
    names = [field.name for field in dataclasses.fields(cls)]
    if "__slots__" not in cls.__dict__:   # Python 3.9: no slots
        return cls
    scope = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{n}": cls.__dict__[n].__set__ for n in names})
    body = "".join(f"    set_{n}(record, {n})\n" for n in names)
    exec(f"def make({', '.join(names)}):\n    record = new(cls)\n{body}    return record\n",
         scope)
    return scope["make"]


_new_info: Callable[..., SnapshotInfo] = _record_maker(SnapshotInfo)
_UTC = timezone.utc


# ---------------------------------------------------------------- libvirt's layout

_W = r"[ \t\r\n]*"                                 # XML white space
_ATTRS = r"(?:[ \t\r\n]+[A-Za-z_][\w.-]*='[^'<]*')*"  # single-quoted, as libvirt writes them
_EMPTY_TAG = rf"<[A-Za-z_][\w.-]*{_ATTRS}{_W}/>"
_HEAD = re.compile(
    f"{_W}<domainsnapshot>"
    f"{_W}<name>(?P<name>[^<]*)</name>"
    f"(?:{_W}<description>(?P<description>[^<]*)</description>)?"
    f"(?:{_W}<state>(?P<state>[^<]*)</state>)?"
    f"(?:{_W}<parent>{_W}<name>(?P<parent>[^<]*)</name>{_W}</parent>)?"
    f"(?:{_W}<creationTime>(?P<created>[0-9]{{1,18}})</creationTime>)?"
)
_TAIL = re.compile(
    f"(?:{_W}<memory(?P<memory>{_ATTRS}){_W}/>)?"
    f"(?:{_W}<disks>(?P<disks>(?:{_W}<disk{_ATTRS}{_W}(?:/>|>(?:{_W}{_EMPTY_TAG})*{_W}</disk>))*)"
    f"{_W}</disks>)?{_W}"
    # Where the reading stops: what libvirt writes after the disks.
    r"(?P<stop><(?:domain|inactiveDomain|cookie)[ \t\r\n/>]|<active>|</domainsnapshot>)"
)
_DISK = re.compile(f"<disk(?P<attrs>{_ATTRS}){_W}(?:/>|>(?P<body>.*?)</disk>)", re.S)
_CHILD = re.compile(rf"<(?P<tag>[A-Za-z_][\w.-]*)(?P<attrs>{_ATTRS}){_W}/>")
_ATTR = re.compile(r"([A-Za-z_][\w.-]*)='([^'<]*)'")
# Patterns that few documents need are compiled on first use (re's own cache).
_REFERENCE = "&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(lt|gt|amp|quot|apos));"
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ATTR_SPACE = str.maketrans("\t\n", "  ")     # attribute-value normalisation (CR stays)


class _NotLibvirtLayout(Exception):
    pass


def _reference(match: "re.Match[str]") -> str:
    decimal, hexadecimal, named = match.groups()
    if named:
        return _NAMED[named]
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if not _is_xml_char(code):
        raise _NotLibvirtLayout
    return chr(code)


def _is_xml_char(code: int) -> bool:
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def _text(raw: Optional[str]) -> Optional[str]:
    if not raw or "&" not in raw:
        return raw
    if "&" in re.sub(_REFERENCE, "", raw):   # an entity that XML does not predefine
        raise _NotLibvirtLayout
    return re.sub(_REFERENCE, _reference, raw)


def _attributes(raw: str) -> Dict[str, str]:
    out = {}
    for key, value in _ATTR.findall(raw):
        if key in out:
            raise _NotLibvirtLayout
        out[key] = _text(value.translate(_ATTR_SPACE)) or ""
    return out


_AFTER_NAME = frozenset(" \t\r\n/>")
_HEAD_GROUPS = ("name", "description", "state", "parent", "created")
# The snapshots of a domain mostly share the text between <creationTime> and
# <domain> (their memory and disks), and the records are frozen: each distinct
# text (with the state, on which the memory record depends) is read once.
_tails: Dict[Tuple[str, str], Tuple["SnapshotMemory", Tuple["SnapshotDisk", ...]]] = {}
_CACHE_LIMIT = 4096


def _fields_of_layout(xml: str) -> Optional[_Fields]:
    """The fields of a document in libvirt's layout, or None for any other document."""
    head = _HEAD.match(xml)
    if head is None:
        return None
    name, description, state, parent, created = head.group(*_HEAD_GROUPS)
    try:
        if name and "&" in name:
            name = _text(name)
        if description and "&" in description:
            description = _text(description)
        if parent and "&" in parent:
            parent = _text(parent)
        if state and "&" in state:
            state = _text(state)
        state = state or "nostate"
        start = head.end()
        stop = xml.find("<domain", start)
        key = (xml[start:stop], state)
        tail = _tails.get(key) if xml[stop + 7:stop + 8] in _AFTER_NAME and stop > 0 else None
        if tail is None:
            match = _TAIL.match(xml, start)
            if match is None:
                return None
            memory, disks = match.group("memory", "disks")
            tail = (_memory(None if memory is None else _attributes(memory), state),
                    tuple(_disk_of_match(disk) for disk in _DISK.finditer(disks or "")))
            if match.start("stop") == stop:
                _cached(_tails, key, tail)
    except _NotLibvirtLayout:
        return None
    return name, description, state, parent, int(created or 0), tail[0], tail[1]


def _cached(cache: Dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _disk_of_match(match: "re.Match[str]") -> "SnapshotDisk":
    attrs = _attributes(match["attrs"])
    children: Dict[str, Dict[str, str]] = {}
    for child in _CHILD.finditer(match["body"] or ""):
        children.setdefault(child["tag"], _attributes(child["attrs"]))
    return _disk(attrs, children.get("driver"), children.get("source"))


# ---------------------------------------------------------------- any other layout

_MARKUP = (
    r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|<!DOCTYPE|<(?:[^>'\"]|'[^']*'|\"[^\"]*\")*>)")


def _cr_kept(quoted: "re.Match[str]") -> str:
    """An attribute value with its CRs as character references (typed: mypy on 3.9
    would pick re.sub's bytes overload for a lambda)."""
    return quoted[0].replace("\r", "&#13;")


def _parse_keeping_cr(xml: str) -> ElementTree.Element:
    """ElementTree's parse, with every CR of text and attribute values kept."""
    if "\r" in xml and "<!DOCTYPE" not in xml:
        parts = re.split(_MARKUP, xml, flags=re.S)
        for i, part in enumerate(parts):
            if "\r" not in part:
                continue
            if i % 2 == 0:                                   # text
                parts[i] = part.replace("\r", "&#13;")
            elif part.startswith("<![CDATA["):
                parts[i] = (part[9:-3].replace("&", "&amp;").replace("<", "&lt;")
                            .replace(">", "&gt;").replace("\r", "&#13;"))
            elif not part.startswith(("<!--", "<?")):        # a tag: its attribute values
                parts[i] = re.sub(r"'[^']*'|\"[^\"]*\"", _cr_kept, part)
        xml = "".join(parts)
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"snapshot XML does not parse: {exc}") from None
    if root.tag != "domainsnapshot":
        raise ValueError(f"expected <domainsnapshot>, found <{root.tag}>")
    return root


def _fields_of_tree(root: ElementTree.Element) -> _Fields:
    memory = root.find("memory")
    created = root.findtext("creationTime")
    try:
        seconds = int(created or 0)
    except ValueError:
        raise ValueError(f"snapshot XML has a bad <creationTime>: {created!r}") from None
    state = root.findtext("state") or "nostate"
    return (root.findtext("name"), root.findtext("description"), state,
            root.findtext("parent/name"), seconds,
            _memory(None if memory is None else memory.attrib, state),
            tuple(_disk_of_element(element) for element in root.iterfind("disks/disk")))


def _disk_of_element(element: ElementTree.Element) -> "SnapshotDisk":
    source = element.find("source")
    driver = element.find("driver")
    return _disk(element.attrib, None if driver is None else driver.attrib,
                 None if source is None else source.attrib)


# ---------------------------------------------------------------- records from fields

def _memory(attrs: Optional[Dict[str, str]], state: str) -> SnapshotMemory:
    if attrs is None:
        # XML from before libvirt 1.0.1: memory was saved unless offline.
        mode = "no" if state in ("shutoff", "disk-snapshot") else "internal"
        return SnapshotMemory(mode)
    return SnapshotMemory(attrs.get("snapshot", "no"), attrs.get("file"))


def _disk(attrs: Dict[str, str], driver: Optional[Dict[str, str]],
          source: Optional[Dict[str, str]]) -> SnapshotDisk:
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("name")
    else:
        path = attrs.get("file")
    return SnapshotDisk(
        name=attrs.get("name", ""),
        mode=attrs.get("snapshot"),
        driver_type=None if driver is None else driver.get("type"),
        source=path,
    )


def snapshot_info(snapshot: Any) -> SnapshotInfo:
    """The :class:`SnapshotInfo` of one ``DomainSnapshot``."""
    return parse_snapshot_xml(snapshot.get_xml_description(),
                              snapshot.get_domain().name,
                              snapshot.is_current(),
                              snapshot.name)


def bulk_workers(domain: Any) -> int:
    """Requests in flight for a bulk fetch: several through a daemon (libvirtd serves 5
    per client by default), one for a driver in this process."""
    return 1 if domain.get_connect().uri.startswith("test:///") else 4


def snapshot_infos(domain: Any, list_flags: int = 0,
                   workers: Optional[int] = None) -> List[SnapshotInfo]:
    """A :class:`SnapshotInfo` per snapshot of ``domain``, in libvirt's listing order.

    The primitive behind ``virtsnap list`` (plain, ``--parent``, ``--tree``):
    name, parent, creation time, state, description and whether it is the
    current snapshot, plus memory and disks, for every snapshot matched by
    ``list_flags``. It costs one bulk XML fetch (names from libvirt, parents
    read from the XML, no call per snapshot from Python) and one lookup of the
    current snapshot. ``workers`` is the bulk fetch's: ``None`` picks 1 for the
    in-process test driver and 4 otherwise, where each call is a round trip
    and libvirtd serves several at once.
    """
    if workers is None:
        workers = bulk_workers(domain)
    documents = domain.snapshot_xml_descriptions(0, list_flags, workers)
    current = domain.current_snapshot().name if domain.has_current_snapshot() else None
    domain_name = domain.name
    return [parse_snapshot_xml(xml, domain_name, name == current, name)
            for name, xml in documents.items()]


# Hidden from type checkers, as in virtsnap/__init__.py: a misspelt name must not type-check.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name == "_LIBVIRT_LAYOUT":  # the documents read here (tests), compiled on demand
            return re.compile(_HEAD.pattern + _TAIL.pattern)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
