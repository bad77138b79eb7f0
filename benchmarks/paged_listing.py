#!/usr/bin/env python3
"""Instructions per snapshot of listings past libvirt's RPC cap (issue 26, item 3).

    python benchmarks/paged_listing.py [N ...]      (default: 10000 20000 50000)

For each N, a chain and a bushy tree (tests/support/snapshot_trees.py) are
loaded by a private test-driver libvirtd from a node file; each call runs
under callgrind in a fresh process, once with and once without the call, and
the difference over N is the client's instructions per snapshot. The daemon
is not counted. Prints the table docs/guides/large-trees.md shows.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.private_daemon import PrivateDaemon                   # noqa: E402
from support.snapshot_trees import bushy, chain, write_node_file   # noqa: E402

CALLS = ("list_all_snapshots()", "snapshot_parents()")
PROGRAM = """import sys, virtsnap
conn = virtsnap.open(sys.argv[1])
dom = conn.get_domain_by_name(sys.argv[2])
dom.num_of_snapshots()
"""


def instructions(uri, domain, call=None, expected=None):
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        code = PROGRAM + (f"assert len(dom.{call}) == {expected}\n" if call else "")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}",
                        sys.executable, "-c", code, uri, domain], check=True,
                       capture_output=True)
        for line in Path(out.name).read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no total in the callgrind output")


def main():
    sizes = [int(arg) for arg in sys.argv[1:]] or [10_000, 20_000, 50_000]
    work = Path(tempfile.mkdtemp(prefix="virtsnap-paged-"))
    daemon = PrivateDaemon(work / "daemon").start()
    try:
        print(f"{'tree':<16}" + "".join(f"{call:>24}" for call in CALLS))
        for n in sizes:
            for shape, make in (("chain", chain), ("bushy", bushy)):
                node_file = write_node_file(work / f"{shape}-{n}.xml", {shape: make(n)})
                uri = daemon.uri(str(node_file))
                base = instructions(uri, shape)
                per = [(instructions(uri, shape, call, n) - base) / n for call in CALLS]
                print(f"{shape + ' ' + format(n, ','):<16}"
                      + "".join(f"{value:>24,.0f}" for value in per), flush=True)
                os.unlink(node_file)
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
