"""virtsnap: libvirt domain snapshots from Python, at the speed of C.

    >>> import virtsnap
    >>> with virtsnap.open("test:///default") as conn:
    ...     dom = conn.get_domain_by_name("test")
    ...     snap = dom.create_snapshot(name="before-upgrade")
"""

from virtsnap._snapshot import (
    Connection,
    CreateFlags,
    DeleteFlags,
    Domain,
    DomainListFlags,
    DomainSnapshot,
    DomainEventType,
    DomainState,
    JobType,
    ListFlags,
    RevertFlags,
    XMLFlags,
    libvirt_build_version,
    libvirt_version,
    open,
    start_event_loop,
)
from virtsnap.errors import (
    DomainNotFoundError,
    EventLoopConflictError,
    InvalidArgumentError,
    LibvirtConnectionError,
    LibvirtError,
    OperationDeniedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SnapshotNotFoundError,
    XMLError,
)

__version__ = "0.1.0"

# The pure-Python conveniences load on first use, so `import virtsnap` stays light.
_LAZY = {
    "SnapshotInfo": "virtsnap.info",
    "SnapshotMemory": "virtsnap.info",
    "SnapshotDisk": "virtsnap.info",
    "SnapshotTree": "virtsnap.tree",
    "DomainEvent": "virtsnap.events",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'virtsnap' has no attribute {name!r}")

__all__ = [
    "Connection",
    "CreateFlags",
    "DeleteFlags",
    "Domain",
    "DomainEvent",
    "DomainEventType",
    "DomainListFlags",
    "DomainNotFoundError",
    "DomainSnapshot",
    "DomainState",
    "EventLoopConflictError",
    "InvalidArgumentError",
    "JobType",
    "LibvirtConnectionError",
    "LibvirtError",
    "ListFlags",
    "OperationDeniedError",
    "OperationInvalidError",
    "OperationUnsupportedError",
    "RevertFlags",
    "SnapshotDisk",
    "SnapshotInfo",
    "SnapshotMemory",
    "SnapshotNotFoundError",
    "SnapshotTree",
    "XMLError",
    "XMLFlags",
    "libvirt_build_version",
    "libvirt_version",
    "open",
    "start_event_loop",
]
