"""The exceptions virtsnap raises for libvirt failures.

The compiled core picks the subclass from libvirt's error code and domain,
read on the failing thread right after the failing call.
"""

__all__ = [
    "LibvirtError",
    "SnapshotNotFoundError",
    "DomainNotFoundError",
    "InvalidArgumentError",
    "XMLError",
    "OperationInvalidError",
    "OperationUnsupportedError",
    "OperationDeniedError",
    "LibvirtConnectionError",
    "EventLoopConflictError",
]


class LibvirtError(Exception):
    """A libvirt call failed; ``code``, ``domain`` and ``level`` are libvirt's."""

    def __init__(self, message: str, code: int = 0, domain: int = 0, level: int = 0) -> None:
        super().__init__(message, code, domain, level)
        self.message = message
        self.code = code
        self.domain = domain
        self.level = level

    def __str__(self) -> str:
        return self.message


class SnapshotNotFoundError(LibvirtError, LookupError):
    """No snapshot of that name (VIR_ERR_NO_DOMAIN_SNAPSHOT)."""


class DomainNotFoundError(LibvirtError, LookupError):
    """No such domain (VIR_ERR_NO_DOMAIN)."""


class InvalidArgumentError(LibvirtError, ValueError):
    """libvirt rejected an argument (VIR_ERR_INVALID_ARG)."""


class XMLError(LibvirtError, ValueError):
    """libvirt rejected an XML document (VIR_ERR_XML_ERROR, _DETAIL, _INVALID_SCHEMA)."""


class OperationInvalidError(LibvirtError):
    """Not possible in the domain's current state (VIR_ERR_OPERATION_INVALID)."""


class OperationUnsupportedError(LibvirtError):
    """The driver does not support it.

    VIR_ERR_NO_SUPPORT, VIR_ERR_OPERATION_UNSUPPORTED, VIR_ERR_CONFIG_UNSUPPORTED
    and VIR_ERR_ARGUMENT_UNSUPPORTED.
    """


class OperationDeniedError(LibvirtError):
    """Forbidden, e.g. a mutation on a read-only connection (VIR_ERR_OPERATION_DENIED)."""


class LibvirtConnectionError(LibvirtError):
    """Could not connect, the connection is closed, or it was lost."""


class EventLoopConflictError(RuntimeError):
    """Another libvirt event implementation is already registered in this process.

    libvirt takes one per process: virtsnap.aio's asyncio loop,
    :func:`virtsnap.start_event_loop`'s thread, or libvirt-python's
    ``libvirtaio`` / ``virEventRegisterDefaultImpl``.
    """
