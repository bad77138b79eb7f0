"""Handles used after what they point at is gone.

A snapshot or domain handle outlives its connection being closed, the
snapshot being deleted (by us, by another connection, by another client) and
the domain being undefined: every call then raises the matching LibvirtError
subclass, and nothing crashes. Undefining needs a domain we can define, so
that part runs over a private daemon with virsh (test_daemon_faults).
"""

import gc
import subprocess
import sys

import pytest

import virtsnap
from support.helpers import delete_all_snapshots, virsh
from support.private_daemon import define_domain
from virtsnap import DomainNotFoundError, LibvirtConnectionError, SnapshotNotFoundError


# Every call on a snapshot handle that reaches libvirt.
SNAPSHOT_CALLS = {
    "get_xml_description": lambda s: s.get_xml_description(),
    "get_xml_description(SECURE)": lambda s: s.get_xml_description(virtsnap.XMLFlags.SECURE),
    "get_parent": lambda s: s.get_parent(),
    "is_current": lambda s: s.is_current(),
    "has_metadata": lambda s: s.has_metadata(),
    "num_of_child_snapshots": lambda s: s.num_of_child_snapshots(),
    "list_child_snapshot_names": lambda s: s.list_child_snapshot_names(),
    "list_all_children": lambda s: s.list_all_children(),
    "list_child_snapshots": lambda s: s.list_child_snapshots(),
    "revert_to": lambda s: s.revert_to(),
    "delete": lambda s: s.delete(),
    "delete(CHILDREN)": lambda s: s.delete(virtsnap.DeleteFlags.CHILDREN),
}

# Every call on a domain handle that reaches libvirt.
DOMAIN_CALLS = {
    "state": lambda d: d.state(),
    "create_snapshot": lambda d: d.create_snapshot(name="never"),
    "num_of_snapshots": lambda d: d.num_of_snapshots(),
    "list_snapshot_names": lambda d: d.list_snapshot_names(),
    "list_all_snapshots": lambda d: d.list_all_snapshots(),
    "get_snapshot_by_name": lambda d: d.get_snapshot_by_name("one"),
    "has_current_snapshot": lambda d: d.has_current_snapshot(),
    "current_snapshot": lambda d: d.current_snapshot(),
    "snapshot_xml_descriptions": lambda d: d.snapshot_xml_descriptions(),
    "snapshot_xml_descriptions(workers=2)": lambda d: d.snapshot_xml_descriptions(workers=2),
    "snapshot_parents": lambda d: d.snapshot_parents(),
    "snapshot_children": lambda d: d.snapshot_children(),
    "snapshot_children(workers=2)": lambda d: d.snapshot_children(workers=2),
}

CONNECTION_CALLS = {
    "uri": lambda c: c.uri,
    "get_lib_version": lambda c: c.get_lib_version(),
    "set_keepalive": lambda c: c.set_keepalive(5, 3),
    "get_domain_by_name": lambda c: c.get_domain_by_name("test"),
    "get_domain_by_uuid": lambda c: c.get_domain_by_uuid("6695eb01-f6a4-8304-79aa-97f2502e193f"),
    "get_domain_by_id": lambda c: c.get_domain_by_id(1),
    "list_all_domains": lambda c: c.list_all_domains(),
    "restore": lambda c: c.restore("no-such-image"),
    "create_storage_volume": lambda c: c.create_storage_volume("no-such-pool", "<volume/>"),
    "delete_storage_volume": lambda c: c.delete_storage_volume("/no/such/volume"),
    "__enter__": lambda c: c.__enter__(),
}


def assert_all_raise(calls, target, exc_type):
    """Run every call on ``target``; each must raise ``exc_type``. Reports all misses."""
    misses = {}
    for label, call in calls.items():
        try:
            result = call(target)
        except exc_type:
            continue
        except BaseException as exc:  # noqa: BLE001 - collected for the report
            misses[label] = f"raised {type(exc).__name__}: {exc}"
        else:
            misses[label] = f"returned {result!r}"
    assert misses == {}, f"expected {exc_type.__name__} from every call"


@pytest.fixture
def tree(uri):
    """(conn, dom, {name: snapshot}) with one -> two -> three on domain "test"."""
    conn = virtsnap.open(uri)
    dom = conn.get_domain_by_name("test")
    delete_all_snapshots(dom)
    snaps = {name: dom.create_snapshot(name=name) for name in ("one", "two", "three")}
    yield conn, dom, snaps
    if not conn.closed:
        delete_all_snapshots(dom)
        conn.close()


# ---------------------------------------------------------------- closed connection

def test_handles_after_the_connection_is_closed(tree):
    conn, dom, snaps = tree
    conn.close()
    conn.close()  # twice is fine
    assert conn.closed and not conn.is_alive()
    assert_all_raise(CONNECTION_CALLS, conn, LibvirtConnectionError)
    assert_all_raise(DOMAIN_CALLS, dom, LibvirtConnectionError)
    with pytest.raises(LibvirtConnectionError):
        dom.get_job_stats()  # unsupported by the test driver, but closed comes first
    for snap in snaps.values():
        assert_all_raise(SNAPSHOT_CALLS, snap, LibvirtConnectionError)
    # What needs no call to libvirt still answers.
    assert dom.name == "test" and snaps["two"].name == "two"
    assert repr(conn) == "<virtsnap.Connection (closed)>"
    assert snaps["two"].get_domain() is dom and dom.get_connect() is conn
    assert snaps["two"] == snaps["two"] and hash(snaps["two"]) == hash(snaps["two"])


def test_a_snapshot_keeps_its_domain_and_connection_alive(uri):
    """Drop every reference but the snapshot's: it still works, then closes cleanly."""
    conn = virtsnap.open(uri)
    dom = conn.get_domain_by_name("test")
    delete_all_snapshots(dom)
    snap = dom.create_snapshot(name="kept")
    del conn, dom
    gc.collect()
    assert "<name>kept</name>" in snap.get_xml_description()
    assert snap.get_domain().list_snapshot_names() == ["kept"]
    snap.delete()
    snap.get_connect().close()
    with pytest.raises(LibvirtConnectionError):
        snap.get_xml_description()


# ---------------------------------------------------------------- deleted snapshot

def test_handles_after_the_snapshot_is_deleted(tree):
    conn, dom, snaps = tree
    snaps["two"].delete()
    assert_all_raise(SNAPSHOT_CALLS, snaps["two"], SnapshotNotFoundError)
    with pytest.raises(SnapshotNotFoundError):
        dom.get_snapshot_by_name("two")
    # The others are untouched; "three" was re-parented onto "one".
    assert snaps["three"].get_parent().name == "one"
    assert sorted(dom.list_snapshot_names()) == ["one", "three"]


def test_handles_after_a_subtree_is_deleted(tree):
    conn, dom, snaps = tree
    snaps["one"].delete(virtsnap.DeleteFlags.CHILDREN)
    for snap in snaps.values():
        assert_all_raise(SNAPSHOT_CALLS, snap, SnapshotNotFoundError)
    assert dom.list_snapshot_names() == []
    assert dom.snapshot_xml_descriptions() == {}


def test_snapshot_deleted_through_another_connection(tree, uri):
    conn, dom, snaps = tree
    with virtsnap.open(uri) as other:
        other.get_domain_by_name("test").get_snapshot_by_name("three").delete()
    assert_all_raise(SNAPSHOT_CALLS, snaps["three"], SnapshotNotFoundError)
    assert snaps["two"].list_all_children() == []


@pytest.mark.libvirtd
def test_snapshot_deleted_by_another_client(libvirtd, private_daemon):
    """virsh, a separate process, deletes the snapshot behind our handle."""
    with virtsnap.open(private_daemon.uri()) as conn:
        dom = conn.get_domain_by_name("test")
        snap = dom.create_snapshot(name="doomed")
        virsh("snapshot-delete", "test", "doomed", uri=private_daemon.uri())
        assert_all_raise(SNAPSHOT_CALLS, snap, SnapshotNotFoundError)
        assert dom.num_of_snapshots() == 0


# ---------------------------------------------------------------- undefined domain

@pytest.mark.libvirtd
def test_handles_after_the_domain_is_undefined(libvirtd, private_daemon, tmp_path):
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        define_domain(uri, "short-lived", tmp_path)
        dom = conn.get_domain_by_name("short-lived")
        one = dom.create_snapshot(name="one")
        two = dom.create_snapshot(name="two")
        virsh("undefine", "--snapshots-metadata", "short-lived", uri=uri)
        assert_all_raise(DOMAIN_CALLS, dom, DomainNotFoundError)
        for snap in (one, two):
            assert_all_raise(SNAPSHOT_CALLS, snap, DomainNotFoundError)
        with pytest.raises(DomainNotFoundError):
            conn.get_domain_by_name("short-lived")
        # A new domain of the same name is a different domain (new UUID).
        define_domain(uri, "short-lived", tmp_path)
        assert_all_raise(DOMAIN_CALLS, dom, DomainNotFoundError)
        again = conn.get_domain_by_name("short-lived")
        assert again != dom and again.list_snapshot_names() == []


# ---------------------------------------------------------------- close() racing calls

# Run in a child: the failure is a crash (or libvirt's "not a virObjectLockable
# instance" warnings about freed objects, which the child turns into exit 2).
CLOSE_RACE = r"""
import sys, threading, time, virtsnap
uri, rounds = sys.argv[1], int(sys.argv[2])
odd = set()

def hammer(conn, stop):
    while not stop.is_set():
        try:
            conn.get_domain_by_name("test")
            conn.list_all_domains()
            conn.get_lib_version()
        except virtsnap.LibvirtConnectionError as exc:
            if str(exc) != "the connection is closed":
                odd.add(str(exc))
        except virtsnap.LibvirtError as exc:
            odd.add(f"{type(exc).__name__}: {exc}")

for _ in range(rounds):
    conn = virtsnap.open(uri)
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(conn, stop)) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.005)
    conn.close()
    stop.set()
    for thread in threads:
        thread.join(30)
print("odd errors:", sorted(odd), flush=True)
sys.exit(1 if odd else 0)
"""


def test_close_while_other_threads_call(uri):
    """close() racing Connection calls on other threads: they get 'closed', nothing else."""
    proc = subprocess.run([sys.executable, "-c", CLOSE_RACE, uri, "200"],
                          capture_output=True, text=True, timeout=300)
    freed_object_warnings = proc.stderr.count("is not a virObject")
    assert proc.returncode == 0 and freed_object_warnings == 0, (
        f"exit {proc.returncode}, {freed_object_warnings} freed-object warnings\n"
        f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
