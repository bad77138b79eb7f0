"""virtsnap: libvirt domain snapshots from Python, at the speed of C.

    >>> import virtsnap
    >>> with virtsnap.open("test:///default") as conn:
    ...     dom = conn.get_domain_by_name("test")
    ...     snap = dom.create_snapshot(name="before-upgrade")
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

from virtsnap._snapshot import (
    Connection,
    CreateFlags,
    DeleteFlags,
    Domain,
    DomainListFlags,
    DomainSnapshot,
    DomainState,
    MAX_WORKERS,
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

# The pure-Python conveniences load on first use, so `import virtsnap` stays
# light. Type checkers see plain imports instead (and no __getattr__), so the
# names are typed and a misspelt one is an error.
if TYPE_CHECKING:
    from virtsnap.info import SnapshotDisk, SnapshotInfo, SnapshotMemory
    from virtsnap.tree import SnapshotTree
else:
    _LAZY = {
        "SnapshotInfo": "virtsnap.info",
        "SnapshotMemory": "virtsnap.info",
        "SnapshotDisk": "virtsnap.info",
        "SnapshotTree": "virtsnap.tree",
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
    "DomainListFlags",
    "DomainNotFoundError",
    "DomainSnapshot",
    "DomainState",
    "InvalidArgumentError",
    "JobType",
    "LibvirtConnectionError",
    "LibvirtError",
    "ListFlags",
    "MAX_WORKERS",
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
