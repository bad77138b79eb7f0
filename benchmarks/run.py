#!/usr/bin/env python3
"""virtsnap's benchmark suite: raw C vs libvirt-python vs virtsnap (issue 4).

    python benchmarks/run.py [--quick] [--json FILE] [--install] [--rounds N]

Each contender is a worker process on the same URI and the same snapshot
tree: bench.c (libvirt called directly, the floor) and worker.py --impl
libvirt / --impl virtsnap. The workers time each workload themselves; this
script interleaves rounds x workloads x contenders, prints the medians, and
exits non-zero if a contender fails or the contenders' results disagree.
Timing targets are reported, never enforced. See README.md.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import virtsnap
from readme import fmt_ratio, fmt_time

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / "bench_c"              # gitignored
LOCAL_URI = "test:///default"         # libvirt's test driver, in each worker's process
DAEMON_URI = "test+unix:///default"   # the same driver behind libvirtd: one state, RPC cost
BENCH_DOMAIN = "virtsnap-bench"       # our own transient domain on the shared daemon
CONTENDERS = ("c", "libvirt", "virtsnap")
LABELS = {"c": "C", "libvirt": "libvirt-py", "virtsnap": "virtsnap"}
SEED = 4
# The same allocator settings for every contender (see README.md). GLib < 2.76
# keeps freed libvirt objects in its slice allocator, where new handles reuse
# them without RSS growing (GLib >= 2.76 always uses malloc). glibc would hand
# the heap top back to the kernel after each run, and the next run would pay
# page faults (costly on a VM). The memory workload calls malloc_trim() itself.
WORKER_ENV = {"G_SLICE": "always-malloc",
              "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1073741824"}
IN_CI = os.environ.get("CI") == "true"


@dataclass
class Mode:
    name: str
    configs: list       # (uri, number of snapshots)
    rounds: int
    create: int         # snapshots created then deleted per create run
    handles: int        # live handles for the memory workload


DEFAULT = Mode("default", [(LOCAL_URI, 1000), (LOCAL_URI, 10_000), (DAEMON_URI, 1000)], 7, 1000, 100_000)
QUICK = Mode("quick", [(LOCAL_URI, 500), (DAEMON_URI, 200)], 3, 100, 10_000)


@dataclass
class Job:
    key: str                          # "xml-bulk:2"
    words: tuple                      # the "run" command after "run"
    contenders: tuple = CONTENDERS
    check: str = ""                   # results must equal this job's (default: its own)
    count_only: bool = False          # only the count is comparable


def jobs(mode, daemon):
    out = [Job(w, (w,)) for w in ("list", "names", "xml", "lookup", "parents", "children")]
    for workers in (1, 2, 4) if daemon else (1,):
        out += [Job(f"{w}-bulk:{workers}", (f"{w}-bulk", workers), ("virtsnap",), check=w)
                for w in ("xml", "parents", "children")]
    out.append(Job("infos", ("infos",), ("libvirt", "virtsnap")))
    out += [Job("create", ("create", mode.create), count_only=True),
            Job("memory", ("memory", mode.handles), count_only=True)]
    return out


# Table rows: label, and the job each contender's time comes from.
ROWS = [
    ("list all as objects + names", dict.fromkeys(CONTENDERS, "list")),
    ("names only", dict.fromkeys(CONTENDERS, "names")),
    ("XML, per object", dict.fromkeys(CONTENDERS, "xml")),
    ("XML, virtsnap bulk call", {"c": "xml", "libvirt": "xml", "virtsnap": "xml-bulk:1"}),
    ("lookup by name", dict.fromkeys(CONTENDERS, "lookup")),
    ("parent, per object", dict.fromkeys(CONTENDERS, "parents")),
    ("parent, virtsnap bulk call", {"c": "parents", "libvirt": "parents",
                                    "virtsnap": "parents-bulk:1"}),
    ("children, per object", dict.fromkeys(CONTENDERS, "children")),
    ("children, virtsnap bulk call", {"c": "children", "libvirt": "children",
                                      "virtsnap": "children-bulk:1"}),
    ("infos (lv-py: ElementTree)", {"c": None, "libvirt": "infos", "virtsnap": "infos"}),
    ("create + delete", dict.fromkeys(CONTENDERS, "create")),
]


# ---------------------------------------------------------------- workers

class ContenderError(Exception):
    pass


class Worker:
    """A contender process and its line protocol."""

    def __init__(self, name, callgrind_out=None):
        self.name = name
        argv = ([str(BUILD / "bench")] if name == "c" else
                [sys.executable, str(HERE / "worker.py"), "--impl", name])
        env = dict(os.environ, **WORKER_ENV)
        self.callgrind_out = callgrind_out
        if callgrind_out:   # instruction counts: collected only between region_start/stop
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no", "-q",
                    f"--callgrind-out-file={callgrind_out}", *argv]
            env["PYTHONHASHSEED"] = "0"
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)

    def send(self, *words):
        try:
            self.proc.stdin.write(" ".join(map(str, words)) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:   # it died
            raise ContenderError(f"{LABELS[self.name]}: {exc}") from None

    def reply(self):
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ok"):
            try:
                status = f" (exit status {self.proc.wait(timeout=5)})"
            except subprocess.TimeoutExpired:
                status = ""
            raise ContenderError(f"{LABELS[self.name]}: {line or 'no reply'}{status}")
        return {key: float(value) for key, value in
                (word.split("=", 1) for word in line.split()[1:])}

    def ask(self, *words):
        self.send(*words)
        return self.reply()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        try:
            self.send("quit")
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            rc = self.proc.wait()
        if rc != 0:
            raise ContenderError(f"{LABELS[self.name]}: exit status {rc}")


def build_c():
    BUILD.mkdir(exist_ok=True)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libvirt"], check=True,
                           capture_output=True, text=True).stdout.split()
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(BUILD / "bench"), str(HERE / "bench.c"),
                    *flags], check=True)
    subprocess.run(["cc", "-O2", "-Wall", "-shared", "-fPIC", "-o", str(BUILD / "libregion.so"),
                    str(HERE / "region.c")], check=True)


# ---------------------------------------------------------------- data

def make_tree(dom, n):
    """N snapshot XMLs for REDEFINE, one per line, and the number of roots.

    A random tree, the same for a given N: each new snapshot's parent is the
    current one, except that now and then the domain is reverted to a random
    earlier snapshot (or a new root is started). The XML is that of a real
    snapshot of ``dom``, so REDEFINE accepts it on that domain.
    """
    snap = dom.create_snapshot(name="virtsnap-bench-template")
    template = "".join(line.strip() for line in snap.get_xml_description().splitlines())
    snap.delete()
    prefix = "<domainsnapshot><name>virtsnap-bench-template</name>"
    assert template.startswith(prefix), template
    body = re.sub(r"<creationTime>\d+</creationTime>", "<creationTime>@T@</creationTime>",
                  template[len(prefix):])
    rng = random.Random(SEED)
    lines, roots, current = [], 0, None
    for i in range(n):
        if i == 0 or rng.random() < 0.002:
            current = None
            roots += 1
        elif rng.random() < 0.3:
            current = rng.randrange(i)       # revert_to a random earlier snapshot
        parent = "" if current is None else f"<parent><name>s{current:05d}</name></parent>"
        lines.append(f"<domainsnapshot><name>s{i:05d}</name>{parent}"
                     + body.replace("@T@", str(1_700_000_000 + i)))
        current = i
    return lines, roots


def virsh(*args, check=True):
    return subprocess.run(["virsh", "-q", "-c", DAEMON_URI, *args], check=check,
                          capture_output=True, text=True)


@contextmanager
def daemon_domain(conn):
    """A transient running domain of our own on the shared daemon, removed afterwards.

    ``conn`` stays open meanwhile: the daemon keeps the test driver's state
    only while some client is connected.
    """
    xml = BUILD / "domain.xml"
    xml.write_text(f"<domain type='test'><name>{BENCH_DOMAIN}</name>"
                   "<memory>1048576</memory><os><type>hvm</type></os></domain>\n")
    virsh("destroy", BENCH_DOMAIN, check=False)   # left over from an interrupted run
    virsh("create", str(xml))
    try:
        yield conn.get_domain_by_name(BENCH_DOMAIN)
    finally:
        virsh("destroy", BENCH_DOMAIN, check=False)


def daemon_version():
    """libvirtd's version, after trying scripts/libvirtd-up if it is down; None if down."""
    for attempt in range(2):
        try:
            with virtsnap.open(DAEMON_URI) as conn:
                return ".".join(map(str, conn.get_lib_version()))
        except virtsnap.LibvirtError:
            if attempt == 0:
                print("libvirtd not answering; trying scripts/libvirtd-up", file=sys.stderr)
                subprocess.run(["bash", str(ROOT / "scripts" / "libvirtd-up")],
                               stdout=sys.stderr, check=False)
    return None


# ---------------------------------------------------------------- one configuration

@dataclass
class Config:
    uri: str
    n: int
    roots: int = 0
    times: dict = field(default_factory=dict)    # "ns"/"cpu" -> job -> contender -> [ns]
    extras: dict = field(default_factory=dict)   # contender -> "rss"/"traced" -> [bytes]
    reference: dict = field(default_factory=dict)  # check group -> (count, digest)
    disagreed: set = field(default_factory=set)    # (job, contender) already reported
    errors: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)     # job -> contender -> instructions

    @property
    def name(self):
        return f"{self.uri} N={self.n:,}"

    def items(self, job, mode):
        if job == "create":
            return mode.create
        return self.n

    def expected_count(self, job, mode):
        if job == "children":
            return self.n - self.roots
        if job == "memory":
            return -(-mode.handles // self.n) * self.n
        return self.items(job, mode)

    def record(self, job, name, reply, mode, timed):
        if timed:
            for clock in ("ns", "cpu"):
                self.times.setdefault(clock, {}).setdefault(job.key, {}).setdefault(
                    name, []).append(reply[clock])
            for key in ("rss", "traced"):
                if key in reply:
                    self.extras.setdefault(name, {}).setdefault(key, []).append(reply[key])
        got = (int(reply["count"]), None if job.count_only else int(reply["digest"]))
        group = job.check or job.key
        want = self.reference.setdefault(group, (self.expected_count(group, mode), got[1]))
        if got != want and (job.key, name) not in self.disagreed:
            self.disagreed.add((job.key, name))
            self.errors.append(f"{self.name}: {job.key}: {LABELS[name]} returned "
                               f"count={got[0]} digest={got[1]}, expected count={want[0]} "
                               f"digest={want[1]} (results disagree)")

    def median(self, job, name, mode, clock="ns"):
        """Median time per item, wall clock ("ns") or the worker's CPU time ("cpu")."""
        runs = self.times.get(clock, {}).get(job, {}).get(name)
        return statistics.median(runs) / self.items(job.split(":")[0], mode) if runs else None

    def ratio(self, a, b, mode, clock="ns"):
        """Median over rounds of a's time per item / b's, each (job, contender).

        Paired by round: both ran back to back, so drift in the machine's
        speed (other load, a busy sibling core) cancels out.
        """
        runs = [self.times.get(clock, {}).get(job, {}).get(name) for job, name in (a, b)]
        if not all(runs):
            return None
        scale = self.items(b[0].split(":")[0], mode) / self.items(a[0].split(":")[0], mode)
        return statistics.median(x / y * scale for x, y in zip(*runs))

    def memory(self, name, key):
        values = self.extras.get(name, {}).get(key)
        return statistics.median(values) if values else None

    def instructions(self, job, name, mode):
        """Instructions per item of one counted run, or None."""
        count = self.counts.get(job, {}).get(name) if job else None
        return count / self.items(job.split(":")[0], mode) if count is not None else None


# The workloads counted under callgrind (--callgrind), and their configurations;
# --quick counts those with targets only, to stay within CI's time.
COUNTED = {"default": ("list", "names", "xml", "xml-bulk:1", "parents", "parents-bulk:1",
                       "children", "children-bulk:1", "infos"),
           "quick": ("list", "names", "infos")}
COUNT_CONFIGS = {"default": [(LOCAL_URI, 1000), (DAEMON_URI, 1000)],
                 "quick": [(LOCAL_URI, 200), (DAEMON_URI, 200)]}


def callgrind_total(path):
    """The instruction count (Ir) of one callgrind part file."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise ContenderError(f"no totals in {path}")


def run_config(config, mode, counted=False):
    """Time the workloads (interleaved rounds), or with ``counted`` count their
    instructions under callgrind, once each after an uncounted warm-up run."""
    daemon = config.uri == DAEMON_URI
    plan = jobs(mode, daemon)
    if counted:
        plan = [job for job in plan if job.key in COUNTED[mode.name]]
        out_dir = BUILD / "callgrind"
        out_dir.mkdir(exist_ok=True)
        for old in out_dir.glob("*"):
            old.unlink()
    workers = {}
    with ExitStack() as stack:
        conn = stack.enter_context(virtsnap.open(config.uri))
        dom = (stack.enter_context(daemon_domain(conn)) if daemon
               else conn.get_domain_by_name("test"))
        lines, config.roots = make_tree(dom, config.n)
        tree = BUILD / f"tree-{'daemon' if daemon else 'local'}-{config.n}.xml"
        tree.write_text("\n".join(lines) + "\n")
        if daemon:   # one shared state: define it once, the workers only read it
            for xml in lines:
                dom.create_snapshot(xml, virtsnap.CreateFlags.REDEFINE)
        stack.callback(lambda: [w.kill() for w in workers.values()])
        try:
            for name in CONTENDERS:
                workers[name] = Worker(name, out_dir / f"{name}.out" if counted else None)
                workers[name].send("open", config.uri, BENCH_DOMAIN if daemon else "test")
            for worker in workers.values():
                worker.reply()
            if not daemon:   # each worker has its own driver: each defines the same tree
                for worker in workers.values():
                    worker.send("define", tree)
                for worker in workers.values():
                    worker.reply()
        except ContenderError as exc:
            config.errors.append(f"{config.name}: setup: {exc}")
            return

        if counted:
            count_jobs(config, mode, plan, workers)
            return

        # Phases. Memory once, first: later, Python's allocator holds freed
        # memory that new handles would reuse unseen by RSS. Then the read-only
        # workloads, then create + delete, whose heap churn would slow the next
        # workload in the same process. Each phase has a warm-up round 0
        # (checked, not timed).
        memory = [job for job in plan if job.key == "memory"]
        create = [job for job in plan if job.key == "create"]
        reads = [job for job in plan if job not in memory + create]
        schedule = [(1, job) for job in memory] + [
            (r, job) for phase in (reads, create) for r in range(mode.rounds + 1) for job in phase]
        alive = list(CONTENDERS)
        for r, job in schedule:
            order = CONTENDERS[r % 3:] + CONTENDERS[:r % 3]
            for name in [c for c in order if c in job.contenders and c in alive]:
                words = job.words + ((f"bench-{name}-",) if job.key == "create" else ())
                try:
                    config.record(job, name, workers[name].ask("run", *words), mode, r > 0)
                except ContenderError as exc:
                    config.errors.append(f"{config.name}: {job.key}: {exc}")
                    alive.remove(name)
        for name in alive:
            try:
                workers[name].close()
            except ContenderError as exc:
                config.errors.append(f"{config.name}: {exc}")


def count_jobs(config, mode, plan, workers):
    """Each job once uncounted (warm-up, results checked), then once counted."""
    alive = list(CONTENDERS)
    for job in plan:
        for name in [c for c in CONTENDERS if c in job.contenders and c in alive]:
            worker = workers[name]
            try:
                for verb in ("run", "count"):
                    config.record(job, name, worker.ask(verb, *job.words), mode, False)
                parts = sorted(Path(worker.callgrind_out).parent.glob(
                    Path(worker.callgrind_out).name + ".*"), key=lambda p: int(p.suffix[1:]))
                config.counts.setdefault(job.key, {})[name] = callgrind_total(parts[-1])
                parts[-1].unlink()
            except (ContenderError, IndexError, ValueError) as exc:
                config.errors.append(f"{config.name}: {job.key}: {exc}")
                alive.remove(name)
    for name in alive:
        try:
            workers[name].close()
        except ContenderError as exc:
            config.errors.append(f"{config.name}: {exc}")


def count_table(config, mode):
    """Instructions per snapshot for each row, and the two ratios (exact, load-free)."""
    rows = []
    for label, source in ROWS:
        if not any(source[name] in config.counts for name in CONTENDERS if source[name]):
            continue
        per = {name: config.instructions(source[name], name, mode) for name in CONTENDERS}
        rows.append({"workload": label, "instructions_per_item": per,
                     "virtsnap/C": ratio(per["virtsnap"], per["c"]),
                     "libvirt/virtsnap": ratio(per["libvirt"], per["virtsnap"])})
    return rows


def print_count_table(config, rows):
    where = ("client process only: the daemon's work is not counted"
             if config.uri == DAEMON_URI else "the whole worker process")
    print(f"\n{config.name}  instructions per snapshot (callgrind, {where})")
    print(f"  {'workload':<36}{'C':>10}{'libvirt-py':>12}{'virtsnap':>10}{'vs/C':>7}{'lv/vs':>7}")
    for row in rows:
        cells = ["-" if row["instructions_per_item"][n] is None
                 else f"{row['instructions_per_item'][n]:,.0f}" for n in CONTENDERS]
        print(f"  {row['workload']:<36}{cells[0]:>10}{cells[1]:>12}{cells[2]:>10}"
              f"{fmt_ratio(row['virtsnap/C']):>7}{fmt_ratio(row['libvirt/virtsnap']):>7}")


# ---------------------------------------------------------------- import time

def import_times(rounds):
    """Median cumulative import times in ms (python -X importtime, bytecode cached),
    and the median of the per-round ratios."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def once(module):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                             env=env, capture_output=True, text=True, check=True).stderr
        for line in err.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                return int(parts[1]) / 1000
        raise RuntimeError(f"no import time for {module}: {err[-500:]}")

    modules = ("libvirt", "virtsnap")
    for module in modules:
        once(module)   # warm the bytecode cache and the page cache
    samples = {m: [] for m in modules}
    for r in range(rounds):
        for module in modules[r % 2:] + modules[:r % 2]:
            samples[module].append(once(module))
    out = {m: statistics.median(v) for m, v in samples.items()}
    out["virtsnap/libvirt"] = statistics.median(
        v / lv for v, lv in zip(samples["virtsnap"], samples["libvirt"]))
    return out


# ---------------------------------------------------------------- report

def ratio(a, b):
    return a / b if a is not None and b else None


def machine_info():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libvirt": ".".join(map(str, virtsnap.libvirt_version())),
        "libvirt_python": importlib.metadata.version("libvirt-python"),
        "virtsnap": virtsnap.__version__,
        "cc": cc.splitlines()[0] if cc else "unknown",
    }


def table(config, mode):
    """The rows of one configuration: label, per-item times, ratios."""
    rows = []
    for label, source in ROWS:
        vs, c, lv = ((source[name], name) for name in ("virtsnap", "c", "libvirt"))
        row = {"workload": label,
               "ns_per_item": {name: config.median(job, name, mode)
                               for name, job in source.items()}}
        for clock, prefix in (("ns", ""), ("cpu", "cpu ")):
            row[prefix + "virtsnap/C"] = config.ratio(vs, c, mode, clock)
            row[prefix + "libvirt/virtsnap"] = config.ratio(lv, vs, mode, clock)
        rows.append(row)
    for key, label in (("rss", "memory/handle, RSS delta"),
                       ("traced", "memory/handle, tracemalloc")):
        b = {name: config.memory(name, key) for name in CONTENDERS}
        rows.append({"workload": label, "bytes_per_handle": b,
                     "virtsnap/C": ratio(b["virtsnap"], b["c"]),
                     "libvirt/virtsnap": ratio(b["libvirt"], b["virtsnap"])})
    return rows


def print_config(config, mode, rows):
    """The table; in-process, also the ratios of the workers' CPU time (robust to load)."""
    local = config.uri == LOCAL_URI
    print(f"\n{config.name}  ({mode.rounds} rounds)\n  times: median wall clock per snapshot;"
          " ratios: median of per-round ratios" + (" (cpu: of CPU time)" if local else ""))
    print(f"  {'workload':<30}{'C':>10}{'libvirt-py':>12}{'virtsnap':>10}{'vs/C':>7}{'lv/vs':>7}"
          + (f"{'cpu vs/C':>10}{'cpu lv/vs':>10}" if local else ""))
    for row in rows:
        if "ns_per_item" in row:
            cells = [fmt_time(row["ns_per_item"][n]) for n in CONTENDERS]
        else:
            cells = ["-" if row["bytes_per_handle"][n] is None
                     else f"{row['bytes_per_handle'][n]:.0f} B" for n in CONTENDERS]
        line = (f"  {row['workload']:<30}{cells[0]:>10}{cells[1]:>12}{cells[2]:>10}"
                f"{fmt_ratio(row['virtsnap/C']):>7}{fmt_ratio(row['libvirt/virtsnap']):>7}")
        if local and "cpu virtsnap/C" in row:
            line += (f"{fmt_ratio(row['cpu virtsnap/C']):>10}"
                     f"{fmt_ratio(row['cpu libvirt/virtsnap']):>10}")
        print(line)
    gains = {}
    if config.uri == DAEMON_URI:
        print("  virtsnap bulk calls with native worker threads (gain over workers=1):")
        for w in ("xml", "parents", "children"):
            cells = []
            for k in (1, 2, 4):
                job = f"{w}-bulk:{k}"
                t = config.median(job, "virtsnap", mode)
                gain = config.ratio((f"{w}-bulk:1", "virtsnap"), (job, "virtsnap"), mode)
                gains[job] = {"ns_per_item": t, "gain": gain}
                cells.append(f"workers={k} {fmt_time(t)} ({fmt_ratio(gain)}x)")
            print(f"    {w + '-bulk':<14}" + "   ".join(cells))
    return gains


# The targets: (label, row, ratio key, limit, "<=" or ">="). Every
# other timed row carries the general virtsnap/C <= 1.2 target.
TARGETS = [
    ("names only: virtsnap/libvirt-py <= 1.2", "names only", "libvirt/virtsnap", 1 / 1.2, ">="),
    ("list all as objects + names: virtsnap/C <= 1.2", "list all as objects + names",
     "virtsnap/C", 1.2, "<="),
    ("infos: libvirt-py + ElementTree / virtsnap >= 3", "infos (lv-py: ElementTree)",
     "libvirt/virtsnap", 3.0, ">="),
    ("list all as objects + names: libvirt-py/virtsnap >= 2", "list all as objects + names",
     "libvirt/virtsnap", 2.0, ">="),
    ("parent, per object: libvirt-py/virtsnap >= 1.8", "parent, per object",
     "libvirt/virtsnap", 1.8, ">="),
    ("parent, bulk call: libvirt-py/virtsnap >= 1.8", "parent, virtsnap bulk call",
     "libvirt/virtsnap", 1.8, ">="),
    ("lookup by name: libvirt-py/virtsnap >= 1.5", "lookup by name", "libvirt/virtsnap", 1.5, ">="),
]


def targets(rows, counted_rows, imports, where, counted_where):
    """The issue's targets, by wall clock and by instruction count; nothing fails on them.

    ``met`` follows the instruction count where there is one (exact and
    independent of load), else the wall clock.
    """
    timed = {row["workload"]: row for row in rows or []}
    counted = {row["workload"]: row for row in counted_rows or []}
    out = []

    def check(what, wall, count, limit, op):
        ok = (lambda v: v <= limit) if op == "<=" else (lambda v: v >= limit)
        decided_by = "instructions" if count is not None else "wall" if wall is not None else None
        value = count if count is not None else wall
        out.append({"target": what, "wall": wall, "instructions": count, "decided_by": decided_by,
                    "met": None if value is None else ok(value)})

    for label, row, key, limit, op in TARGETS:
        check(label, timed.get(row, {}).get(key), counted.get(row, {}).get(key), limit, op)
    named = {t[1] for t in TARGETS if t[2] == "virtsnap/C"}
    for row in rows or []:
        if "ns_per_item" in row and row["workload"] not in named and row["virtsnap/C"] is not None:
            check(f"{row['workload']}: virtsnap/C <= 1.2", row["virtsnap/C"],
                  counted.get(row["workload"], {}).get("virtsnap/C"), 1.2, "<=")
    for label in ("memory/handle, RSS delta", "memory/handle, tracemalloc"):
        if label in timed:
            check(f"{label}: libvirt-py/virtsnap >= 3", timed[label]["libvirt/virtsnap"],
                  None, 3.0, ">=")
    if imports:
        check("import: virtsnap/libvirt-py <= 0.5", imports["virtsnap/libvirt"], None, 0.5, "<=")
    print(f"\nTargets (wall: {where or '-'}; instructions: {counted_where or '-'}); "
          "the instruction count decides where there is one; reported, not enforced:")
    print(f"  {'':<7}{'':<58}{'wall':>7}{'instr':>7}")
    for t in out:
        state = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"  {state:<7}{t['target']:<58}{fmt_ratio(t['wall']):>7}"
              f"{fmt_ratio(t['instructions']):>7}")
    return out


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small N and few rounds (CI: under 30 s)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--install", action="store_true",
                        help="pip-install libvirt-python into this interpreter's environment")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count instructions per snapshot under valgrind's callgrind")
    parser.add_argument("--count-only", action="store_true",
                        help="only the instruction counts (no timing)")
    parser.add_argument("--in-process", action="store_true",
                        help=f"only the {LOCAL_URI} configurations (no daemon)")
    args = parser.parse_args()
    mode = QUICK if args.quick else DEFAULT
    if args.rounds:
        mode.rounds = args.rounds
    if args.install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "libvirt-python"],
                       check=True)
    if importlib.util.find_spec("libvirt") is None:
        sys.exit("libvirt-python is not installed in this environment; "
                 "run benchmarks/run.py --install")

    started = time.monotonic()
    build_c()
    info = machine_info()
    info["libvirtd"] = None if args.in_process else daemon_version()
    print(f"virtsnap benchmarks ({'quick' if args.quick else 'default'} mode), {info['date']}")
    print(f"machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}")
    print(f"python {info['python']}, libvirt {info['libvirt']} (libvirtd "
          f"{info['libvirtd'] or 'not running'}), libvirt-python {info['libvirt_python']}, "
          f"virtsnap {info['virtsnap']}, {info['cc']}")

    report = {"machine": info, "mode": "quick" if args.quick else "default",
              "rounds": mode.rounds, "configs": [], "instruction_counts": [], "errors": []}
    focus = counted_focus = None
    daemon_up = bool(info["libvirtd"])
    for uri, n in [] if args.count_only else mode.configs:
        if skipped(uri, daemon_up, report, args.in_process):
            continue
        config = Config(uri, n)
        t0 = time.monotonic()
        try:
            run_config(config, mode)
        except (virtsnap.LibvirtError, subprocess.CalledProcessError, OSError) as exc:
            config.errors.append(f"{config.name}: setup failed: {exc}")
        rows = table(config, mode)
        gains = print_config(config, mode, rows)
        print(f"  ({time.monotonic() - t0:.0f} s)", *config.errors, sep="\n  ")
        report["errors"] += config.errors
        report["configs"].append({"uri": uri, "n": n, "roots": config.roots, "rows": rows,
                                  "bulk_workers": gains, "per_run": config.times})
        if uri == LOCAL_URI:
            focus = (config, rows)   # the largest in-process N: where targets are checked

    if args.callgrind or args.count_only:
        for uri, n in COUNT_CONFIGS[mode.name]:
            if skipped(uri, daemon_up, report, args.in_process):
                continue
            config = Config(uri, n)
            t0 = time.monotonic()
            try:
                run_config(config, mode, counted=True)
            except (virtsnap.LibvirtError, subprocess.CalledProcessError, OSError) as exc:
                config.errors.append(f"{config.name}: setup failed: {exc}")
            rows = count_table(config, mode)
            print_count_table(config, rows)
            print(f"  ({time.monotonic() - t0:.0f} s)", *config.errors, sep="\n  ")
            report["errors"] += config.errors
            report["instruction_counts"].append({"uri": uri, "n": n, "rows": rows})
            if uri == LOCAL_URI:
                counted_focus = (config, rows)

    imports = None
    if not args.count_only:
        imports = import_times(mode.rounds)
        print(f"\nimport time (python -X importtime, median of {mode.rounds}): libvirt "
              f"{imports['libvirt']:.1f} ms, virtsnap {imports['virtsnap']:.1f} ms "
              f"(virtsnap/libvirt {imports['virtsnap/libvirt']:.2f})")
        report["import_ms"] = imports
    report["targets"] = targets(focus and focus[1], counted_focus and counted_focus[1],
                                imports, focus and focus[0].name,
                                counted_focus and counted_focus[0].name)
    report["seconds"] = round(time.monotonic() - started, 1)
    print(f"\nfinished in {report['seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if report["errors"]:
        print("\nFAILED:", *report["errors"], sep="\n  ", file=sys.stderr)
        sys.exit(1)


def skipped(uri, daemon_up, report, in_process):
    """True (and noted) for the daemon configurations when no daemon answers."""
    if uri != DAEMON_URI or daemon_up:
        return False
    if in_process:
        return True
    msg = f"{uri}: skipped, the libvirt daemon is not available"
    print(f"\n{msg}")
    if IN_CI:
        report["errors"].append(msg)
    return True


if __name__ == "__main__":
    main()
