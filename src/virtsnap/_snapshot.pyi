"""Type stub of virtsnap's compiled core (src/snapshot.pyx)."""

import enum
from os import PathLike
from types import TracebackType
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, Union

from virtsnap.info import SnapshotInfo
from virtsnap.tree import SnapshotTree

class CreateFlags(enum.IntFlag):
    REDEFINE: int
    CURRENT: int
    NO_METADATA: int
    HALT: int
    DISK_ONLY: int
    REUSE_EXT: int
    QUIESCE: int
    ATOMIC: int
    LIVE: int
    VALIDATE: int

class DeleteFlags(enum.IntFlag):
    CHILDREN: int
    METADATA_ONLY: int
    CHILDREN_ONLY: int

class ListFlags(enum.IntFlag):
    ROOTS: int
    DESCENDANTS: int
    LEAVES: int
    NO_LEAVES: int
    METADATA: int
    NO_METADATA: int
    INACTIVE: int
    ACTIVE: int
    DISK_ONLY: int
    INTERNAL: int
    EXTERNAL: int
    TOPOLOGICAL: int

class RevertFlags(enum.IntFlag):
    RUNNING: int
    PAUSED: int
    FORCE: int
    RESET_NVRAM: int

class XMLFlags(enum.IntFlag):
    SECURE: int

class DomainListFlags(enum.IntFlag):
    ACTIVE: int
    INACTIVE: int
    PERSISTENT: int
    TRANSIENT: int
    RUNNING: int
    PAUSED: int
    SHUTOFF: int
    OTHER: int
    MANAGEDSAVE: int
    NO_MANAGEDSAVE: int
    AUTOSTART: int
    NO_AUTOSTART: int
    HAS_SNAPSHOT: int
    NO_SNAPSHOT: int

class DomainState(enum.IntEnum):
    NOSTATE: int
    RUNNING: int
    BLOCKED: int
    PAUSED: int
    SHUTDOWN: int
    SHUTOFF: int
    CRASHED: int
    PMSUSPENDED: int

class JobType(enum.IntEnum):
    NONE: int
    BOUNDED: int
    UNBOUNDED: int
    COMPLETED: int
    FAILED: int
    CANCELLED: int

def libvirt_version() -> Tuple[int, int, int]: ...
def libvirt_build_version() -> Tuple[int, int, int]: ...
def start_event_loop() -> None: ...
def open(uri: Optional[str] = None, readonly: bool = False) -> Connection: ...

class Connection:
    readonly: bool
    @property
    def closed(self) -> bool: ...
    @property
    def uri(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> Connection: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...
    def is_alive(self) -> bool: ...
    def get_lib_version(self) -> Tuple[int, int, int]: ...
    def set_keepalive(self, interval: int, count: int) -> bool: ...
    def get_domain_by_name(self, name: str) -> Domain: ...
    def get_domain_by_uuid(self, uuid: str) -> Domain: ...
    def get_domain_by_id(self, id: int) -> Domain: ...
    def list_all_domains(self, flags: int = 0) -> List[Domain]: ...
    @staticmethod
    def from_libvirt(conn: Any) -> Connection: ...
    def to_libvirt(self) -> Any: ...

class Domain:
    @property
    def name(self) -> str: ...
    @property
    def uuid(self) -> str: ...
    @property
    def id(self) -> int: ...
    def state(self) -> DomainState: ...
    def get_connect(self) -> Connection: ...
    def get_job_stats(self, flags: int = 0) -> Dict[str, Any]: ...
    def create_snapshot(
        self,
        xml: Optional[str] = None,
        flags: int = 0,
        *,
        name: Optional[str] = None,
        description: Optional[str] = None,
    ) -> DomainSnapshot: ...
    def num_of_snapshots(self, flags: int = 0) -> int: ...
    def list_snapshot_names(self, flags: int = 0) -> List[str]: ...
    def list_all_snapshots(self, flags: int = 0) -> List[DomainSnapshot]: ...
    def get_snapshot_by_name(self, name: str, flags: int = 0) -> DomainSnapshot: ...
    def has_current_snapshot(self, flags: int = 0) -> bool: ...
    def current_snapshot(self, flags: int = 0) -> DomainSnapshot: ...
    def snapshot_xml_descriptions(
        self, flags: int = 0, list_flags: int = 0, workers: int = 1
    ) -> Dict[str, str]: ...
    def snapshot_parents(self, list_flags: int = 0, workers: int = 1) -> Dict[str, Optional[str]]: ...
    def snapshot_infos(self, list_flags: int = 0) -> List[SnapshotInfo]: ...
    def snapshot_tree(self, list_flags: int = 0) -> SnapshotTree: ...
    def export_snapshots(self, directory: Union[str, PathLike[str]]) -> Any: ...
    def import_snapshots(self, directory: Union[str, PathLike[str]]) -> Any: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @staticmethod
    def from_libvirt(domain: Any) -> Domain: ...
    def to_libvirt(self) -> Any: ...

class DomainSnapshot:
    CREATE_REDEFINE: ClassVar[CreateFlags]
    CREATE_CURRENT: ClassVar[CreateFlags]
    CREATE_NO_METADATA: ClassVar[CreateFlags]
    CREATE_HALT: ClassVar[CreateFlags]
    CREATE_DISK_ONLY: ClassVar[CreateFlags]
    CREATE_REUSE_EXT: ClassVar[CreateFlags]
    CREATE_QUIESCE: ClassVar[CreateFlags]
    CREATE_ATOMIC: ClassVar[CreateFlags]
    CREATE_LIVE: ClassVar[CreateFlags]
    CREATE_VALIDATE: ClassVar[CreateFlags]
    DELETE_CHILDREN: ClassVar[DeleteFlags]
    DELETE_METADATA_ONLY: ClassVar[DeleteFlags]
    DELETE_CHILDREN_ONLY: ClassVar[DeleteFlags]
    LIST_ROOTS: ClassVar[ListFlags]
    LIST_DESCENDANTS: ClassVar[ListFlags]
    LIST_LEAVES: ClassVar[ListFlags]
    LIST_NO_LEAVES: ClassVar[ListFlags]
    LIST_METADATA: ClassVar[ListFlags]
    LIST_NO_METADATA: ClassVar[ListFlags]
    LIST_INACTIVE: ClassVar[ListFlags]
    LIST_ACTIVE: ClassVar[ListFlags]
    LIST_DISK_ONLY: ClassVar[ListFlags]
    LIST_INTERNAL: ClassVar[ListFlags]
    LIST_EXTERNAL: ClassVar[ListFlags]
    LIST_TOPOLOGICAL: ClassVar[ListFlags]
    REVERT_RUNNING: ClassVar[RevertFlags]
    REVERT_PAUSED: ClassVar[RevertFlags]
    REVERT_FORCE: ClassVar[RevertFlags]
    REVERT_RESET_NVRAM: ClassVar[RevertFlags]
    XML_SECURE: ClassVar[XMLFlags]
    @property
    def name(self) -> str: ...
    def get_name(self) -> str: ...
    def get_xml_description(self, flags: int = 0) -> str: ...
    def delete(self, flags: int = 0) -> None: ...
    def revert_to(self, flags: int = 0) -> None: ...
    def get_parent(self, flags: int = 0) -> Optional[DomainSnapshot]: ...
    def is_current(self, flags: int = 0) -> bool: ...
    def has_metadata(self, flags: int = 0) -> bool: ...
    def num_of_child_snapshots(self, flags: int = 0) -> int: ...
    def list_child_snapshot_names(self, flags: int = 0) -> List[str]: ...
    def list_all_children(self, flags: int = 0) -> List[DomainSnapshot]: ...
    def list_child_snapshots(self, flags: int = 0) -> List[DomainSnapshot]: ...
    def get_domain(self) -> Domain: ...
    def get_connect(self) -> Connection: ...
    def info(self) -> SnapshotInfo: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...
    @staticmethod
    def from_libvirt(snapshot: Any) -> DomainSnapshot: ...
    def to_libvirt(self) -> Any: ...
