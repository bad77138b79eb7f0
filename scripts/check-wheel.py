"""Check a repaired wheel with `auditwheel show --json`.

`auditwheel show` has no --exclude, so it would walk libvirt's own
dependencies; run with an empty --ldpaths it reports only what the wheel's
module itself needs. Required: a manylinux tag, and no external library but
libvirt.so.0 and the C library.
"""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

ALLOWED = {"libvirt.so.0", "libc.so.6"}


def readelf_report(wheel):
    """The same fields from the wheel's name and readelf, for auditwheel < 6.5
    (the newest on Python 3.9), whose `show` has neither --json nor --ldpaths."""
    needed = set()
    with tempfile.TemporaryDirectory() as unpacked:
        zipfile.ZipFile(wheel).extractall(unpacked)
        for module in glob.glob(os.path.join(unpacked, "**", "*.so"), recursive=True):
            dynamic = subprocess.run(["readelf", "-d", module], check=True,
                                     capture_output=True, text=True).stdout
            needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dynamic))
    name = os.path.basename(wheel)
    tags = re.findall(r"manylinux_\d+_\d+_\w+?(?=[.-])", name)
    return {"wheel": name, "sym_tag": tags[0] if tags else "", "external_libs": dict.fromkeys(needed),
            "versioned_symbols": {}}


def main(auditwheel, wheel):
    with tempfile.TemporaryDirectory() as empty:
        show = subprocess.run([auditwheel, "show", "--json", "--ldpaths", empty, wheel],
                              capture_output=True, text=True)
    if show.returncode == 2 and "unrecognized arguments" in show.stderr:
        report = readelf_report(wheel)
    else:
        show.check_returncode()
        report = json.loads(show.stdout)
    print(json.dumps({key: report[key] for key in ("wheel", "sym_tag", "external_libs")}))
    problems = []
    if not report["sym_tag"].startswith("manylinux") or "manylinux" not in report["wheel"]:
        problems.append(f"no manylinux tag: {report['wheel']}, {report['sym_tag']}")
    needed = set(report["external_libs"]) | set(report["versioned_symbols"])
    if not needed <= ALLOWED:
        problems.append(f"unexpected external libraries: {sorted(needed - ALLOWED)}")
    bundled = [name for name in zipfile.ZipFile(wheel).namelist() if ".libs/" in name]
    if bundled:
        problems.append(f"libraries bundled into the wheel: {bundled}")
    if problems:
        sys.exit("check-wheel: " + "; ".join(problems))
    print(f"check-wheel: OK, links only {sorted(needed)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
