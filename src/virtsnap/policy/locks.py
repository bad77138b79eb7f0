"""The per-domain lock of ``virtsnap auto`` and ``virtsnap prune``.

API::

    default_lock_dir() -> str
    prepare_lock_dir(path) -> None         # create 0700 or check; UnsafeFileError
    DomainLock(directory, uri, domain, wait)   # context manager; LockBusy

A lock directory is private (``virtsnap._files.open_private_dir``): a
real directory owned by the user running virtsnap and writable by nobody
else, so no other local user can hold, plant or redirect a lock file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import time
from typing import Optional

from virtsnap._files import UnsafeFileError, check_private_dir, open_private_dir

__all__ = ["DomainLock", "LockBusy", "UnsafeFileError", "default_lock_dir", "prepare_lock_dir"]


class LockBusy(RuntimeError):
    """Another run holds the lock of this (URI, domain)."""


def default_lock_dir() -> str:
    """``$VIRTSNAP_LOCK_DIR``; else /run/virtsnap as root (only root writes in /run);
    else ``$XDG_RUNTIME_DIR/virtsnap``; else ~/.cache/virtsnap/locks. Never /tmp."""
    if os.environ.get("VIRTSNAP_LOCK_DIR"):
        return os.environ["VIRTSNAP_LOCK_DIR"]
    if os.geteuid() == 0 and os.path.isdir("/run"):
        return "/run/virtsnap"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "virtsnap")
    return os.path.join(os.path.expanduser("~"), ".cache", "virtsnap", "locks")


def prepare_lock_dir(path: str) -> None:
    """Create ``path`` with mode 0700, or check the existing one; refuse (raise
    :class:`~virtsnap._files.UnsafeFileError`, "DIR: reason") a directory others could write."""
    check_private_dir(path, create=True)


class DomainLock:
    """An advisory ``flock`` on ``<dir>/<domain>-<hash of URI and domain>.lock``.

    Held for the whole of a domain's run; ``wait`` seconds to get it, then
    :class:`LockBusy`. It is local to this machine: runs on two machines
    against the same URI do not see each other's locks. The directory is
    checked (:func:`~virtsnap.policy.locks.prepare_lock_dir`) and the file opened relative to it
    with ``O_NOFOLLOW``.
    """

    def __init__(self, directory: str, uri: Optional[str], domain: str, wait: float) -> None:
        digest = hashlib.sha256(f"{uri or ''}\0{domain}".encode()).hexdigest()[:16]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", domain)[:64]
        self.directory, self.filename = directory, f"{safe}-{digest}.lock"
        self.path = os.path.join(directory, self.filename)
        self.uri, self.domain, self.wait = uri, domain, wait
        self.fd: Optional[int] = None

    def __enter__(self) -> "DomainLock":
        dir_fd = open_private_dir(self.directory, create=True)
        try:
            fd = os.open(self.filename, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    if exc.errno in (errno.EAGAIN, errno.EACCES):
                        raise LockBusy(
                            f"another virtsnap run holds the lock of domain {self.domain!r} on "
                            f"{self.uri or 'the default URI'} ({self.path}) after waiting "
                            f"{self.wait:g}s; skipped") from None
                    raise
                time.sleep(0.05)
        self.fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None
