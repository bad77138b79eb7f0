"""Snapshot XML parsed into small, frozen, typed records.

``DomainSnapshot.info()`` and ``Domain.snapshot_infos()`` in the compiled
core call :func:`snapshot_info` and :func:`snapshot_infos`. Elements this
module does not know about are ignored, so newer libvirt output still parses.

The XML is read as XML 1.0 says, with one exception: a carriage return is
data. libvirt writes a CR in a name or a description raw, and XML's
end-of-line handling would turn it into a line feed, so a CR is kept as it is.
The reader stops at the snapshot's embedded ``<domain>``, which is most of
the document and holds nothing a :class:`SnapshotInfo` needs: a small scanner
reads the layout libvirt writes, and anything else (comments, CDATA, a
DOCTYPE, another order) goes through :mod:`xml.etree.ElementTree`.

The records are plain classes with slots, not dataclasses, and the creation
time becomes a ``datetime`` when it is first read: a short command (``virtsnap
info``) then imports neither ``dataclasses``, ``datetime`` nor ``re``, which
cost a hundred times more than reading one snapshot (issue 26). They still
behave as frozen dataclasses: ``dataclasses.fields()``, ``replace`` and
``asdict`` work, and assigning an attribute raises ``FrozenInstanceError``.
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import re
    import xml.etree.ElementTree as ElementTree  # imported where a document needs it
    from datetime import datetime
    from typing import Dict, List, NoReturn, Optional, Tuple, TypedDict, Union

    from virtsnap._snapshot import Domain, DomainSnapshot

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


class _Frozen:
    """What the records share with a frozen dataclass: equality and hash by their
    fields, the dataclass repr, no assignment, pickling and copying."""

    __slots__ = ()
    _fields: "Tuple[str, ...]" = ()

    def _values(self) -> "Tuple[object, ...]":
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, _Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name: str, value: object) -> "NoReturn":
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> "NoReturn":
        from dataclasses import FrozenInstanceError

        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> "Tuple[type, Tuple[object, ...]]":
        return self.__class__, self._values()


class _DataclassFields:
    """``__dataclass_fields__``, made on first use from a dataclass of the same fields,
    so that :mod:`dataclasses` is imported only by code that asks for it."""

    def __get__(self, record: object, cls: type) -> object:
        import dataclasses

        names: "Tuple[str, ...]" = getattr(cls, "_fields")
        annotations = {name: cls.__annotations__.get(name, "datetime") for name in names}
        twin: type = dataclasses.dataclass(frozen=True)(type(cls.__name__, (), {
            "__annotations__": annotations, **getattr(cls, "_defaults")}))
        fields: object = getattr(twin, "__dataclass_fields__")
        type.__setattr__(cls, "__dataclass_fields__", fields)
        return fields


class SnapshotMemory(_Frozen):
    """How the guest's memory was saved: ``mode`` is "no", "internal" or "external"."""

    __slots__ = _fields = __match_args__ = ("mode", "file")
    _defaults = {"file": None}
    __dataclass_fields__ = _DataclassFields()

    #: "no", "internal" or "external".
    mode: str
    #: The memory state file of an external snapshot, else None.
    file: "Optional[str]"

    def __init__(self, mode: str, file: "Optional[str]" = None) -> None:
        _set_memory_mode(self, mode)
        _set_memory_file(self, file)

    def to_dict(self) -> "MemoryDict":
        """The JSON-ready form: ``{"mode": ..., "file": ...}``."""
        return {"mode": self.mode, "file": self.file}


class SnapshotDisk(_Frozen):
    """One disk of a snapshot.

    ``mode`` is "internal", "external", "no" or "manual"; ``source`` is the
    overlay file of an external snapshot (or its block device / network name).
    """

    __slots__ = _fields = __match_args__ = ("name", "mode", "driver_type", "source")
    _defaults = {"mode": None, "driver_type": None, "source": None}
    __dataclass_fields__ = _DataclassFields()

    #: The disk's target name (``vda``).
    name: str
    #: "internal", "external", "no" or "manual"; None when libvirt does not say.
    mode: "Optional[str]"
    #: The overlay's format (``qcow2``) of an external snapshot.
    driver_type: "Optional[str]"
    #: The overlay file, block device or network name of an external snapshot.
    source: "Optional[str]"

    def __init__(self, name: str, mode: "Optional[str]" = None,
                 driver_type: "Optional[str]" = None, source: "Optional[str]" = None) -> None:
        _set_disk_name(self, name)
        _set_disk_mode(self, mode)
        _set_disk_driver_type(self, driver_type)
        _set_disk_source(self, source)

    def to_dict(self) -> "DiskDict":
        """The JSON-ready form, one key per field."""
        return {"name": self.name, "mode": self.mode,
                "driver_type": self.driver_type, "source": self.source}


class SnapshotInfo(_Frozen):
    """What the snapshot XML says, plus whether the snapshot is the current one."""

    __slots__ = ("name", "domain", "description", "state", "_created", "parent", "memory",
                 "disks", "is_current")
    _fields = __match_args__ = ("name", "domain", "description", "state", "creation_time",
                                "parent", "memory", "disks", "is_current")
    _defaults = {"is_current": False}
    __dataclass_fields__ = _DataclassFields()

    #: The snapshot's name.
    name: str
    #: The owning domain's name.
    domain: str
    #: The free-form description, or None.
    description: "Optional[str]"
    #: The domain state saved in the snapshot: "running", "shutoff", "disk-snapshot", ...
    state: str
    #: The parent snapshot's name, None for a root.
    parent: "Optional[str]"
    #: How the memory was saved.
    memory: SnapshotMemory
    #: The disks, in the XML's order.
    disks: "Tuple[SnapshotDisk, ...]"
    #: Whether it was the domain's current snapshot when read.
    is_current: bool
    _created: "Union[int, datetime]"  # seconds until creation_time is first read

    def __init__(self, name: str, domain: str, description: "Optional[str]", state: str,
                 creation_time: "datetime", parent: "Optional[str]", memory: SnapshotMemory,
                 disks: "Tuple[SnapshotDisk, ...]", is_current: bool = False) -> None:
        _set_info(self, name, domain, description, state, creation_time, parent, memory,
                  disks, is_current)

    @property
    def creation_time(self) -> "datetime":
        """When libvirt took it (``creationTime``), in UTC."""
        created = self._created
        if isinstance(created, int):  # seconds, as read: the datetime is made once, here
            from datetime import datetime, timezone

            created = datetime.fromtimestamp(created, timezone.utc)
            _set_created(self, created)
        return created

    @property
    def location(self) -> str:
        """ "external" or "internal", decided as ``virsh snapshot-info`` does."""
        external = (self.memory.mode == "external"
                    or self.state == "disk-snapshot"
                    or any(disk.mode == "external" for disk in self.disks))
        return "external" if external else "internal"

    def to_dict(self) -> "SnapshotDict":
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


# The slots' own setters: the records are frozen to everyone else.
_new = object.__new__
_set_memory_mode = SnapshotMemory.__dict__["mode"].__set__
_set_memory_file = SnapshotMemory.__dict__["file"].__set__
_set_disk_name = SnapshotDisk.__dict__["name"].__set__
_set_disk_mode = SnapshotDisk.__dict__["mode"].__set__
_set_disk_driver_type = SnapshotDisk.__dict__["driver_type"].__set__
_set_disk_source = SnapshotDisk.__dict__["source"].__set__
(_set_name, _set_domain, _set_description, _set_state, _set_created, _set_parent, _set_memory,
 _set_disks, _set_is_current) = (SnapshotInfo.__dict__[name].__set__
                                 for name in SnapshotInfo.__slots__)


def _set_info(record: SnapshotInfo, name: str, domain: str, description: "Optional[str]",
              state: str, created: "Union[int, datetime]", parent: "Optional[str]",
              memory: SnapshotMemory, disks: "Tuple[SnapshotDisk, ...]", is_current: bool
              ) -> SnapshotInfo:
    """``record`` with its fields set, the creation time as seconds or a datetime."""
    _set_name(record, name)
    _set_domain(record, domain)
    _set_description(record, description)
    _set_state(record, state)
    _set_created(record, created)
    _set_parent(record, parent)
    _set_memory(record, memory)
    _set_disks(record, disks)
    _set_is_current(record, is_current)
    return record


def parse_snapshot_xml(xml: str, domain: str, is_current: bool = False,
                       name: "Optional[str]" = None) -> SnapshotInfo:
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
    return _set_info(_new(SnapshotInfo), name, domain, description, state, created, parent,
                     memory, disks, is_current)


# ---------------------------------------------------------------- libvirt's layout
#
# What the scanner takes, element by element (white space between them):
#   <domainsnapshot> <name>TEXT</name> [<description>TEXT</description>]
#   [<state>TEXT</state>] [<parent> <name>TEXT</name> </parent>]
#   [<creationTime>DIGITS</creationTime>] [<memory ATTRS/>]
#   [<disks> (<disk ATTRS/> | <disk ATTRS> <TAG ATTRS/>... </disk>)... </disks>]
# and then <domain, <inactiveDomain, <cookie, <active> or </domainsnapshot>.
# TEXT holds no '<'; attribute values are single-quoted, as libvirt writes them.

_SPACE = frozenset(" \t\r\n")                     # XML white space
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_END = frozenset(" \t\r\n/>") | {""}
_AFTER_NAME = frozenset(" \t\r\n/>")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ATTR_SPACE = str.maketrans("\t\n", "  ")     # attribute-value normalisation (CR stays)


class _NotLibvirtLayout(Exception):
    pass


def _skip(xml: str, at: int) -> int:
    """The first position from ``at`` that is not white space."""
    while True:
        chunk = xml[at:at + 64]
        rest = chunk.lstrip(" \t\r\n")
        if rest or len(chunk) < 64:
            return at + len(chunk) - len(rest)
        at += 64


_WHITE = " \t\r\n"


def _is_name(word: str) -> bool:
    """``[A-Za-z_][\\w.-]*``: libvirt's element and attribute names."""
    return (word[:1] in _NAME_START
            and (len(word) == 1 or word[1:].replace(".", "_").replace("-", "_")
                 .replace("_", "a").isalnum()))


def _tag(xml: str, at: int) -> "Tuple[str, Dict[str, str], bool, int]":
    """The tag at ``at`` (``<name ATTRS>`` or ``<name ATTRS/>``): its name, its attributes,
    whether it is empty, and the position after it."""
    end = at + 1
    while xml[end:end + 1] not in _NAME_END:
        end += 1
    name = xml[at + 1:end]
    if not _is_name(name):
        raise _NotLibvirtLayout
    attrs: "Dict[str, str]" = {}
    while True:
        key = _skip(xml, end)
        if xml.startswith("/>", key):
            return name, attrs, True, key + 2
        if xml.startswith(">", key):
            return name, attrs, False, key + 1
        equals = xml.find("='", key)
        close = xml.find("'", equals + 2)
        if key == end or equals < 0 or close < 0:   # a key follows white space
            raise _NotLibvirtLayout
        value = xml[equals + 2:close]
        if not _is_name(xml[key:equals]) or "<" in value or xml[key:equals] in attrs:
            raise _NotLibvirtLayout
        attrs[xml[key:equals]] = _text(value.translate(_ATTR_SPACE)) or ""
        end = close + 1


def _reference(code: int) -> str:
    if not (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        raise _NotLibvirtLayout
    return chr(code)


def _text(raw: "Optional[str]") -> "Optional[str]":
    """Text with its character and predefined entity references replaced."""
    if not raw or "&" not in raw:
        return raw
    parts = raw.split("&")
    out = [parts[0]]
    for part in parts[1:]:
        reference, semicolon, rest = part.partition(";")
        if not semicolon:
            raise _NotLibvirtLayout
        if reference in _NAMED:
            out.append(_NAMED[reference])
        elif reference[:2] == "#x" and len(reference) > 2 and all(
                char in "0123456789abcdefABCDEF" for char in reference[2:]):
            out.append(_reference(int(reference[2:], 16)))
        elif reference[:1] == "#" and len(reference) > 1 and all(
                char in "0123456789" for char in reference[1:]):
            out.append(_reference(int(reference[1:])))
        else:                                     # an entity that XML does not predefine
            raise _NotLibvirtLayout
        out.append(rest)
    return "".join(out)


# The snapshots of a domain mostly share the text between <creationTime> and
# <domain> (their memory and disks), and the records are frozen: each distinct
# text (with the state, on which the memory record depends) is read once.
_tails: "Dict[Tuple[str, str], Tuple[SnapshotMemory, Tuple[SnapshotDisk, ...]]]" = {}
_CACHE_LIMIT = 4096


def _fields_of_layout(xml: str) -> "Optional[_Fields]":
    """The fields of a document in libvirt's layout, or None for any other document."""
    # parts[i] is "tag>text" (i > 0); the head has 13 tags at most, and the padding
    # lets every test below read an index that a short document lacks.
    parts = xml.split("<", 14) + ["", "", "", ""]
    if (parts[0].strip(_WHITE) or parts[1].rstrip(_WHITE) != "domainsnapshot>"
            or parts[2][:5] != "name>" or parts[3].rstrip(_WHITE) != "/name>"):
        return None
    name: "Optional[str]" = parts[2][5:]
    description = state = parent = created = None
    i = 4
    if parts[i][:12] == "description>":
        if parts[i + 1].rstrip(_WHITE) != "/description>":
            return None
        description = parts[i][12:]
        i += 2
    if parts[i][:6] == "state>":
        if parts[i + 1].rstrip(_WHITE) != "/state>":
            return None
        state = parts[i][6:]
        i += 2
    if parts[i].rstrip(_WHITE) == "parent>":
        if (parts[i + 1][:5] != "name>" or parts[i + 2].rstrip(_WHITE) != "/name>"
                or parts[i + 3].rstrip(_WHITE) != "/parent>"):
            return None
        parent = parts[i + 1][5:]
        i += 4
    if parts[i][:13] == "creationTime>":
        created = parts[i][13:]
        if (parts[i + 1].rstrip(_WHITE) != "/creationTime>"
                or not (0 < len(created) <= 18 and created.isascii() and created.isdigit())):
            return None
        i += 2
    at = sum(map(len, parts[:i])) + i - 1   # where parts[i] starts: its "<"
    try:
        if "&" in xml[:at]:
            name, description, parent, state = (
                _text(name), _text(description), _text(parent), _text(state))
        state = state or "nostate"
        stop = xml.find("<domain", at)
        key = (xml[at:stop], state)
        tail = (_tails.get(key) if stop > 0 and xml[stop + 7:stop + 8] in _AFTER_NAME
                else None)
        if tail is None:
            tail, end = _tail(xml, at, state)
            if end == stop:
                _cached(_tails, key, tail)
    except _NotLibvirtLayout:
        return None
    return name, description, state, parent, int(created or 0), tail[0], tail[1]



def _tail(xml: str, at: int, state: str
          ) -> "Tuple[Tuple[SnapshotMemory, Tuple[SnapshotDisk, ...]], int]":
    """The memory and disks from ``at``, and where the element that ends the reading
    starts."""
    at = _skip(xml, at)
    memory = None
    if xml.startswith("<memory", at) and xml[at + 7:at + 8] in _AFTER_NAME:
        _, memory, empty, at = _tag(xml, at)
        if not empty:
            raise _NotLibvirtLayout
        at = _skip(xml, at)
    disks = []
    if xml.startswith("<disks>", at):
        at = _skip(xml, at + 7)
        while xml.startswith("<disk", at) and xml[at + 5:at + 6] in _AFTER_NAME:
            _, attrs, empty, at = _tag(xml, at)
            children: "Dict[str, Dict[str, str]]" = {}
            at = _skip(xml, at)
            if not empty:
                while xml[at:at + 1] == "<" and xml[at + 1:at + 2] != "/":
                    tag, child, child_empty, at = _tag(xml, at)
                    if not child_empty:
                        raise _NotLibvirtLayout
                    children.setdefault(tag, child)
                    at = _skip(xml, at)
                if not xml.startswith("</disk>", at):
                    raise _NotLibvirtLayout
                at = _skip(xml, at + 7)
            disks.append(_disk(attrs, children.get("driver"), children.get("source")))
        if not xml.startswith("</disks>", at):
            raise _NotLibvirtLayout
        at = _skip(xml, at + 8)
    if not _is_stop(xml, at):
        raise _NotLibvirtLayout
    return (_memory(memory, state), tuple(disks)), at


def _is_stop(xml: str, at: int) -> bool:
    """Whether what libvirt writes after the disks starts at ``at``."""
    for tag in ("<domain", "<inactiveDomain", "<cookie"):
        if xml.startswith(tag, at) and xml[at + len(tag):at + len(tag) + 1] in _AFTER_NAME:
            return True
    return xml.startswith(("<active>", "</domainsnapshot>"), at)


def _cached(cache: "Dict[Tuple[str, str], Tuple[SnapshotMemory, Tuple[SnapshotDisk, ...]]]",
            key: "Tuple[str, str]",
            value: "Tuple[SnapshotMemory, Tuple[SnapshotDisk, ...]]") -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


# ---------------------------------------------------------------- any other layout

_MARKUP = (
    r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|<!DOCTYPE|<(?:[^>'\"]|'[^']*'|\"[^\"]*\")*>)")


def _cr_kept(quoted: "re.Match[str]") -> str:
    """An attribute value with its CRs as character references (typed: mypy on 3.9
    would pick re.sub's bytes overload for a lambda)."""
    return quoted[0].replace("\r", "&#13;")


def _parse_keeping_cr(xml: str) -> "ElementTree.Element":
    """ElementTree's parse, with every CR of text and attribute values kept."""
    if "\r" in xml and "<!DOCTYPE" not in xml:
        import re

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


def _fields_of_tree(root: "ElementTree.Element") -> "_Fields":
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


def _disk_of_element(element: "ElementTree.Element") -> SnapshotDisk:
    source = element.find("source")
    driver = element.find("driver")
    return _disk(element.attrib, None if driver is None else driver.attrib,
                 None if source is None else source.attrib)


# ---------------------------------------------------------------- records from fields

def _memory(attrs: "Optional[Dict[str, str]]", state: str) -> SnapshotMemory:
    if attrs is None:
        # XML from before libvirt 1.0.1: memory was saved unless offline.
        mode = "no" if state in ("shutoff", "disk-snapshot") else "internal"
        return SnapshotMemory(mode)
    return SnapshotMemory(attrs.get("snapshot", "no"), attrs.get("file"))


def _disk(attrs: "Dict[str, str]", driver: "Optional[Dict[str, str]]",
          source: "Optional[Dict[str, str]]") -> SnapshotDisk:
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


def snapshot_info(snapshot: "DomainSnapshot") -> SnapshotInfo:
    """The :class:`SnapshotInfo` of one ``DomainSnapshot``."""
    return parse_snapshot_xml(snapshot.get_xml_description(),
                              snapshot.get_domain().name,
                              snapshot.is_current(),
                              snapshot.name)


def bulk_workers(domain: "Domain") -> int:
    """Requests in flight for a bulk fetch: several through a daemon (libvirtd serves 5
    per client by default), one for a driver in this process."""
    return 1 if domain.get_connect().uri.startswith("test:///") else 4


def snapshot_infos(domain: "Domain", list_flags: int = 0,
                   workers: "Optional[int]" = None) -> "List[SnapshotInfo]":
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

