"""Crash fuzz: call everything the compiled core exposes, with arguments it does not expect.

Every attribute of ``virtsnap._snapshot`` and of its handle classes, public and
private, is called on live handles, on handles made with ``__new__`` and on
handles of a closed connection, with an argument matrix: no arguments, wrong
types, None, bools, huge and negative integers, NUL and surrogate strings, and
handles of every kind, positionally and as each keyword the core takes.

The calls run in child processes, many per child. The test asserts that no
child dies by a signal and that nothing reaches stderr (no "Exception
ignored", no libvirt message). When a child dies, the index of the call that
killed it is read back, and a new child goes on from the next call, so one run
lists every crashing call.
"""

import os
import subprocess
import sys

FUZZ_CHILD = r"""
import itertools, os, sys, tempfile
os.chdir(tempfile.mkdtemp())                  # export_snapshots("x") writes into ./x
import virtsnap
from virtsnap import _snapshot, Connection, Domain, DomainSnapshot

URI = "test:///default"
KEYWORDS = ("flags", "list_flags", "workers", "via", "name", "description", "xml", "uri",
            "readonly", "directory", "interval", "count", "id", "uuid")


def world():
    # Live objects over a small tree; closed ones from a second connection.
    conn = virtsnap.open(URI)
    dom = conn.get_domain_by_name("test")
    for name in ("fz-a", "fz-b", "fz-c"):
        if name not in dom.list_snapshot_names():
            dom.create_snapshot(name=name)
    snap = dom.get_snapshot_by_name("fz-a")
    closed_conn = virtsnap.open(URI)
    closed_dom = closed_conn.get_domain_by_name("test")
    closed_snap = closed_dom.get_snapshot_by_name("fz-b")
    closed_conn.close()
    return {
        "live": {Connection: conn, Domain: dom, DomainSnapshot: snap},
        "new": {cls: cls.__new__(cls) for cls in (Connection, Domain, DomainSnapshot)},
        "closed": {Connection: closed_conn, Domain: closed_dom, DomainSnapshot: closed_snap},
    }


def values(w):
    # (label, value); the label, not repr(), describes a crashing call.
    plain = [None, True, False, 0, 1, -1, 2**31, -2**31 - 1, 2**32, 2**63, -2**63 - 1,
             10**100, 1.5, float("nan"), "", "x", "parent", "children", "a\x00b", "\udcff",
             "\ud800x", "\r\n", "<domainsnapshot/>", "test:///default", "fz-a", b"x",
             bytearray(b"x"), [], {}, (), object(), type]
    handles = [(f"{kind} {cls.__name__}", w[kind][cls]) for kind in ("live", "new", "closed")
               for cls in (Connection, Domain, DomainSnapshot)]
    return [(ascii(v)[:40], v) for v in plain] + handles


def calls(w):
    vals = values(w)
    yield "()", ()
    for label, v in vals:
        yield f"({label})", (v,)
    for label, v in vals:
        yield f"({label}, same)", (v, v)
    for label, v in vals:
        yield f"({label}, same x4)", (v, v, v, v)
    for key in KEYWORDS:
        for label, v in vals:
            yield f"({key}={label})", {key: v}


def targets():
    # (receiver kind, class or None for the module, attribute name)
    for name in sorted(dir(_snapshot)):
        yield (None, None, name)
    for cls in (Connection, Domain, DomainSnapshot):
        for name in sorted(dir(cls)):
            for kind in ("live", "new", "closed"):
                yield (kind, cls, name)


def invoke(receiver, name, args):
    func = getattr(receiver, name)
    return func(**args) if isinstance(args, dict) else func(*args)


def each_call():
    # (index, where, thunk) of every call, in a fixed order. Reading the
    # attribute is a call of its own: a property runs code.
    index = 0
    for kind, cls, name in targets():
        w = world()
        receiver = _snapshot if cls is None else w[kind][cls]
        where = (kind, getattr(cls, "__name__", "_snapshot"), name)
        index += 1
        yield index, where + ("get",), lambda: getattr(receiver, name)
        static = getattr(_snapshot if cls is None else cls, name)
        if callable(static) and not hasattr(static, "__set__"):
            for label, args in calls(w):
                index += 1
                yield index, where + (label,), lambda args=args: invoke(receiver, name, args)
        w["live"][Connection].close()


if sys.argv[1] == "describe":                 # which call has this index?
    for index, where, thunk in each_call():
        if index == int(sys.argv[2]):
            print(repr(where)[:300])
            break
    raise SystemExit
progress = os.open(sys.argv[1], os.O_WRONLY)
start = int(sys.argv[2])
for index, where, thunk in each_call():
    if index < start:
        continue
    os.pwrite(progress, b"%10d" % index, 0)
    try:
        thunk()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        pass
os.pwrite(progress, b"%10d" % -1, 0)
print("calls", index)
"""


def test_no_call_kills_the_interpreter_or_prints(tmp_path):
    script = tmp_path / "fuzz.py"
    script.write_text(FUZZ_CHILD)
    progress = tmp_path / "progress"
    progress.write_bytes(b"%10d" % 0)
    env = dict(os.environ, LIBVIRT_DEFAULT_URI="test:///default")
    crashes, noise, start, total = [], [], 0, None
    for _ in range(50):
        proc = subprocess.run([sys.executable, str(script), str(progress), str(start)],
                              capture_output=True, text=True, timeout=600, env=env)
        reached = int(progress.read_bytes())
        if proc.stderr:
            noise.append(proc.stderr[-2000:])
        if proc.returncode == 0 and reached == -1:
            total = int(proc.stdout.split()[-1])
            break
        where = subprocess.run([sys.executable, str(script), "describe", str(reached)],
                               capture_output=True, text=True, env=env, timeout=300)
        crashes.append(f"exit {proc.returncode} at call {reached}: {where.stdout.strip()}")
        start = reached + 1
    assert crashes == [], "\n".join(crashes)
    assert noise == [], "\n".join(noise)
    assert total is not None and total > 20_000, total
