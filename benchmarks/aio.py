#!/usr/bin/env python3
"""virtsnap.aio against the sync API and libvirt-python under asyncio.to_thread (issue 14).

    python benchmarks/aio.py [--quick] [--json FILE] [--publish]

Over test+unix:///default of a private libvirtd (tests/support/private_daemon.py):
N snapshot creates, then N XML fetches (one call per snapshot), done
serially with the sync API, with virtsnap.aio at concurrency 8, and with
libvirt-python under asyncio.to_thread at concurrency 8 (without an event
loop, and with libvirtaio registered as an events-using service would). Then the event
latency on the asyncio loop (revert returned -> lifecycle event delivered),
virtsnap.aio against libvirt-python's libvirtaio. Each contender runs in a
process of its own (one event implementation per process); wall time,
client CPU time and the daemon's CPU time are reported, never judged.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

CONCURRENCY = 8
DOMAIN = "test"


def daemon_cpu(pid):
    """The daemon's user+system CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(run, pid):
    wall, cpu, dcpu = time.perf_counter(), time.process_time(), daemon_cpu(pid)
    run()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "daemon_cpu": daemon_cpu(pid) - dcpu}


# ---------------------------------------------------------------- workers

def work_sync(uri, n, pid):
    import virtsnap
    conn = virtsnap.open(uri)
    dom = conn.get_domain_by_name(DOMAIN)
    snaps = []
    create = timed(lambda: snaps.extend(dom.create_snapshot(name=f"b{i:05}") for i in range(n)),
                   pid)
    xml = timed(lambda: [s.get_xml_description() for s in snaps], pid)
    return {"create": create, "xml": xml}


def gather_bounded(coroutines):
    async def main():
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(coro):
            async with sem:
                return await coro
        return await asyncio.gather(*[one(c) for c in coroutines])
    return main()


def work_aio(uri, n, pid):
    import virtsnap.aio as aio

    async def main():
        conn = await aio.open(uri)
        dom = await conn.get_domain_by_name(DOMAIN)
        out = {}
        for what in ("create", "xml"):
            wall, cpu, dcpu = time.perf_counter(), time.process_time(), daemon_cpu(pid)
            if what == "create":
                snaps = await gather_bounded(dom.create_snapshot(name=f"b{i:05}")
                                             for i in range(n))
            else:
                await gather_bounded(s.get_xml_description() for s in snaps)
            out[what] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                         "daemon_cpu": daemon_cpu(pid) - dcpu}
        await conn.close()
        return out
    return asyncio.run(main())


def work_to_thread(uri, n, pid, with_events=False):
    import libvirt

    async def main():
        if with_events:
            import libvirtaio
            libvirtaio.virEventRegisterAsyncIOImpl()
        conn = libvirt.open(uri)
        dom = conn.lookupByName(DOMAIN)
        out = {}
        for what in ("create", "xml"):
            wall, cpu, dcpu = time.perf_counter(), time.process_time(), daemon_cpu(pid)
            if what == "create":
                snaps = await gather_bounded(
                    asyncio.to_thread(dom.snapshotCreateXML,
                                      f"<domainsnapshot><name>b{i:05}</name></domainsnapshot>")
                    for i in range(n))
            else:
                await gather_bounded(asyncio.to_thread(s.getXMLDesc) for s in snaps)
            out[what] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                         "daemon_cpu": daemon_cpu(pid) - dcpu}
        conn.close()
        return out
    return asyncio.run(main())


def latency_aio(uri, n, pid):
    import virtsnap.aio as aio

    async def main():
        conn = await aio.open(uri)
        dom = await conn.get_domain_by_name(DOMAIN)
        up = await dom.create_snapshot(name="lat-up")
        libvirt_dom = dom.sync.to_libvirt()
        out = []
        async with conn.domain_events(dom) as events:
            for _ in range(n):
                await asyncio.to_thread(libvirt_dom.destroy)
                await events.__anext__()                      # STOPPED/DESTROYED
                await up.revert_to()
                returned = time.perf_counter()
                event = await events.__anext__()              # STARTED/FROM_SNAPSHOT
                out.append(time.perf_counter() - returned)
                assert event.detail_name == "FROM_SNAPSHOT", event
        await up.delete()
        await conn.close()
        return out
    return asyncio.run(main())


def latency_libvirtaio(uri, n, pid):
    import libvirt
    import libvirtaio

    async def main():
        libvirtaio.virEventRegisterAsyncIOImpl()
        conn = libvirt.open(uri)
        dom = conn.lookupByName(DOMAIN)
        up = dom.snapshotCreateXML("<domainsnapshot><name>lat-up</name></domainsnapshot>")
        queue = asyncio.Queue()

        def on_event(_conn, _dom, event, detail, _opaque):
            queue.put_nowait((event, detail))
        callback = conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                               on_event, None)
        out = []
        for _ in range(n):
            await asyncio.to_thread(dom.destroy)
            await queue.get()
            await asyncio.to_thread(dom.revertToSnapshot, up)
            returned = time.perf_counter()
            event = await queue.get()
            out.append(time.perf_counter() - returned)
            assert event == (libvirt.VIR_DOMAIN_EVENT_STARTED,
                             libvirt.VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT), event
        conn.domainEventDeregisterAny(callback)
        up.delete()
        conn.close()
        return out
    return asyncio.run(main())


def work_to_thread_libvirtaio(uri, n, pid):
    """As work_to_thread, with libvirtaio registered as virtsnap.aio registers its loop."""
    return work_to_thread(uri, n, pid, with_events=True)


WORKERS = {"sync": work_sync, "aio": work_aio, "to_thread": work_to_thread,
           "to_thread_libvirtaio": work_to_thread_libvirtaio,
           "latency_aio": latency_aio, "latency_libvirtaio": latency_libvirtaio}


# ---------------------------------------------------------------- driver

def run_worker(name, uri, n, pid):
    result = subprocess.run([sys.executable, __file__, "--worker", name, "--uri", uri,
                             "--n", str(n), "--pid", str(pid)],
                            capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        sys.exit(f"worker {name} failed:\n{result.stdout}{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 calls, 50 latencies")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--publish", action="store_true",
                        help="keep the run in benchmarks/figures/aio.json and docs/guides/performance.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.uri, args.n, args.pid)))
        return
    import virtsnap
    from support.private_daemon import PrivateDaemon

    n, latencies = (200, 50) if args.quick else (1000, 200)
    with tempfile.TemporaryDirectory(prefix="virtsnap-bench-aio-") as workdir:
        daemon = PrivateDaemon(Path(workdir) / "libvirtd").start()
        try:
            uri = daemon.uri()
            holder = virtsnap.open(uri)       # keeps the test driver's state between workers
            dom = holder.get_domain_by_name(DOMAIN)
            results = {}
            for name in ("sync", "aio", "to_thread", "to_thread_libvirtaio"):
                results[name] = run_worker(name, uri, n, daemon.pid)
                assert dom.num_of_snapshots() == n, name
                for snap in dom.list_all_snapshots():
                    snap.delete()
            for name in ("latency_aio", "latency_libvirtaio"):
                results[name] = run_worker(name, uri, latencies, daemon.pid)
            holder.close()
        finally:
            daemon.stop()
    report = {"n": n, "latencies": latencies, "concurrency": CONCURRENCY, "results": results}
    print(render(report), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.publish:
        publish(report)


def render(report):
    """The figures as text: what is printed, and what docs/guides/performance.md shows."""
    results, n, latencies = report["results"], report["n"], report["latencies"]
    out = [f"{n} creates and {n} XML fetches over test+unix (private libvirtd), "
           f"concurrency {report['concurrency']} for the asyncio rows",
           f"{'':32}{'wall s':>9}{'client CPU s':>14}{'daemon CPU s':>14}"]
    labels = {"sync": "sync API, serial", "aio": "virtsnap.aio",
              "to_thread": "libvirt-py + to_thread",
              "to_thread_libvirtaio": "same + libvirtaio loop"}
    for what in ("create", "xml"):
        for name, label in labels.items():
            r = results[name][what]
            out.append(f"{what + ': ' + label:32}{r['wall']:9.3f}{r['cpu']:14.3f}"
                       f"{r['daemon_cpu']:14.3f}")
        for base in ("to_thread", "to_thread_libvirtaio"):
            ratio = results[base][what]["wall"] / results["aio"][what]["wall"]
            out.append(f"  {what}: virtsnap.aio is {ratio:.2f}x the speed of {labels[base]} "
                       f"(target 1.5x)")
    out.append(f"event latency, revert returned -> event delivered ({latencies} reverts):")
    for name, label in (("latency_aio", "virtsnap.aio"), ("latency_libvirtaio", "libvirtaio")):
        ms = [x * 1000 for x in results[name]]
        out.append(f"  {label:14} median {statistics.median(ms):7.3f} ms   "
                   f"max {max(ms):7.3f} ms")
    return "\n".join(out) + "\n"


PAGE = HERE.parent / "docs" / "guides" / "performance.md"
PUBLISHED = HERE / "figures" / "aio.json"
BEGIN = "<!-- aio figures: begin (written by benchmarks/aio.py --publish; do not edit) -->"
END = "<!-- aio figures: end -->"


def page_section(text):
    return text[text.index(BEGIN) + len(BEGIN) + 1:text.index(END)]


def rendered_section(report):
    return "```text\n" + render(report) + "```\n"


def publish(report):
    """Commit-ready: the run in benchmarks/figures/aio.json, its figures in docs/guides/performance.md."""
    PUBLISHED.write_text(json.dumps(report, indent=2) + "\n")
    text = PAGE.read_text()
    start, end = text.index(BEGIN) + len(BEGIN) + 1, text.index(END)
    PAGE.write_text(text[:start] + rendered_section(report) + text[end:])


if __name__ == "__main__":
    main()
