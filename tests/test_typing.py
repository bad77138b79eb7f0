"""mypy --strict accepts the package and its correct use, and rejects misspellings.

The lazily loaded names (SnapshotInfo, SnapshotTree, ...) are typed for mypy,
and the module has no __getattr__ that mypy could see, so `virtsnap.opne` is an
error; the stub's read-only property and `via` Literal are checked too.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
PACKAGE = HERE.parent / "src" / "virtsnap"     # the sources; the usage files see the install


def mypy(*paths):
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--cache-dir", os.devnull, *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_package_and_correct_use_pass_mypy_strict():
    rc, out = mypy(PACKAGE, HERE / "typecheck" / "correct.py")
    assert rc == 0, out


def test_misspellings_fail_mypy_strict():
    source = HERE / "typecheck" / "misspelt.py"
    rc, out = mypy(source)
    assert rc == 1, out
    expected = {n for n, line in enumerate(source.read_text().splitlines(), 1) if "# E:" in line}
    reported = {int(m) for m in re.findall(rf"{re.escape(source.name)}:(\d+): error", out)}
    assert reported == expected, out
