"""Safe files: who may own and write what virtsnap reads, and writes that
never follow a planted symlink.

API::

    UnsafeFileError(PermissionError)             # str(exc) == "PATH: reason"
    open_private_dir(path, *, create=True) -> int     # fd of a dir only we may write
    check_private_dir(path, *, create=True) -> None
    check_trusted_file(path) -> str              # the real path; file and every dir checked
    check_trusted_dir(path) -> str
    check_trusted_program(program, search_path=None) -> Optional[str]
    read_trusted_file(path) -> bytes
    write_atomic(path, data: bytes, *, mode=0o600, dir_fd=None) -> None
    atomic_writer(path, *, mode=0o600, dir_fd=None) -> context manager, a binary file
    open_output_dir(path, *, mode=0o700) -> int  # fd to write into with dir_fd

*Private* (lock directories): a real directory (never a symlink) owned by
the effective user and writable by nobody else. *Trusted* (policy files,
hooks, the metrics directory of a root run): owned by root or the effective
user and not writable by group or others; every directory on the way,
symlinks resolved one by one, owned likewise and not writable by others
unless sticky (as /tmp is). cron, sudo and sshd's ``StrictModes`` apply the
same rules.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from typing import IO, Iterator, List, Optional

__all__ = [
    "UnsafeFileError",
    "atomic_writer",
    "check_private_dir",
    "check_trusted_dir",
    "check_trusted_file",
    "check_trusted_program",
    "open_output_dir",
    "open_private_dir",
    "read_trusted_file",
    "write_atomic",
]

_MAX_SYMLINKS = 40  # as the kernel's ELOOP limit


class UnsafeFileError(PermissionError):
    """A file or directory that others could change; ``str()`` is ``"PATH: reason"``."""

    def __init__(self, path: str, reason: str) -> None:
        self.message = f"{path}: {reason}"
        super().__init__(self.message)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return self.message


def _owner_name(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _private_problem(st: os.stat_result) -> Optional[str]:
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link, not a directory"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid != os.geteuid():
        return (f"owned by {_owner_name(st.st_uid)}, not by the user running virtsnap "
                f"({_owner_name(os.geteuid())})")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def open_private_dir(path: str, *, create: bool = True) -> int:
    """An O_DIRECTORY fd of ``path`` after checking it is private; creates it 0700
    (parents as needed) when missing and ``create``. Nothing is created inside."""
    if create:
        try:
            os.lstat(path)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.makedirs(path, mode=0o700)
    problem = _private_problem(os.lstat(path))
    if problem:
        raise UnsafeFileError(path, f"refused as a lock directory: {problem}")
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    problem = _private_problem(os.fstat(fd))  # the one we opened, whatever happened meanwhile
    if problem:
        os.close(fd)
        raise UnsafeFileError(path, f"refused as a lock directory: {problem}")
    return fd


def check_private_dir(path: str, *, create: bool = True) -> None:
    """:func:`open_private_dir`, closing the fd."""
    os.close(open_private_dir(path, create=create))


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _check_dir(path: str, st: os.stat_result) -> None:
    if not _trusted_owner(st.st_uid):
        raise UnsafeFileError(path, f"directory owned by {_owner_name(st.st_uid)}, who could "
                                    "replace what it holds")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise UnsafeFileError(path, f"directory writable by others and not sticky "
                                    f"(mode {stat.S_IMODE(st.st_mode):04o})")


def _check_file(path: str, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(path, "not a regular file")
    if not _trusted_owner(st.st_uid):
        raise UnsafeFileError(path, f"owned by {_owner_name(st.st_uid)}, not by root")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeFileError(path, f"writable by group or others "
                                    f"(mode {stat.S_IMODE(st.st_mode):04o})")


def _resolve_trusted(path: str) -> str:
    """The real path of ``path``, resolved one component at a time; every
    directory entered on the way (also through symlinks) is checked."""
    pending: List[str] = os.path.abspath(path).split("/")
    current = "/"
    _check_dir("/", os.lstat("/"))
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        st = os.lstat(candidate)
        if stat.S_ISLNK(st.st_mode):
            if not _trusted_owner(st.st_uid):  # its owner may swap it, even in a sticky dir
                raise UnsafeFileError(candidate, f"a symbolic link owned by "
                                                 f"{_owner_name(st.st_uid)}")
            links += 1
            if links > _MAX_SYMLINKS:
                raise UnsafeFileError(path, "too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            pending[:0] = target.split("/")
            continue
        if any(rest not in ("", ".") for rest in pending):
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(20, "Not a directory", candidate)
            _check_dir(candidate, st)
        current = candidate
    return current


def check_trusted_file(path: str) -> str:
    """Check that only root (or the effective user) can change ``path``: the file
    and every directory above it. Returns its real path; :class:`~virtsnap._files.UnsafeFileError`."""
    real = _resolve_trusted(path)
    st = os.stat(real)
    _check_file(path if real == os.path.abspath(path) else f"{path} (-> {real})", st)
    return real


def check_trusted_dir(path: str) -> str:
    """Check a directory virtsnap writes into (e.g. ``--metrics-file``'s), and all
    above it, as :func:`check_trusted_file` does. Returns its real path."""
    real = _resolve_trusted(path)
    st = os.stat(real)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "Not a directory", path)
    _check_dir(path, st)
    return real


def check_trusted_program(program: str, search_path: Optional[str] = None) -> Optional[str]:
    """Check the executable ``program`` names, as ``execvp`` finds it through
    ``search_path`` (default ``$PATH``); also every PATH directory searched
    before it, so nobody can put another one ahead. Returns its path, or None
    when not found (running it will fail and be reported)."""
    if "/" in program:
        return check_trusted_file(program)
    if search_path is None:
        search_path = os.environ.get("PATH", os.defpath)
    for directory in search_path.split(os.pathsep):
        directory = directory or "."
        try:
            check_trusted_dir(directory)
        except FileNotFoundError:
            continue  # a missing PATH entry cannot be created where it is trusted
        except NotADirectoryError:
            continue
        candidate = os.path.join(directory, program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return check_trusted_file(candidate)
    return None


def read_trusted_file(path: str) -> bytes:
    """The contents of ``path`` after :func:`check_trusted_file`, read from the
    very file that was checked."""
    real = _resolve_trusted(path)
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as stream:
        _check_file(path, os.fstat(fd))
        return stream.read()


@contextlib.contextmanager
def atomic_writer(path: str, *, mode: int = 0o600,
                  dir_fd: Optional[int] = None) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` (relative to ``dir_fd`` if given)
    when the block ends without error.

    The data goes to a new file beside it (random name, ``O_EXCL`` and
    ``O_NOFOLLOW``: a planted file or symlink makes it fail, never write
    elsewhere), is fsynced, and is renamed over ``path``; a symlink at
    ``path`` is replaced, not followed. On error nothing is left behind.
    """
    directory, name = os.path.split(path if dir_fd is not None else os.path.abspath(path))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode, dir_fd=dir_fd)
    try:
        with open(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)  # whatever the umask
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise
    parent = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(parent)  # the rename itself survives a crash
    finally:
        os.close(parent)


def write_atomic(path: str, data: bytes, *, mode: int = 0o600,
                 dir_fd: Optional[int] = None) -> None:
    """Replace ``path`` with ``data`` through :func:`atomic_writer`."""
    with atomic_writer(path, mode=mode, dir_fd=dir_fd) as stream:
        stream.write(data)


def open_output_dir(path: str, *, mode: int = 0o700) -> int:
    """An O_DIRECTORY fd of ``path`` (created with ``mode`` when missing) to
    write into with ``dir_fd``. A symlink there is followed only when root or
    the effective user owns it, as the kernel's ``fs.protected_symlinks`` does
    in sticky directories; the files then land where the fd points, whatever
    is renamed meanwhile."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=mode)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) and not _trusted_owner(st.st_uid):
        raise UnsafeFileError(path, f"a symbolic link owned by {_owner_name(st.st_uid)}; "
                                    "not followed")
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
