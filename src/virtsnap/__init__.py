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
        DomainSnapshot,
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
        InvalidArgumentError,
        LibvirtConnectionError,
        LibvirtError,
        OperationDeniedError,
        OperationInvalidError,
        OperationUnsupportedError,
        SnapshotNotFoundError,
        XMLError,
    )
    from virtsnap.info import SnapshotDisk, SnapshotInfo, SnapshotMemory
    from virtsnap.tree import SnapshotTree

# Every name loads its module on first use, so `import virtsnap` (and
# `virtsnap --version`) does not load libvirt.
_LAZY = {
    **dict.fromkeys(("Connection", "CreateFlags", "DeleteFlags", "Domain", "DomainListFlags",
                     "DomainSnapshot", "DomainState", "JobType", "ListFlags", "RevertFlags",
                     "XMLFlags", "libvirt_build_version", "libvirt_version", "open",
                     "start_event_loop"), "virtsnap._snapshot"),
    **dict.fromkeys(("DomainNotFoundError", "InvalidArgumentError", "LibvirtConnectionError",
                     "LibvirtError", "OperationDeniedError", "OperationInvalidError",
                     "OperationUnsupportedError", "SnapshotNotFoundError", "XMLError"),
                    "virtsnap.errors"),
    "SnapshotInfo": "virtsnap.info",
    "SnapshotMemory": "virtsnap.info",
    "SnapshotDisk": "virtsnap.info",
    "SnapshotTree": "virtsnap.tree",
}


def __getattr__(name: str) -> object:
    if name in ("_snapshot", "errors"):  # submodules that used to be imported eagerly
        import importlib

        return importlib.import_module(f"virtsnap.{name}")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'virtsnap' has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted(set(globals()) | set(_LAZY))


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
