"""The failures a command reports, each as virsh reports it."""

from __future__ import annotations

__all__ = ["CommandError", "ConnectFailed", "Interrupted", "UsageError"]


class CommandError(Exception):
    """A failure reported as ``error:`` lines (exit 1): ``context`` lines first, as virsh
    prints "Failed to delete snapshot s1" before libvirt's own message."""

    def __init__(self, message: str, *context: str) -> None:
        super().__init__(message)
        self.context = context


class UsageError(CommandError):
    """A usage mistake found once the command runs (options virsh refuses together)."""


class Interrupted(CommandError):
    """Ctrl-C during a libvirt job: one line says what became of the job (exit 130)."""


class ConnectFailed(CommandError):
    """The connection could not be opened: virsh's two lines, and no command runs."""
