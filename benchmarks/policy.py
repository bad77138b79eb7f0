#!/usr/bin/env python3
"""``virtsnap auto`` over many domains through a private libvirtd (issue 12).

    python benchmarks/policy.py [--quick] [--domains N] [--snapshots N]
                                [--workers 1,4,16] [--rounds N] [--json FILE]

A private daemon (tests/support/private_daemon.py: test driver only, its own socket)
gets N domains, each with S owned snapshots one hour apart, redefined with
CREATE_REDEFINE. Two runs of the real ``virtsnap auto`` program are timed
(wall clock, median of the rounds) for every worker count:

- prune run: each domain gets its new snapshot and loses the S + 1 - K that
  ``keep_hourly = K`` no longer keeps (K = 24, or S / 2 when S < 48) (the history is redefined again
  before every round, untimed);
- steady run: the same command right after, with nothing due and nothing to
  prune (reads only).

Beside the wall time it prints the CPU time of the ``virtsnap`` process and
of the daemon during the run: when their sum nears wall time x CPUs, the
run is CPU-bound and more workers cannot help.

The run fails (exit 1) if a run's report is not ok or leaves another set of
snapshots than the rules keep; timing is printed, never judged.
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

import libvirt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.private_daemon import PrivateDaemon, domain_xml  # noqa: E402

import virtsnap  # noqa: E402

POLICY = """\
[[policy]]
label = "bench"
uris = ["{uri}"]
domains = ["bench-*"]
interval = "1h"
keep_hourly = {keep}
"""


@contextlib.contextmanager
def private_daemon(prefix):
    """A private libvirtd (test driver only) in a temporary directory, and a libvirt-python
    connection to it held open meanwhile (the test driver keeps its state while one is):
    yields (work directory, daemon, connection)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        daemon = PrivateDaemon(Path(work) / "daemon").start()
        try:
            lv_conn = libvirt.open(daemon.uri())
            try:
                yield work, daemon, lv_conn
            finally:
                lv_conn.close()
        finally:
            daemon.stop()


def redefine_history(lv_conn, conn, names, snapshots, now):
    """S owned snapshots per domain, hourly, the newest two hours old (a chain)."""
    for name in names:
        dom = conn.get_domain_by_name(name)
        for snap in reversed(dom.list_all_snapshots(virtsnap.ListFlags.TOPOLOGICAL)):
            snap.delete()
        template = dom.create_snapshot(name="template")
        xml = template.get_xml_description()
        template.delete()
        parent = None
        for number in range(snapshots):
            when = now - 3600 * (2 + snapshots - 1 - number)
            snap_name = "auto-bench-" + datetime.fromtimestamp(when, timezone.utc).strftime(
                "%Y%m%dT%H%M%SZ")
            root = ElementTree.fromstring(xml)
            root.find("name").text = snap_name
            root.find("creationTime").text = str(when)
            for old in root.findall("parent"):
                root.remove(old)
            if parent:
                ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
            dom.create_snapshot(ElementTree.tostring(root, encoding="unicode"),
                                virtsnap.CreateFlags.REDEFINE)
            parent = snap_name


def daemon_cpu(pid):
    """CPU seconds (user + system) the daemon has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_run(config, workers, lock_dir, daemon_pid):
    """(wall s, client CPU s, daemon CPU s, report) of one ``virtsnap auto``."""
    argv = [sys.executable, "-m", "virtsnap", "auto", "--config", str(config), "--json",
            "--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    daemon_before = daemon_cpu(daemon_pid)
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=3600,
                            env=dict(os.environ, VIRTSNAP_LOCK_DIR=lock_dir))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"virtsnap auto failed ({result.returncode}): {result.stderr[-2000:]}")
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, client, daemon_cpu(daemon_pid) - daemon_before, json.loads(result.stdout)


def keep_hourly(snapshots):
    return min(24, max(1, snapshots // 2))


def check(conn, names, snapshots, report, steady):
    expected = keep_hourly(snapshots) if not steady else None
    for name in names:
        count = conn.get_domain_by_name(name).num_of_snapshots()
        if expected is not None and count != expected:
            raise SystemExit(f"{name}: {count} snapshots left, the rules keep {expected}")
    policies = [p for host in report["hosts"] for d in host["domains"] for p in d["policies"]]
    if len(policies) != len(names) or not report["ok"]:
        raise SystemExit(f"report covers {len(policies)} of {len(names)} domains or is not ok")
    if steady and any(p["created"] or p["deleted"] for p in policies):
        raise SystemExit("the steady run changed something")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 domains x 10, 1 round (CI)")
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=50)
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.domains, args.snapshots, args.rounds = 20, 10, 1
    workers = [int(w) for w in args.workers.split(",")]
    results = {}
    with private_daemon("virtsnap-bench-policy-") as (work, daemon, lv_conn):
        uri = daemon.uri()
        names = [f"bench-{n:04d}" for n in range(args.domains)]
        for name in names:
            lv_conn.defineXML(domain_xml(name))
        config = Path(work) / "policy.toml"
        config.write_text(POLICY.format(uri=uri, keep=keep_hourly(args.snapshots)))
        with virtsnap.open(uri) as conn:
            for count in workers:
                runs = {"prune": [], "steady": []}
                for _ in range(args.rounds):
                    redefine_history(lv_conn, conn, names, args.snapshots, int(time.time()))
                    for key in runs:
                        *figures, report = timed_run(config, count, work, daemon.pid)
                        check(conn, names, args.snapshots, report, steady=key == "steady")
                        runs[key].append(figures)
                results[count] = {
                    key: dict(zip(("wall", "client_cpu", "daemon_cpu"),
                                  (statistics.median(column) for column in zip(*figures))))
                    for key, figures in runs.items()}
    deleted = args.snapshots + 1 - keep_hourly(args.snapshots)
    print(f"virtsnap auto through a private libvirtd (test driver): {args.domains} domains x "
          f"{args.snapshots} owned snapshots, {os.cpu_count()} CPUs, "
          f"median of {args.rounds} round(s)")
    print(f"  {'run':<44}" + "".join(f"{f'workers={w}':>14}" for w in workers))
    for key, title in (("prune", f"prune run (1 created + {deleted} deleted/domain)"),
                       ("steady", "steady run (nothing due, nothing to prune)")):
        print(f"  {title:<44}" + "".join(f"{results[w][key]['wall']:>12.2f} s" for w in workers))
        base = results[workers[0]][key]["wall"]
        print(f"  {'  wall vs workers=' + str(workers[0]):<44}"
              + "".join(f"{results[w][key]['wall'] / base:>14.2f}" for w in workers))
        for cpu, who in (("client_cpu", "virtsnap"), ("daemon_cpu", "libvirtd")):
            print(f"  {'  CPU of ' + who:<44}"
                  + "".join(f"{results[w][key][cpu]:>12.2f} s" for w in workers))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "domains": args.domains, "snapshots": args.snapshots, "rounds": args.rounds,
            "results": {str(w): r for w, r in results.items()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
