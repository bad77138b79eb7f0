"""The JSON Schema of ``virtsnap ... --json`` (printed by ``virtsnap json-schema``).

Schema version 1: keys are never removed or renamed within a version; new
keys may be added. Times are ISO 8601 in UTC. Each command's document is
one of ``$defs``; the test suite validates real output against it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:  # the documents' types, for mypy (no run-time cost)
    from typing import Dict, List, Mapping, Optional, TypedDict, Union

    from virtsnap.group import GroupPointDict, GroupResultDict
    from virtsnap.info import SnapshotDict
    from virtsnap.space import DomainUsageDict
    from virtsnap.status import StatusDict

    class ListDocument(TypedDict):
        domain: str
        snapshots: List[SnapshotDict]

    class InfoDocument(SnapshotDict):
        children: int
        descendants: int
        metadata: bool

    class ParentDocument(TypedDict):
        domain: str
        name: str
        parent: Optional[str]

    class DumpxmlDocument(TypedDict):
        domain: str
        name: str
        xml: str

    class NamedDocument(TypedDict):  # create --no-metadata --json
        name: str
        domain: str

    class GroupListDocument(TypedDict):
        members: List[str]
        groups: List[GroupPointDict]

    # auto's and prune's report (virtsnap.policy.run.REPORT_SCHEMA), and the schema itself
    Document = Union[SnapshotDict, ListDocument, InfoDocument, ParentDocument, DumpxmlDocument,
                     NamedDocument, DomainUsageDict, GroupResultDict, GroupListDocument,
                     StatusDict, Mapping[str, object]]

__all__ = ["COMMAND_DOCUMENTS", "JSON_SCHEMA"]

_NULLABLE_STRING = {"type": ["string", "null"]}

_SNAPSHOT = {
    "type": "object",
    "required": ["name", "domain", "description", "state", "creation_time", "parent",
                 "is_current", "location", "memory", "disks"],
    "properties": {
        "name": {"type": "string"},
        "domain": {"type": "string", "description": "the domain's name"},
        "description": _NULLABLE_STRING,
        "state": {"type": "string",
                  "description": "domain state saved in the snapshot, as libvirt writes it: "
                                 "running, paused, shutoff, disk-snapshot, ..."},
        "creation_time": {"type": "string", "format": "date-time",
                          "description": "e.g. 2024-05-01T12:00:00+00:00"},
        "parent": {"type": ["string", "null"], "description": "null for a root snapshot"},
        "is_current": {"type": "boolean"},
        "location": {"enum": ["internal", "external"]},
        "memory": {
            "type": "object", "required": ["mode", "file"],
            "properties": {"mode": {"enum": ["no", "internal", "external"]},
                           "file": _NULLABLE_STRING},
        },
        "disks": {"type": "array", "items": {
            "type": "object", "required": ["name", "mode", "driver_type", "source"],
            "properties": {
                "name": {"type": "string", "description": "target, e.g. vda"},
                "mode": {"enum": ["no", "internal", "external", "manual", None]},
                "driver_type": {"type": ["string", "null"], "description": "e.g. qcow2"},
                "source": {"type": ["string", "null"],
                           "description": "overlay file, device or network name"},
            },
        }},
    },
}

_BYTES = {"type": ["integer", "null"], "minimum": 0, "description": "bytes; null: not known"}

_DU = {
    "type": "object", "required": ["domain", "uri", "disks", "snapshots", "total", "notes"],
    "description": "virtsnap du DOMAIN --json (virtsnap.space.disk_usage)",
    "properties": {
        "domain": {"type": "string"},
        "uri": _NULLABLE_STRING,
        "disks": {"type": "array", "items": {
            "type": "object", "required": ["target", "chain", "chain_complete"],
            "properties": {
                "target": {"type": "string"},
                "chain_complete": {"type": "boolean",
                                   "description": "false: images below the top not known"},
                "chain": {"type": "array", "description": "top first", "items": {
                    "type": "object",
                    "required": ["file", "allocation", "capacity", "snapshot", "source"],
                    "properties": {
                        "file": {"type": "string"},
                        "allocation": _BYTES,
                        "capacity": _BYTES,
                        "snapshot": {"type": ["string", "null"],
                                     "description": "the snapshot whose creation made it"},
                        "source": {"enum": ["domain-stats", "storage-volume", "qemu-img",
                                            None]}}}}}}},
        "snapshots": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "location", "vmstate", "memory_file", "memory", "layers",
                         "frees", "frees_at_least", "frees_note"],
            "properties": {
                "name": {"type": "string"},
                "location": {"enum": ["internal", "external"]},
                "vmstate": _BYTES, "memory_file": _NULLABLE_STRING, "memory": _BYTES,
                "layers": {"type": "array", "items": {"type": "string"}},
                "frees": _BYTES, "frees_at_least": _BYTES, "frees_note": _NULLABLE_STRING}}},
        "total": _BYTES,
        "notes": {"type": "array", "items": {"type": "string"}},
    },
}

JSON_SCHEMA: "Dict[str, object]" = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "virtsnap --json output, schema version 1",
    "$defs": {
        "snapshot": _SNAPSHOT,
        "node": {"type": "object", "required": ["name", "children"],
                 "properties": {"name": {"type": "string"},
                                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}},
        "list": {"type": "object", "required": ["domain", "snapshots"],
                 "description": "virtsnap list DOMAIN --json, in the order of the text listing",
                 "properties": {"domain": {"type": "string"},
                                "snapshots": {"type": "array",
                                              "items": {"$ref": "#/$defs/snapshot"}}}},
        "tree": {"type": "object", "required": ["domain", "roots"],
                 "description": "virtsnap list DOMAIN --tree --json",
                 "properties": {"domain": {"type": "string"},
                                "roots": {"type": "array", "items": {"$ref": "#/$defs/node"}}}},
        "info": {"description": "virtsnap info DOMAIN SNAP --json",
                 "allOf": [{"$ref": "#/$defs/snapshot"},
                           {"type": "object", "required": ["children", "descendants", "metadata"],
                            "properties": {"children": {"type": "integer", "minimum": 0},
                                           "descendants": {"type": "integer", "minimum": 0},
                                           "metadata": {"type": "boolean"}}}]},
        "parent": {"type": "object", "required": ["domain", "name", "parent"],
                   "description": "virtsnap parent DOMAIN SNAP --json",
                   "properties": {"domain": {"type": "string"}, "name": {"type": "string"},
                                  "parent": _NULLABLE_STRING}},
        "dumpxml": {"type": "object", "required": ["domain", "name", "xml"],
                    "description": "virtsnap dumpxml DOMAIN SNAP --json",
                    "properties": {"domain": {"type": "string"}, "name": {"type": "string"},
                                   "xml": {"type": "string"}}},
        "created": {"description": "virtsnap create DOMAIN ... --json: the new snapshot; "
                                   "with --no-metadata only its name and domain",
                    "anyOf": [{"$ref": "#/$defs/snapshot"},
                              {"type": "object", "required": ["name", "domain"],
                               "properties": {"name": {"type": "string"},
                                              "domain": {"type": "string"}}}]},
        "du": _DU,
        "group-result": {
            "type": "object", "required": ["name", "action", "members"],
            "description": "virtsnap group create|revert|delete ... --json",
            "properties": {
                "name": {"type": "string"},
                "action": {"enum": ["create", "revert", "delete"]},
                "members": {"type": "array", "items": {
                    "type": "object",
                    "required": ["member", "state", "stopped", "stopped_for",
                                 "frozen_filesystems"],
                    "properties": {
                        "member": {"type": "string", "description": "URI/NAME"},
                        "state": {"type": "string",
                                  "description": "the state before the group's pause"},
                        "stopped": {"enum": ["paused", "frozen", None]},
                        "stopped_for": {"type": ["number", "null"], "minimum": 0,
                                        "description": "seconds paused or frozen"},
                        "frozen_filesystems": {"type": ["integer", "null"]}}}}}},
        "group-list": {
            "type": "object", "required": ["members", "groups"],
            "description": "virtsnap group list DOMAIN... --json, oldest first",
            "properties": {
                "members": {"type": "array", "items": {"type": "string"}},
                "groups": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "members", "present", "complete", "creation_time",
                                 "description"],
                    "properties": {
                        "name": {"type": "string"},
                        "members": {"type": "array", "items": {"type": "string"}},
                        "present": {"type": "array", "items": {"type": "string"}},
                        "complete": {"type": "boolean"},
                        "creation_time": {"type": ["string", "null"], "format": "date-time"},
                        "description": _NULLABLE_STRING}}}}},
    },
}

# Which $defs entry describes each command's --json document.
COMMAND_DOCUMENTS = {"list": "list", "list --tree": "tree", "info": "info",
                     "current": "snapshot", "parent": "parent", "dumpxml": "dumpxml",
                     "create": "created", "du": "du", "group create": "group-result",
                     "group list": "group-list"}
