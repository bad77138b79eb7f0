"""Check a repaired wheel with `auditwheel show --json`.

`auditwheel show` has no --exclude, so it would walk libvirt's own
dependencies; run with an empty --ldpaths it reports only what the wheel's
module itself needs. Required: a manylinux tag, and no external library but
libvirt.so.0 and the C library.
"""

import json
import subprocess
import sys
import tempfile
import zipfile

ALLOWED = {"libvirt.so.0", "libc.so.6"}


def main(auditwheel, wheel):
    with tempfile.TemporaryDirectory() as empty:
        report = json.loads(subprocess.run(
            [auditwheel, "show", "--json", "--ldpaths", empty, wheel],
            check=True, capture_output=True, text=True).stdout)
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
