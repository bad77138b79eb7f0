"""Leaks: handles, strings and errors made and dropped by the million.

- RSS: after a warm-up, cycles of lookup / list / parent / children (and the
  string, bulk and error paths) must not grow the process by 2 MiB or more.
  100,000 cycles here, 1,000,000 with --run-slow.
- Reference counts: arguments gain no references, results carry exactly the
  references their holder owns, parents are released with their children,
  exceptions are not kept alive by the module.
- tracemalloc: no growth of the Python allocations made during virtsnap
  calls.
- valgrind (scripts/checks.py valgrind, a step of scripts/run-tests):
  tests/valgrind/run.sh runs a focused workload under memcheck; no
  "definitely lost" block and no memcheck error may pass through virtsnap's
  compiled module. A libvirt version's own suppression file (libvirt-X.Y.supp)
  may hide only one-time blocks: fewer than the rounds. Its parser is tested here.
"""

import ctypes
import gc
import importlib.util
import sys
import tracemalloc
import weakref
from pathlib import Path

import pytest

import virtsnap
from support.helpers import TEST_URI, delete_all_snapshots
from support.system import rss

RSS_LIMIT = 2 * 1024 * 1024
_libc = ctypes.CDLL("libc.so.6")


def rss_growth(cycle, cycles):
    """RSS growth over ``cycles`` calls of ``cycle``, after a 10% warm-up."""
    for i in range(max(1000, cycles // 10)):
        cycle(i)
    before = rss()
    for i in range(cycles):
        cycle(i)
    return rss() - before


@pytest.fixture
def tree_dom(request):
    """Domain "test" (in-process, or via a private daemon) with root -> child."""
    uri = TEST_URI
    if getattr(request, "param", "in-process") == "daemon":
        request.getfixturevalue("libvirtd")
        uri = request.getfixturevalue("private_daemon").uri()
    with virtsnap.open(uri) as conn:
        dom = conn.get_domain_by_name("test")
        delete_all_snapshots(dom)
        dom.create_snapshot(name="root", description="root")
        dom.create_snapshot(name="child", description="child")
        yield dom
        delete_all_snapshots(dom)


def handle_cycle(dom):
    root = dom.get_snapshot_by_name("root")

    def cycle(i):
        snap = dom.get_snapshot_by_name("child")         # lookup
        snap.get_parent()                                 # parent
        root.list_all_children()                          # children
        dom.list_all_snapshots()                          # list
    return cycle


def string_cycle(dom):
    child = dom.get_snapshot_by_name("child")
    conn = dom.get_connect()

    def cycle(i):
        child.get_xml_description()
        child.name
        dom.list_snapshot_names()
        child.list_child_snapshot_names()
        dom.snapshot_xml_descriptions()
        dom.snapshot_parents()
        dom.snapshot_children()
        conn.uri
    return cycle


def error_cycle(dom):
    root = dom.get_snapshot_by_name("root")
    closed = virtsnap.open(TEST_URI)
    closed_dom = closed.get_domain_by_name("test")
    closed.close()

    def cycle(i):
        for call, error in ((lambda: dom.get_snapshot_by_name("missing"),
                             virtsnap.SnapshotNotFoundError),
                            (lambda: dom.create_snapshot("<broken"), virtsnap.XMLError),
                            (lambda: closed_dom.list_all_snapshots(),
                             virtsnap.LibvirtConnectionError),
                            (lambda: dom.list_all_snapshots(-1), OverflowError),
                            (lambda: dom.get_snapshot_by_name("a\0"), ValueError)):
            try:
                call()
            except error:
                pass
        assert root.get_parent() is None
    return cycle


def connection_cycle(dom):
    def cycle(i):
        with virtsnap.open(TEST_URI) as conn:
            conn.get_domain_by_name("test").get_snapshot_by_name("child").get_parent()
    return cycle


CYCLES = {
    "handles": (handle_cycle, 100_000),
    "strings": (string_cycle, 30_000),
    "errors": (error_cycle, 30_000),
    "connections": (connection_cycle, 10_000),
}


@pytest.mark.parametrize("kind", sorted(CYCLES))
def test_rss_stays_flat(tree_dom, kind):
    make, cycles = CYCLES[kind]
    growth = rss_growth(make(tree_dom), cycles)
    print(f"\n{kind}: {cycles} cycles, RSS growth {growth / 1024:.0f} KiB")
    assert growth < RSS_LIMIT


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CYCLES))
def test_rss_stays_flat_long(tree_dom, kind):
    make, cycles = CYCLES[kind]
    cycles = 1_000_000 if kind == "handles" else cycles * 10
    growth = rss_growth(make(tree_dom), cycles)
    print(f"\n{kind}: {cycles} cycles, RSS growth {growth / 1024:.0f} KiB")
    assert growth < RSS_LIMIT


@pytest.mark.libvirtd
@pytest.mark.parametrize("tree_dom", ["daemon"], indirect=True)
def test_rss_stays_flat_through_the_daemon(tree_dom):
    growth = rss_growth(handle_cycle(tree_dom), 10_000)
    print(f"\nhandles via the daemon: 10000 cycles, RSS growth {growth / 1024:.0f} KiB")
    assert growth < RSS_LIMIT


def test_the_rss_probe_sees_a_leak(tree_dom):
    """The measure can fail: keeping about 40 MiB of objects shows up as growth
    (more than the free memory earlier tests can leave in the process's pools)."""
    kept = []
    growth = rss_growth(lambda i: kept.append(bytes(400)) if i >= 1000 else None, 100_000)
    assert growth >= RSS_LIMIT, growth


# ---------------------------------------------------------------- reference counts

def fresh_str(text):
    """A str object of our own (not interned, not shared with the interpreter)."""
    return "".join(list(text))


def test_arguments_gain_no_references(tree_dom):
    dom = tree_dom
    name, missing, xml = fresh_str("child"), fresh_str("missing"), fresh_str("<broken")
    description, flags = fresh_str("described"), virtsnap.ListFlags.ROOTS
    args = (name, missing, xml, description, flags)
    before = [sys.getrefcount(arg) for arg in args]
    for _ in range(1000):
        dom.get_snapshot_by_name(name)
        dom.list_all_snapshots(flags)
        with pytest.raises(virtsnap.SnapshotNotFoundError):
            dom.get_snapshot_by_name(missing)
        with pytest.raises(virtsnap.XMLError):
            dom.create_snapshot(xml)
        dom.create_snapshot(name=fresh_str("tmp"), description=description).delete()
        dom.get_connect().get_domain_by_name(fresh_str("test"))
    assert [sys.getrefcount(arg) for arg in args] == before


def test_results_carry_only_their_own_references(tree_dom):
    dom = tree_dom
    conn = dom.get_connect()
    dom_refs, conn_refs = sys.getrefcount(dom), sys.getrefcount(conn)

    snap = dom.get_snapshot_by_name("child")
    assert sys.getrefcount(snap) == 2                  # ``snap`` and the argument
    parent = snap.get_parent()
    snaps = dom.list_all_snapshots()
    children = parent.list_all_children()
    # The list's reference and getrefcount's argument, nothing else.
    assert [sys.getrefcount(snaps[i]) for i in range(len(snaps))] == [2] * len(snaps)
    assert [sys.getrefcount(children[i]) for i in range(len(children))] == [2] * len(children)
    # Each snapshot handle holds its domain once; the domain holds the connection.
    assert sys.getrefcount(dom) == dom_refs + 2 + len(snaps) + len(children)
    other = conn.get_domain_by_name("test")
    assert sys.getrefcount(conn) == conn_refs + 1

    for value in (snap.name, snap.get_xml_description(), conn.uri,
                  *dom.list_snapshot_names(), *dom.snapshot_xml_descriptions().values()):
        assert sys.getrefcount(value) <= 3, value[:40]  # a fresh object (the tuple, the arg)

    del snap, parent, snaps, children, other
    gc.collect()
    assert sys.getrefcount(dom) == dom_refs
    assert sys.getrefcount(conn) == conn_refs


def test_errors_are_not_kept_alive(tree_dom):
    refs = []
    for _ in range(100):
        try:
            tree_dom.get_snapshot_by_name("missing")
        except virtsnap.SnapshotNotFoundError as exc:
            refs.append(weakref.ref(exc))
    gc.collect()
    assert [ref() for ref in refs] == [None] * 100


# ---------------------------------------------------------------- tracemalloc

TRACED_LIMIT = 16 * 1024


def traced_growth(cycle, cycles):
    """Growth of the Python allocations charged to virtsnap calls over ``cycles``.

    Cython code has no Python frames: what virtsnap allocates is charged to
    the calling line of this file, or to virtsnap's own Python modules.
    """
    tracemalloc.start(1)
    try:
        for i in range(cycles // 10):
            cycle(i)
        gc.collect()
        before = tracemalloc.take_snapshot()
        for i in range(cycles):
            cycle(i)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = [tracemalloc.Filter(True, __file__), tracemalloc.Filter(True, "*/virtsnap/*")]
    stats = after.filter_traces(ours).compare_to(before.filter_traces(ours), "lineno")
    return sum(stat.size_diff for stat in stats), stats[:3]


def test_tracemalloc_shows_no_growth(tree_dom):
    cycles = [make(tree_dom) for make, _ in (CYCLES["handles"], CYCLES["strings"],
                                             CYCLES["errors"])]

    def all_kinds(i):
        for cycle in cycles:
            cycle(i)

    growth, top = traced_growth(all_kinds, 20_000)
    print(f"\ntracemalloc: {growth} bytes of growth over 20000 cycles; top: {top}")
    assert growth < TRACED_LIMIT, top


def test_the_tracemalloc_probe_sees_a_leak(tree_dom):
    """The measure can fail: handles kept alive show up."""
    kept = []
    growth, top = traced_growth(lambda i: kept.append(tree_dom.get_snapshot_by_name("child")),
                                2000)
    assert growth >= TRACED_LIMIT, top


# ---------------------------------------------------------------- valgrind
# The valgrind run itself is a step of scripts/run-tests (scripts/checks.py
# valgrind); its log parser is tested here.

def checks_module():
    spec = importlib.util.spec_from_file_location(
        "virtsnap_checks", Path(__file__).resolve().parent.parent / "scripts" / "checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNTHETIC_LOG = """==1== 40 bytes in 1 blocks are definitely lost in loss record 1 of 2
==1==    at 0x1: malloc (vg_replace_malloc.c:381)
==1==    by 0x2: virConnectGetURI (in /usr/lib/libvirt.so.0)
==1==    by 0x3: __pyx_pf_8virtsnap_9_snapshot_10Connection_3uri___get__ (snapshot.c:1)
==1==    by 0x4: _PyEval_EvalFrameDefault (ceval.c:1)
==1== 
==1== 8 bytes in 1 blocks are definitely lost in loss record 2 of 2
==1==    at 0x1: malloc (vg_replace_malloc.c:381)
==1==    by 0x4: _PyEval_EvalFrameDefault (ceval.c:1)
==1==    by 0x5: __pyx_pymod_exec__snapshot (snapshot.c:2)
==1== 
==1== Invalid read of size 8
==1==    at 0x6: virDomainSnapshotGetName (in /usr/lib/libvirt.so.0)
==1==    by 0x7: ??? (in /x/virtsnap/_snapshot.cpython-311-x86_64-linux-gnu.so)
==1== 
"""


def test_the_valgrind_parser():
    checks = checks_module()
    leaks, errors = checks.virtsnap_records(SYNTHETIC_LOG)
    assert len(leaks) == 1 and "virConnectGetURI" in leaks[0]
    assert len(errors) == 1 and "Invalid read" in errors[0]
    used = ("--9-- used_suppression:      6 libvirt-7.0-libxml2-first-parse /t/libvirt-7.0.supp:31"
            " suppressed: 1,136 bytes in 1,006 blocks\n"
            "--9-- used_suppression:    847 cpython-interpreter-init-leak /t/python-libvirt.supp:35"
            " suppressed: 142,779 bytes in 2,658 blocks\n")
    assert checks.version_suppressed_blocks(used) == {"libvirt-7.0-libxml2-first-parse": 1006}
