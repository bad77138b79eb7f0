#!/usr/bin/env python3
"""The cost of ``virtsnap du`` and of ``virtsnap auto --metrics-file`` at N snapshots (issue 23).

    python benchmarks/space.py [--snapshots 1000] [--domains 1] [--rounds 5]
                               [--callgrind] [--qemu-img] [--json FILE]

A private daemon (tests/support/private_daemon.py: test driver only) gets
D domains, each with a disk in a storage pool and S/D owned snapshots
(``auto-bench-*``, redefined with CREATE_REDEFINE). Timed, as whole
processes (wall clock, median of the rounds):

- ``virtsnap list DOMAIN --name``, for scale: one bulk read of the snapshots;
- ``virtsnap du DOMAIN --json``: domain XML, block statistics, the pool's
  volume, the bulk snapshot XML;
- ``virtsnap auto`` with nothing due and nothing to prune, without and with
  ``--metrics-file`` (which adds one read-only connection and one ``du``
  per domain).

``--callgrind`` also counts each command's instructions once under
``valgrind --tool=callgrind`` (the client process only; the daemon's work
is not counted). ``--qemu-img`` times ``qemu-img info -U --backing-chain``
(du's local fallback, and the only source of vm-state sizes) on a qcow2
with S internal snapshots made by ``qemu-img snapshot -c``.
The figures are printed, never judged; the run fails only if a command does.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path

import libvirt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cli_vs_virsh import instructions  # noqa: E402
from policy import private_daemon  # noqa: E402
from support.private_daemon import domain_xml  # noqa: E402
from support.space import disk_xml, pool_with_volume  # noqa: E402

VIRTSNAP = [sys.executable, "-m", "virtsnap"]
POLICY = """\
[[policy]]
label = "bench"
uris = ["{uri}"]
domains = ["bench-*"]
interval = "1d"
keep_last = {keep}
"""


def redefine(dom, count, now):
    """``count`` owned snapshots one hour apart, the newest two hours old, as one chain."""
    template = dom.snapshotCreateXML("<domainsnapshot><name>template</name></domainsnapshot>", 0)
    xml = template.getXMLDesc(0)
    template.delete(0)
    parent = None
    for number in range(count):
        when = now - 3600 * (2 + count - 1 - number)
        name = "auto-bench-" + datetime.fromtimestamp(when, timezone.utc).strftime(
            "%Y%m%dT%H%M%SZ")
        root = ElementTree.fromstring(xml)
        root.find("name").text = name
        root.find("creationTime").text = str(when)
        for old in root.findall("parent"):
            root.remove(old)
        if parent:
            ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
        dom.snapshotCreateXML(ElementTree.tostring(root, encoding="unicode"),
                              libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
        parent = name


def wall(argv, env, rounds):
    """Median wall seconds of ``rounds`` runs of ``argv``; fails if one fails."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env=env, timeout=3600)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"{argv} failed ({result.returncode}): "
                             f"{result.stderr.decode(errors='replace')[-2000:]}")
    return statistics.median(times)


def qemu_img_figures(snapshots, rounds, work):
    image = Path(work) / "internal.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    for number in range(snapshots):
        subprocess.run(["qemu-img", "snapshot", "-c", f"s{number}", str(image)], check=True)
    argv = ["qemu-img", "info", "-U", "--output=json", "--backing-chain", str(image)]
    listed = json.loads(subprocess.run(argv, check=True, capture_output=True).stdout)
    assert len(listed[0]["snapshots"]) == snapshots
    return wall(argv, dict(os.environ), rounds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--domains", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--qemu-img", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    figures = {"snapshots": args.snapshots, "domains": args.domains, "rounds": args.rounds}
    with private_daemon("virtsnap-bench-space-") as (work, daemon, oracle):
        uri = daemon.uri()
        names = [f"bench-{number}" for number in range(args.domains)]
        now = int(time.time())
        for number, name in enumerate(names):
            path = pool_with_volume(oracle, f"bench-pool-{number}", used_gib=10)
            oracle.defineXML(domain_xml(name, disk_xml(path)))
            redefine(oracle.lookupByName(name), args.snapshots // args.domains, now)
        config = Path(work) / "policy.toml"
        config.write_text(POLICY.format(uri=uri, keep=args.snapshots + 1))
        metrics = Path(work) / "virtsnap.prom"
        env = dict(os.environ, VIRTSNAP_LOCK_DIR=str(Path(work) / "locks"))
        commands = {
            "list --name": VIRTSNAP + ["-c", uri, "list", names[0], "--name"],
            "du --json": VIRTSNAP + ["-c", uri, "du", names[0], "--json"],
            "auto": VIRTSNAP + ["auto", "--config", str(config)],
            "auto --metrics-file": VIRTSNAP + ["auto", "--config", str(config),
                                               "--metrics-file", str(metrics)],
        }
        for label, argv in commands.items():
            figures[label] = {"wall_s": wall(argv, env, args.rounds)}
            if args.callgrind:
                figures[label]["instructions"] = instructions(argv, env)[0]
        samples = [line for line in metrics.read_text().splitlines()
                   if line.startswith("virtsnap_snapshots{")]
        if sum(float(line.split()[-1]) for line in samples) != args.snapshots \
                - args.snapshots % args.domains:
            raise SystemExit(f"the metrics file does not count the snapshots: {samples}")
        if args.qemu_img:
            figures["qemu-img info"] = {"wall_s": qemu_img_figures(args.snapshots, args.rounds,
                                                                   work)}
    print(f"{args.snapshots} snapshots on {args.domains} domain(s), test driver through a "
          f"private daemon; wall = median of {args.rounds}")
    for label, values in figures.items():
        if isinstance(values, dict):
            text = f"  {label:22} {values['wall_s'] * 1000:9.1f} ms"
            if "instructions" in values:
                text += f"  {values['instructions'] / 1e6:9.1f} M instructions"
            print(text)
    extra = figures["auto --metrics-file"]["wall_s"] - figures["auto"]["wall_s"]
    print(f"  --metrics-file adds    {extra * 1000:9.1f} ms wall", end="")
    if args.callgrind:
        more = (figures["auto --metrics-file"]["instructions"]
                - figures["auto"]["instructions"]) / 1e6
        print(f", {more:.1f} M instructions", end="")
    print()
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
