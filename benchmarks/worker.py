"""A Python contender of the benchmarks: virtsnap or libvirt-python.

    python benchmarks/worker.py --impl {virtsnap,libvirt}

Speaks the same line protocol as bench.c (see README.md), one reply per line:

    open URI DOMAIN          -> ok
    define FILE              -> ok count=N   (REDEFINE one snapshot XML per line)
    run WORKLOAD [ARGS...]   -> ok ns=.. cpu=.. count=.. digest=.. [rss=.. traced=..]
    count WORKLOAD [ARGS...] -> as run, with callgrind collecting only the timed part
    quit

Only the workload's own calls are timed, results included, as a caller would
write them: inputs (names to look up, XML to send) are prepared before the
clock starts, the digest run.py cross-checks is computed after it stops.
"""

import argparse
import ctypes
import datetime
import gc
import os
import sys
import time
import tracemalloc
import zlib


class Virtsnap:
    def __init__(self, uri, domain):
        import virtsnap

        self.redefine = virtsnap.CreateFlags.REDEFINE
        self.dom = virtsnap.open(uri).get_domain_by_name(domain)

    def define(self, xml):
        self.dom.create_snapshot(xml, self.redefine)

    def list_all(self):
        return self.dom.list_all_snapshots()

    def names(self):
        return self.dom.list_snapshot_names()

    def list(self):
        return [s.name for s in self.dom.list_all_snapshots()]

    def xml(self):
        return {s.name: s.get_xml_description() for s in self.dom.list_all_snapshots()}

    def xml_bulk(self, workers):
        return self.dom.snapshot_xml_descriptions(workers=workers)

    def lookup(self, names):
        get = self.dom.get_snapshot_by_name
        return [get(name).name for name in names]

    def parents(self):
        return {s.name: None if (p := s.get_parent()) is None else p.name
                for s in self.dom.list_all_snapshots()}

    def parents_bulk(self, workers):
        return self.dom.snapshot_parents(workers=workers)

    def children(self):
        return {s.name: [c.name for c in s.list_all_children()]
                for s in self.dom.list_all_snapshots()}

    def children_bulk(self, workers):
        return self.dom.snapshot_children(workers=workers)

    def infos(self):
        return self.dom.snapshot_infos()

    def create(self, xmls):
        create = self.dom.create_snapshot
        snaps = [create(xml) for xml in xmls]
        names = [s.name for s in snaps]
        for snap in reversed(snaps):
            snap.delete()
        return names


class Libvirt:
    def __init__(self, uri, domain):
        import libvirt

        libvirt.registerErrorHandler(lambda ctx, err: None, None)  # don't print to stderr
        self.libvirt = libvirt
        self.dom = libvirt.open(uri).lookupByName(domain)

    def define(self, xml):
        self.dom.snapshotCreateXML(xml, self.libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)

    def list_all(self):
        return self.dom.listAllSnapshots()

    def names(self):
        return self.dom.snapshotListNames()

    def list(self):
        return [s.getName() for s in self.dom.listAllSnapshots()]

    def xml(self):
        return {s.getName(): s.getXMLDesc() for s in self.dom.listAllSnapshots()}

    def lookup(self, names):
        get = self.dom.snapshotLookupByName
        return [get(name).getName() for name in names]

    def parent_name(self, snap):
        try:
            return snap.getParent().getName()
        except self.libvirt.libvirtError as err:
            if err.get_error_code() == self.libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                return None  # a root
            raise

    def parents(self):
        parent_name = self.parent_name
        return {s.getName(): parent_name(s) for s in self.dom.listAllSnapshots()}

    def children(self):
        return {s.getName(): [c.getName() for c in s.listAllChildren()]
                for s in self.dom.listAllSnapshots()}

    def infos(self):
        """What Domain.snapshot_infos() gives, the way one would write it with
        libvirt-python and ElementTree: the current snapshot once, then each XML."""
        from xml.etree.ElementTree import fromstring

        current = (self.dom.snapshotCurrent().getName()
                   if self.dom.hasCurrentSnapshot() else None)
        out = []
        for snap in self.dom.listAllSnapshots():
            name = snap.getName()
            root = fromstring(snap.getXMLDesc())
            memory = root.find("memory")
            out.append(Info(
                name, root.findtext("parent/name"), root.findtext("state"),
                datetime.datetime.fromtimestamp(int(root.findtext("creationTime")),
                                                datetime.timezone.utc),
                root.findtext("description"), name == current,
                None if memory is None else memory.get("snapshot"),
                tuple((disk.get("name"), disk.get("snapshot"))
                      for disk in root.iterfind("disks/disk"))))
        return out

    def create(self, xmls):
        create = self.dom.snapshotCreateXML
        snaps = [create(xml) for xml in xmls]
        names = [s.getName() for s in snaps]
        for snap in reversed(snaps):
            snap.delete()
        return names


class Info:
    """libvirt-python's side of the infos workload: a plain record."""

    __slots__ = ("name", "parent", "state", "creation_time", "description", "is_current",
                 "memory", "disks")

    def __init__(self, *values):
        for slot, value in zip(self.__slots__, values):
            setattr(self, slot, value)


IMPLS = {"virtsnap": Virtsnap, "libvirt": Libvirt}
_libc = ctypes.CDLL(None)
_PAGE = os.sysconf("SC_PAGE_SIZE")
# Marks the timed part for callgrind (region.c; built by run.py). None outside run.py.
_REGION_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_c", "libregion.so")
_region = ctypes.CDLL(_REGION_LIB) if os.path.exists(_REGION_LIB) else None
_counting = None   # the workload's name (bytes) while callgrind counts it


def digest(result):
    """(count, sum of CRC-32s of "key\\tvalue"), as bench.c computes it.

    ``result`` is a list of names, or a dict of name -> str, None or list of names.
    """
    if isinstance(result, list) and result and hasattr(result[0], "creation_time"):  # infos
        result = {i.name: f"{i.parent}|{i.state}|{int(i.creation_time.timestamp())}|"
                          f"{i.description}|{i.is_current}" for i in result}
    pairs = result.items() if isinstance(result, dict) else ((key, None) for key in result)
    count = total = 0
    for key, value in pairs:
        for item in value if isinstance(value, list) else [value or ""]:
            total += zlib.crc32(f"{key}\t{item}".encode())
            count += 1
    return count, total


def timed(fn, *args):
    """Wall-clock (monotonic) and process CPU nanoseconds of fn(*args), and its result."""
    gc.collect()
    if _counting:
        _region.region_start()
    cpu, start = time.process_time_ns(), time.perf_counter_ns()
    result = fn(*args)
    wall = time.perf_counter_ns() - start
    if _counting:
        _region.region_stop(_counting)
    return f"ns={wall} cpu={time.process_time_ns() - cpu}", result


def settle():
    """Free what can be freed, so an RSS delta shows new allocations."""
    gc.collect()
    _libc.malloc_trim(0)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def memory(api, handles):
    """Bytes per live handle: RSS growth, then tracemalloc (a separate pass)."""
    reps = -(-handles // max(1, len(api.list_all())))

    def keep():
        return [api.list_all() for _ in range(reps)]

    settle()
    before = rss_bytes()
    times, kept = timed(keep)
    grown = rss_bytes() - before
    count = sum(map(len, kept))
    del kept
    settle()
    tracemalloc.start()
    kept = keep()
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    per = max(count, 1)
    return f"ok {times} count={count} digest=0 rss={grown / per:.1f} traced={traced / per:.1f}"


def run(api, workload, args):
    if workload == "memory":
        return memory(api, int(args[0]))
    if workload == "lookup":
        inputs = (api.names(),)
    elif workload == "create":
        count, prefix = int(args[0]), args[1]
        inputs = ([f"<domainsnapshot><name>{prefix}{i}</name></domainsnapshot>"
                   for i in range(count)],)
    else:
        inputs = tuple(int(arg) for arg in args)  # bulk calls: workers
    times, result = timed(getattr(api, workload.replace("-", "_")), *inputs)
    count, total = digest(result)
    return f"ok {times} count={count} digest={total}"


def main():
    global _counting
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=IMPLS, required=True)
    impl = IMPLS[parser.parse_args().impl]
    api = None
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "quit":
            break
        try:
            if cmd == "open":
                api = impl(*args)
                reply = "ok"
            elif cmd == "define":
                with open(args[0]) as f:
                    xmls = f.read().splitlines()
                for xml in xmls:
                    api.define(xml)
                reply = f"ok count={len(xmls)}"
            elif cmd in ("run", "count"):
                _counting = args[0].encode() if cmd == "count" else None
                reply = run(api, args[0], args[1:])
                _counting = None
            else:
                raise ValueError(f"bad command {cmd!r}")
        except Exception as exc:  # noqa: BLE001 - reported to run.py, which fails the run
            print(f"error {type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
            sys.exit(1)
        print(reply, flush=True)


if __name__ == "__main__":
    main()
