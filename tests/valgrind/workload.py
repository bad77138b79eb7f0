"""A focused virtsnap workload for valgrind (see run.sh).

Exercises every C path of the binding against libvirt's in-process test
driver: open/close, lookups, creation, listing (objects and names), parents,
children, XML, bulk calls (one and two workers), revert, delete, and the error
paths (missing snapshot, closed connection, bad flags, bad strings). Then it
drops every handle and closes every connection, so whatever valgrind still
finds allocated at exit and unreachable was leaked.

    python workload.py [OPS]        # OPS rounds, default 2000
"""

import gc
import sys

import virtsnap
from virtsnap import LibvirtError

URI = "test:///default"


def expect(error, func, *args, **kwargs):
    try:
        func(*args, **kwargs)
    except error:
        return
    raise AssertionError(f"{func!r} did not raise {error.__name__}")


def one_round(conn, dom, i):
    snap = dom.get_snapshot_by_name("child")
    snap.get_parent()
    snap.get_parent().get_parent()            # the root's parent: None
    dom.get_snapshot_by_name("root").list_all_children()
    dom.get_snapshot_by_name("root").list_child_snapshot_names()
    dom.get_snapshot_by_name("root").num_of_child_snapshots()
    dom.list_all_snapshots()
    dom.list_snapshot_names()
    dom.num_of_snapshots()
    snap.get_xml_description()
    snap.get_xml_description(virtsnap.XMLFlags.SECURE)
    snap.is_current()
    snap.has_metadata()
    dom.current_snapshot()
    dom.has_current_snapshot()
    dom.snapshot_xml_descriptions()
    dom.snapshot_parents()
    dom.snapshot_children()
    if i % 10 == 0:
        dom.snapshot_xml_descriptions(workers=2)
        dom.snapshot_parents(workers=2)
        dom.snapshot_children(virtsnap.ListFlags.DESCENDANTS, workers=2)
        conn.list_all_domains()
        conn.get_domain_by_uuid(dom.uuid)
        conn.get_domain_by_id(conn.get_domain_by_name("test").id)
        conn.get_lib_version()
        _ = conn.uri
        dom.state()
        # create, revert, delete
        extra = dom.create_snapshot(name=f"extra-{i}", description="x & <y>")
        snap.revert_to()
        extra.delete()
        # error paths
        expect(virtsnap.SnapshotNotFoundError, dom.get_snapshot_by_name, "missing")
        expect(virtsnap.DomainNotFoundError, conn.get_domain_by_name, "missing")
        expect(virtsnap.XMLError, dom.create_snapshot, "<not-closed>")
        expect(OverflowError, dom.list_all_snapshots, -1)
        expect(TypeError, dom.list_all_snapshots, "0")
        expect(ValueError, dom.get_snapshot_by_name, "a\0b")
        expect(ValueError, dom.snapshot_xml_descriptions, workers=0)
        expect(LibvirtError, dom.get_job_stats)
    if i % 50 == 0:
        other = virtsnap.open(URI)
        other_dom = other.get_domain_by_name("test")
        gone = other_dom.create_snapshot(name=f"gone-{i}")
        gone.delete()
        expect(virtsnap.SnapshotNotFoundError, gone.get_xml_description)
        other.close()
        expect(virtsnap.LibvirtConnectionError, other_dom.list_all_snapshots)
        expect(virtsnap.LibvirtConnectionError, gone.delete)


def main(ops):
    conn = virtsnap.open(URI)
    dom = conn.get_domain_by_name("test")
    root = dom.create_snapshot(name="root", description="the root")
    dom.create_snapshot(name="child")
    for i in range(ops):
        one_round(conn, dom, i)
    for snap in reversed(dom.list_all_snapshots(virtsnap.ListFlags.TOPOLOGICAL)):
        snap.delete()
    del root
    conn.close()
    gc.collect()
    print(f"workload done: {ops} rounds", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
