#!/usr/bin/env python3
"""Write a benchmark run's figures into docs/guides/performance.md, between the markers.

    python benchmarks/readme.py [RESULTS.json]     (default: benchmarks/results.json)

The JSON is what `benchmarks/run.py --callgrind --json FILE` writes (`make
bench`). It is copied to benchmarks/figures/latest.json, which is committed,
and the page's section is rendered from it; tests/test_readme_figures.py
checks that the two agree, so no figure in that section is typed in.
"""

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "guides" / "performance.md"
PUBLISHED = HERE / "figures" / "latest.json"
BEGIN = "<!-- benchmark figures: begin (written by benchmarks/readme.py; do not edit) -->"
END = "<!-- benchmark figures: end -->"
CONTENDERS = ("c", "libvirt", "virtsnap")


def fmt_time(ns):
    if ns is None:
        return "-"
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def _count(x):
    return "-" if x is None else f"{x:,.0f}"


def render(report):
    """The performance page's section (between the markers) for one run's JSON report."""
    m = report["machine"]
    out = [
        f"Run of {m['date'][:10]} (`{report['mode']}` mode, {report['rounds']} rounds), "
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, libvirt {m['libvirt']} "
        f"(libvirtd {m['libvirtd'] or 'not running'}), libvirt-python {m['libvirt_python']}. "
        "Each test:///default worker holds its own connection; over test+unix:///default "
        "the tree is on a transient domain of its own and the run holds a connection "
        "open, so that the daemon's test driver keeps its state.",
    ]
    if report["configs"]:
        out += ["", "Wall clock, median per snapshot (ratios: median of per-round ratios):"]
    for config in report["configs"]:
        out += ["", f"**{config['uri']}, N = {config['n']:,}**", "",
                "| workload | C | libvirt-py | virtsnap | virtsnap / C | libvirt-py / virtsnap |",
                "|---|---|---|---|---|---|"]
        for row in config["rows"]:
            if "ns_per_item" in row:
                cells = [fmt_time(row["ns_per_item"][n]) for n in CONTENDERS]
            else:
                cells = ["-" if row["bytes_per_handle"][n] is None
                         else f"{row['bytes_per_handle'][n]:.0f} B" for n in CONTENDERS]
            out.append(f"| {row['workload']} | {' | '.join(cells)} | "
                       f"{fmt_ratio(row['virtsnap/C'])} | {fmt_ratio(row['libvirt/virtsnap'])} |")
    for config in report.get("instruction_counts", []):
        where = ("client process only" if "+" in config["uri"] else "whole process")
        out += ["", f"**Instructions per snapshot, {config['uri']}, N = {config['n']:,}** "
                f"(callgrind, {where})", "",
                "| workload | C | libvirt-py | virtsnap | virtsnap / C | libvirt-py / virtsnap |",
                "|---|---|---|---|---|---|"]
        for row in config["rows"]:
            cells = [_count(row["instructions_per_item"][n]) for n in CONTENDERS]
            out.append(f"| {row['workload']} | {' | '.join(cells)} | "
                       f"{fmt_ratio(row['virtsnap/C'])} | {fmt_ratio(row['libvirt/virtsnap'])} |")
    if "import_ms" in report:
        imp = report["import_ms"]
        out += ["", f"Import (python -X importtime, median): libvirt {imp['libvirt']:.1f} ms, "
                f"virtsnap {imp['virtsnap']:.1f} ms (ratio {imp['virtsnap/libvirt']:.2f})."]
    out += ["", "Targets (wall: test:///default at the largest N; instructions: test:///default "
            "in the instruction-count run; the instruction count decides where there is one):",
            "", "| target | wall | instructions | decided by | result |", "|---|---|---|---|---|"]
    for t in report.get("targets", []):
        result = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
        out.append(f"| {t['target']} | {fmt_ratio(t['wall'])} | {fmt_ratio(t['instructions'])} | "
                   f"{t['decided_by'] or '-'} | {result} |")
    return "\n".join(out) + "\n"


def rewrite(text, section):
    """The page's text with the part between the markers replaced by ``section``."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + section + text[end:]


def current_section(text):
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].lstrip("\n")


def main():
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    report = json.loads(source.read_text())
    PUBLISHED.parent.mkdir(exist_ok=True)
    if source.resolve() != PUBLISHED.resolve():
        shutil.copyfile(source, PUBLISHED)
    PAGE.write_text(rewrite(PAGE.read_text(), render(report)))
    print(f"{PAGE.relative_to(HERE.parent)}: figures of {report['machine']['date']} from {source}")


if __name__ == "__main__":
    main()
