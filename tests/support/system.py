"""Processes for tests: memory, terminals, waits, file modes, the CLI in-process."""

import fcntl
import os
import pty
import stat
import struct
import subprocess
import time


def rss():
    """Resident set size in bytes, after handing free heap pages back to the OS."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_until(predicate, timeout, interval=0.05):
    """Poll ``predicate()`` until it is true or ``timeout`` s have passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_for(condition, what, timeout=60):
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``timeout`` s."""
    if not wait_until(condition, timeout, interval=0.02):
        raise AssertionError(f"timed out waiting for {what}")


def run_on_a_terminal(argv, env):
    """Run with stdout piped and stderr on a pseudo-terminal; return (status, stdout, tty)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal, env=env)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        shown += chunk
    stdout = process.stdout.read()
    process.wait(timeout=60)
    os.close(controller)
    return process.returncode, stdout.decode(), shown.decode(errors="replace")


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def cli(capsys, *args):
    """Run the CLI's ``main`` on test:///default in this process (it shares the test
    driver with the ``dom`` fixture): (status, stdout, stderr)."""
    from support.helpers import TEST_URI
    from virtsnap.cli import main

    status = main(["-c", TEST_URI, *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def sockets_to(path):
    """This process's descriptors of sockets connected to the UNIX socket ``path``."""
    import socket

    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(name))) as sock:
                if sock.family == socket.AF_UNIX and sock.getpeername() == os.fspath(path):
                    found.add(int(name))
        except OSError:  # closed meanwhile, or not connected
            pass
    return found


SIOCOUTQ = 0x5411  # for a UNIX socket: bytes this end sent that its peer has not read


def unread_by_peer(fds):
    """Bytes sent on ``fds`` that the other end (say, a frozen daemon) has not read
    yet: a request in flight to a stopped daemon shows here."""
    unread = 0
    for fd in fds:
        try:
            unread += struct.unpack("i", fcntl.ioctl(fd, SIOCOUTQ, bytes(4)))[0]
        except OSError:  # that connection closed meanwhile (a reconnect gave a new fd)
            pass
    return unread
