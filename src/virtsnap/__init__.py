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

__version__ = "0.1.0"

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
    "SnapshotNotFoundError",
    "XMLError",
    "XMLFlags",
    "libvirt_build_version",
    "libvirt_version",
    "open",
    "start_event_loop",
]
