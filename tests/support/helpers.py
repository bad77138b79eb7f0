"""The one copy of what many tests share: the URIs, virsh, and snapshot clean-up.

Pure Python, no pytest dependency, so test helpers and scripts import it too.
"""

import os
import subprocess

import virtsnap
from virtsnap import DeleteFlags, ListFlags

TEST_URI = "test:///default"              # libvirt's test driver, in this process
DAEMON_TEST_URI = "test+unix:///default"  # the test driver served by the shared daemon
QEMU_URI = "qemu:///system"


def virsh(*args, uri, quiet=True, timeout=120):
    """``virsh [-q] -c URI ARGS...``'s stdout (no shell); RuntimeError with stderr if it fails."""
    cmd = ["virsh"] + (["-q"] if quiet else []) + ["-c", uri] + [os.fspath(a) for a in args]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                          encoding="utf-8", timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (
            " ".join(cmd), proc.returncode, proc.stderr.strip()))
    return proc.stdout


def delete_all_snapshots(dom):
    """Delete every snapshot of ``dom``, children first, with its data.

    A snapshot libvirt cannot delete with its data (an external one with an
    internal parent, in libvirt 9.0) loses only its metadata.
    """
    for snap in reversed(dom.list_all_snapshots(ListFlags.TOPOLOGICAL)):
        try:
            snap.delete()
        except virtsnap.LibvirtError:
            snap.delete(DeleteFlags.METADATA_ONLY)


def parse_snapshot_tree(text):
    """child -> parent (None for roots) from ``virsh snapshot-list --tree``.

    Roots start in column 0; a child is printed as ``+- NAME`` further right
    than its parent, below it. Lines of only ``|`` and blanks connect them.
    """
    parents = {}
    stack = []  # (column, name) of the open ancestors
    for line in text.splitlines():
        if set(line) <= {" ", "|"}:
            continue
        if "+- " in line:
            column = line.index("+- ") + 3
        else:
            column = len(line) - len(line.lstrip())
        name = line[column:].rstrip()
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents
