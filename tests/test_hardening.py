"""The core neither crashes nor reports wrong data, whatever Python does with it.

Checks that used to kill the interpreter run in a child process: a regression
then fails the test (exit by a signal) instead of taking pytest down with it.
The libvirt-python checks need it installed (it is in the test extra).
"""

import random
import subprocess
import sys
import textwrap
import threading
import time

import libvirt
import pytest

import virtsnap
from conftest import TEST_URI
from virtsnap import LibvirtError


def run_child(code, *args, timeout=60):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"child exit {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


# ---------------------------------------------------------------- handles from __new__

NEW_HANDLES = r"""
import virtsnap
from virtsnap import Connection, Domain, DomainSnapshot, LibvirtConnectionError

# What a Connection with no pointer answers: it is simply closed.
CLOSED_ANSWERS = {"closed": True, "close": None, "__exit__": None, "is_alive": False,
                  "readonly": False, "__repr__": "<virtsnap.Connection (closed)>"}
wrong = []
for cls in (Connection, Domain, DomainSnapshot):
    obj = cls.__new__(cls)
    names = [n for n in dir(cls) if not n.startswith("_") and n.islower()
             and n not in ("from_libvirt",)]
    names += ["__repr__", "__hash__", "__eq__", "__enter__", "__exit__"]
    for name in names:
        if not hasattr(cls, name):
            continue
        try:
            value = getattr(obj, name)
            if callable(value):
                args = {"__eq__": (cls.__new__(cls),), "__exit__": (None, None, None)}
                value = value(*args.get(name, ()))
        except (TypeError, LibvirtConnectionError) as exc:
            if cls is Connection and name in CLOSED_ANSWERS:
                wrong.append(f"{cls.__name__}.{name}: raised {exc!r}")
            continue
        if cls is Connection and name in ("__hash__", "__eq__"):
            continue                  # identity, as for any object
        if cls is Connection and CLOSED_ANSWERS.get(name, ...) == value:
            continue
        wrong.append(f"{cls.__name__}.{name}: returned {value!r}")
print("\n".join(wrong))
raise SystemExit(1 if wrong else 0)
"""


def test_handles_made_with_new_raise_instead_of_crashing():
    """Every accessor, method and dunder of a __new__ object raises TypeError or
    LibvirtConnectionError; a Connection without a pointer is a closed one."""
    run_child(NEW_HANDLES)


def test_internals_are_not_importable():
    from virtsnap import _snapshot

    for name in ("_SnapshotBatch", "_run_chunk", "_run_event_loop", "_EventLoop"):
        assert not hasattr(_snapshot, name), name


# ---------------------------------------------------------------- bulk-call workers

FAILING_WORKER = r"""
import sys, virtsnap, virtsnap.errors
conn = virtsnap.open("test:///default")
dom = conn.get_domain_by_name("test")
for i in range(40):
    dom.create_snapshot(name=f"s{i}")

class Boom(Exception):
    pass

def broken_init(self, *args):
    raise Boom("building the exception failed")

# An unsupported flag makes every per-snapshot call fail with INVALID_ARG;
# then building that exception fails too.
virtsnap.errors.InvalidArgumentError.__init__ = broken_init
calls = {"xml": lambda w: dom.snapshot_xml_descriptions(flags=1 << 20, workers=w),
         "children": lambda w: dom.snapshot_children(flags=1 << 20, workers=w)}
for label, call in calls.items():
    for workers in (1, 2, 4, 16):
        try:
            result = call(workers)
        except Boom:
            continue
        print(f"{label}, workers={workers}: returned {str(result)[:200]}")
        sys.exit(1)
"""


def test_a_failing_worker_always_raises():
    """Even when building the worker's exception fails, the call raises; it never
    decodes a half-filled batch (a crash) or returns one (empty children)."""
    run_child(FAILING_WORKER)


@pytest.mark.parametrize("workers", [True, False])
def test_workers_rejects_bool(dom, workers):
    for call in (dom.snapshot_xml_descriptions, dom.snapshot_parents, dom.snapshot_children):
        with pytest.raises(TypeError, match="workers"):
            call(workers=workers)


def test_workers_beyond_the_cap_run_capped(dom):
    assert virtsnap.MAX_WORKERS == 16
    for i in range(40):
        dom.create_snapshot(name=f"s{i}")
    serial = dom.snapshot_parents(workers=1)
    assert dom.snapshot_parents(workers=100_000) == serial
    assert dom.snapshot_parents(workers=2**31 - 1, via="children") == serial


# ---------------------------------------------------------------- enum values newer than the headers

def headers_without(enum_class, *missing):
    """``enum_class`` as headers older than the daemon would make it: without ``missing``."""
    import enum
    members = {m.name: m.value for m in enum_class if m not in missing}
    return enum.IntEnum(enum_class.__name__, members, module="virtsnap")


def test_a_domain_state_newer_than_the_headers_stays_a_plain_int(dom, monkeypatch):
    """The daemon answers a state our DomainState lacks (here RUNNING, taken out of
    the enum as headers older than the daemon would): state() returns the int,
    where DomainState(state) raised ValueError."""
    from virtsnap import _snapshot

    assert dom.state() is virtsnap.DomainState.RUNNING
    monkeypatch.setattr(_snapshot, "DomainState",
                        headers_without(virtsnap.DomainState, virtsnap.DomainState.RUNNING))
    state = dom.state()
    assert type(state) is int and state == 1
    monkeypatch.undo()
    assert dom.state() is virtsnap.DomainState.RUNNING


# ---------------------------------------------------------------- text from libvirt

def test_a_non_utf8_error_message_is_still_the_libvirt_error():
    """The message holds a non-UTF-8 path: the libvirt error comes out, decoded
    with replacement characters, and libvirt's last error is reset."""
    with pytest.raises(LibvirtError) as info:
        virtsnap.open("test:///tmp/%FFnope.xml")
    assert "/tmp/\ufffdnope.xml" in info.value.message
    assert libvirt.virGetLastError() is None


# ---------------------------------------------------------------- read-only interop

@pytest.mark.parametrize("readonly", [False, True])
def test_from_libvirt_reports_readonly_truthfully(readonly):
    lv_conn = (libvirt.openReadOnly if readonly else libvirt.open)(TEST_URI)
    try:
        assert virtsnap.Connection.from_libvirt(lv_conn).readonly is readonly
        dom = virtsnap.Domain.from_libvirt(lv_conn.lookupByName("test"))
        assert dom.get_connect().readonly is readonly
        # The probe leaves the shared connection working for libvirt-python.
        assert lv_conn.lookupByName("test").name() == "test"
    finally:
        lv_conn.close()


# ---------------------------------------------------------------- error handlers

HANDLERS = r"""
import sys
order = sys.argv[1]
if order == "virtsnap-first":
    import virtsnap, libvirt
else:
    import libvirt
seen = []
libvirt.registerErrorHandler(lambda ctx, err: seen.append(err[2]), None)
if order != "virtsnap-first":
    import virtsnap

# virtsnap's failures, on a connection it opened: f sees none of them.
conn = virtsnap.open("test:///default")
dom = conn.get_domain_by_name("test")
for call in (lambda: dom.get_snapshot_by_name("nope"),
             lambda: dom.create_snapshot("<not xml"),
             lambda: dom.snapshot_xml_descriptions(flags=1 << 20, workers=2)):
    try:
        call()
    except virtsnap.LibvirtError:
        pass
# A read-only probe through a libvirt-python connection is no failure of its.
lv_conn = libvirt.open("test:///default")
virtsnap.Connection.from_libvirt(lv_conn)
assert seen == [], f"libvirt-python's handler saw virtsnap's failures: {seen}"

# libvirt-python's own failures still reach f, as before virtsnap was loaded.
try:
    lv_conn.lookupByName("test").snapshotLookupByName("nope")
except libvirt.libvirtError:
    pass
assert len(seen) == 1 and "nope" in seen[0], seen
"""


@pytest.mark.parametrize("order", ["virtsnap-first", "handler-first"])
def test_libvirt_python_error_handler_sees_only_its_own_failures(order):
    run_child(HANDLERS, order)


# ---------------------------------------------------------------- parents under churn

class Churn(threading.Thread):
    """Creates and deletes snapshots; records every parent each one ever had.

    It is the only thread that changes the domain, so the parents it reads
    right after a change are the parents from that change to the next.
    """

    def __init__(self, dom, seed):
        super().__init__(daemon=True)
        self.dom, self.rng = dom, random.Random(seed)
        self.history = {}            # name -> every parent it had (None: a root)
        self.live = []
        self.stop = threading.Event()
        self.failure = None

    def record(self, names):
        for name in names:
            parent = self.dom.get_snapshot_by_name(name).get_parent()
            self.history[name].add(None if parent is None else parent.name)

    def run(self):
        try:
            i = 0
            while not self.stop.is_set():
                if len(self.live) < 30 or self.rng.random() < 0.5:
                    name = f"c{i}"
                    i += 1
                    self.history[name] = set()
                    self.dom.create_snapshot(name=name)
                    self.live.append(name)
                    self.record([name])
                else:
                    name = self.live.pop(self.rng.randrange(len(self.live)))
                    self.dom.get_snapshot_by_name(name).delete()
                    self.record(self.live)       # its children moved to its parent
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failure = exc


@pytest.mark.parametrize("via", ["parent", "children"])
def test_snapshot_parents_reports_only_true_edges_under_churn(dom, via):
    """While another thread creates and deletes, every child -> parent edge that
    snapshot_parents() reports was true at some moment: no false root, no parent
    the snapshot never had, no snapshot that never existed."""
    churn = Churn(dom, seed=len(via))
    churn.start()
    reported, calls = [], 0
    try:
        while len(churn.history) < 30 and churn.is_alive():
            time.sleep(0.01)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            workers = (1, 2, 4, 16)[calls % 4]
            parents = dom.snapshot_parents(workers=workers, via=via)
            reported += [(workers, child, parent) for child, parent in parents.items()]
            calls += 1
    finally:
        churn.stop.set()
        churn.join(30)
    assert churn.failure is None, churn.failure
    # Checked once the churn has stopped, when its history is complete.
    wrong = [edge for edge in reported if edge[2] not in churn.history.get(edge[1], ())]
    assert len(churn.history) > 60 and calls > 20
    assert wrong == [], f"{len(wrong)} of {len(reported)} edges false, e.g. {wrong[:5]}"


def test_a_round_trip_through_libvirt_python_keeps_the_silent_handler():
    run_child(r"""
import libvirt, virtsnap
seen = []
libvirt.registerErrorHandler(lambda ctx, err: seen.append(err[2]), None)
conn = virtsnap.open("test:///default", readonly=True)
dom = virtsnap.Domain.from_libvirt(conn.get_domain_by_name("test").to_libvirt())
assert dom.get_connect().readonly is True
try:
    dom.get_snapshot_by_name("nope")
except virtsnap.SnapshotNotFoundError:
    pass
assert seen == [], seen
""")


def test_names_come_from_libvirt_with_cr_and_lf_apart(dom):
    """A CR in a name survives every route of the core (XML parsers turn it into LF)."""
    cr, lf = dom.create_snapshot(name="a\rb"), dom.create_snapshot(name="a\nb")
    assert (cr.name, lf.name) == ("a\rb", "a\nb")
    names = {"a\rb", "a\nb"}
    assert set(dom.list_snapshot_names()) == names
    assert {s.name for s in dom.list_all_snapshots()} == names
    assert set(dom.snapshot_xml_descriptions(workers=2)) == names
    for via in ("parent", "children"):
        assert dom.snapshot_parents(via=via) == {"a\rb": None, "a\nb": "a\rb"}
    assert dom.snapshot_children() == {"a\rb": ["a\nb"], "a\nb": []}
    assert cr.list_child_snapshot_names() == ["a\nb"]
    assert lf.get_parent().name == "a\rb"


@pytest.mark.libvirtd
def test_a_bulk_call_runs_at_most_max_workers_threads(libvirtd, private_daemon):
    """workers=1000 over a daemon (each call an RPC, so threads overlap): the
    process never holds more than MAX_WORKERS threads beyond its own."""
    import os

    def threads_now():
        return len(os.listdir("/proc/self/task"))

    with virtsnap.open(private_daemon.uri()) as conn:
        dom = conn.get_domain_by_name("test")
        for i in range(300):
            dom.create_snapshot(name=f"w{i}")
        calls = (dom.snapshot_xml_descriptions, dom.snapshot_children)
        baseline = threads_now()
        for call in calls:
            # A worker thread ends just after it signals its chunk done: let
            # the previous call's threads go before counting again.
            deadline = time.monotonic() + 10
            while threads_now() > baseline and time.monotonic() < deadline:
                time.sleep(0.01)
            peak, done = [0], threading.Event()

            def sample():
                while not done.is_set():
                    peak[0] = max(peak[0], threads_now())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            time.sleep(0.05)
            try:
                assert len(call(workers=1000)) == 300
            finally:
                done.set()
                sampler.join()
            # The sampler is one thread of its own.
            assert baseline + 1 < peak[0] <= baseline + 1 + virtsnap.MAX_WORKERS, (
                call.__name__, baseline, peak[0])
