"""virtsnap: libvirt domain snapshots from Python, at the speed of C.

    >>> import virtsnap
    >>> with virtsnap.open("test:///default") as conn:
    ...     dom = conn.get_domain_by_name("test")
    ...     snap = dom.create_snapshot(name="before-upgrade")
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from virtsnap._snapshot import (
        Connection,
        CreateFlags,
        DeleteFlags,
        Domain,
        DomainListFlags,
        DomainEventType,
        DomainSnapshot,
        DomainState,
        ErrorCode,
        JobType,
        ListFlags,
        MAX_WORKERS,
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
    from virtsnap.events import DomainEvent
    from virtsnap.info import SnapshotDisk, SnapshotInfo, SnapshotMemory
    from virtsnap.transfer import TransferError
    from virtsnap.tree import SnapshotTree

# Every name loads its module on first use, so `import virtsnap` (and
# `virtsnap --version`) does not load libvirt.
_LAZY = {
    **dict.fromkeys(("Connection", "CreateFlags", "DeleteFlags", "Domain", "DomainListFlags",
                     "DomainSnapshot", "DomainState", "JobType", "ListFlags", "RevertFlags",
                     "XMLFlags", "libvirt_build_version", "libvirt_version", "open",
                     "start_event_loop", "MAX_WORKERS", "DomainEventType", "ErrorCode"),
                    "virtsnap._snapshot"),
    **dict.fromkeys(("DomainNotFoundError", "InvalidArgumentError", "LibvirtConnectionError",
                     "LibvirtError", "OperationDeniedError", "OperationInvalidError",
                     "OperationUnsupportedError", "SnapshotNotFoundError", "XMLError",
                     "EventLoopConflictError"),
                    "virtsnap.errors"),
    "SnapshotInfo": "virtsnap.info",
    "SnapshotMemory": "virtsnap.info",
    "SnapshotDisk": "virtsnap.info",
    "SnapshotTree": "virtsnap.tree",
    "TransferError": "virtsnap.transfer",
    "DomainEvent": "virtsnap.events",
}


# Hidden from type checkers, which see the imports above instead: a module
# __getattr__ would make any misspelt name (virtsnap.opne) type-check.
# The tables are default arguments, so that the namespace holds nothing but
# the names of __all__ (and dunders).
if not TYPE_CHECKING:

    def __getattr__(name, _lazy=_LAZY):
        import sys  # importlib costs more to import than a short command takes to run

        if name in ("_snapshot", "errors"):  # submodules that used to be imported eagerly
            __import__(f"virtsnap.{name}")
            return sys.modules[f"virtsnap.{name}"]
        if name in _lazy:
            __import__(_lazy[name])
            value = getattr(sys.modules[_lazy[name]], name)
            globals()[name] = value  # later lookups skip this function
            return value
        raise AttributeError(f"module 'virtsnap' has no attribute {name!r}")

    def __dir__(_lazy=_LAZY):
        return sorted(set(globals()) | set(_lazy))

del _LAZY, TYPE_CHECKING


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
    "ErrorCode",
    "EventLoopConflictError",
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
    "TransferError",
    "XMLError",
    "XMLFlags",
    "libvirt_build_version",
    "libvirt_version",
    "open",
    "start_event_loop",
]
