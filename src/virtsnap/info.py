"""Snapshot XML parsed into small, frozen, typed records.

``DomainSnapshot.info()`` and ``Domain.snapshot_infos()`` in the compiled
core call :func:`snapshot_info` and :func:`snapshot_infos`. The XML is read
with :mod:`xml.etree.ElementTree`; elements this module does not know about
are ignored, so newer libvirt output still parses.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

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

    mode: str
    file: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"mode": self.mode, "file": self.file}


@dataclass(**_RECORD)
class SnapshotDisk:
    """One disk of a snapshot.

    ``mode`` is "internal", "external", "no" or "manual"; ``source`` is the
    overlay file of an external snapshot (or its block device / network name).
    """

    name: str
    mode: Optional[str] = None
    driver_type: Optional[str] = None
    source: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "mode": self.mode,
                "driver_type": self.driver_type, "source": self.source}


@dataclass(**_RECORD)
class SnapshotInfo:
    """What the snapshot XML says, plus whether the snapshot is the current one."""

    name: str
    domain: str
    description: Optional[str]
    state: str
    creation_time: datetime
    parent: Optional[str]
    memory: SnapshotMemory
    disks: Tuple[SnapshotDisk, ...]
    is_current: bool = False

    @property
    def location(self) -> str:
        """ "external" or "internal", decided as ``virsh snapshot-info`` does."""
        external = (self.memory.mode == "external"
                    or self.state == "disk-snapshot"
                    or any(disk.mode == "external" for disk in self.disks))
        return "external" if external else "internal"

    def to_dict(self) -> Dict[str, Any]:
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


def parse_snapshot_xml(xml: str, domain: str, is_current: bool = False) -> SnapshotInfo:
    """Parse one ``<domainsnapshot>`` document; ``domain`` is the owning domain's name.

    Raises :class:`ValueError` when the document is not a snapshot.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError(f"snapshot XML does not parse: {exc}") from None
    if root.tag != "domainsnapshot":
        raise ValueError(f"expected <domainsnapshot>, found <{root.tag}>")
    name = root.findtext("name")
    if not name:
        raise ValueError("snapshot XML has no <name>")
    state = root.findtext("state") or "nostate"
    return SnapshotInfo(
        name=name,
        domain=domain,
        description=root.findtext("description"),
        state=state,
        creation_time=datetime.fromtimestamp(int(root.findtext("creationTime") or 0), timezone.utc),
        parent=root.findtext("parent/name"),
        memory=_memory(root.find("memory"), state),
        disks=tuple(_disk(element) for element in root.iterfind("disks/disk")),
        is_current=is_current,
    )


def _memory(element: Optional[ElementTree.Element], state: str) -> SnapshotMemory:
    if element is None:
        # XML from before libvirt 1.0.1: memory was saved unless offline.
        mode = "no" if state in ("shutoff", "disk-snapshot") else "internal"
        return SnapshotMemory(mode)
    return SnapshotMemory(element.get("snapshot", "no"), element.get("file"))


def _disk(element: ElementTree.Element) -> SnapshotDisk:
    source = element.find("source")
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("name")
    else:
        path = element.get("file")
    driver = element.find("driver")
    return SnapshotDisk(
        name=element.get("name", ""),
        mode=element.get("snapshot"),
        driver_type=None if driver is None else driver.get("type"),
        source=path,
    )


def snapshot_info(snapshot: Any) -> SnapshotInfo:
    """The :class:`SnapshotInfo` of one ``DomainSnapshot``."""
    return parse_snapshot_xml(snapshot.get_xml_description(),
                              snapshot.get_domain().name,
                              snapshot.is_current())


def snapshot_infos(domain: Any, list_flags: int = 0) -> List[SnapshotInfo]:
    """A :class:`SnapshotInfo` per snapshot of ``domain``, in libvirt's listing order.

    One bulk XML fetch, plus one lookup of the current snapshot.
    """
    documents = domain.snapshot_xml_descriptions(0, list_flags)
    current = domain.current_snapshot().name if domain.has_current_snapshot() else None
    return [parse_snapshot_xml(xml, domain.name, name == current)
            for name, xml in documents.items()]
