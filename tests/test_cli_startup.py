"""What the command line's start-up path loads, and the table cells' shortcut.

Every command line goes through the grammar's table (no argparse on any
path); a short command imports only its own modules. Table cells with
nothing to escape skip virsh's per-character reading.
"""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.helpers import TEST_URI

PROBE = """
import sys
from virtsnap.cli import main
status = main(sys.argv[1:])
sys.stdout.flush()
print(sorted(sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [
    ["info", "test", "--current"], ["snapshot-info", "test", "--current"],
    ["dumpxml", "test", "s"], ["list", "test", "--name"], ["snapshot-list", "--domain=test"],
    ["create", "test", "--print-xml", "n", "d", "vda"], ["list", "test", "--bogus"],
])
def test_no_argparse_on_any_path(argv):
    result = subprocess.run([sys.executable, "-c", PROBE, "-c", TEST_URI, *argv],
                            capture_output=True, text=True, timeout=60)
    modules = eval(result.stderr.splitlines()[-1])  # noqa: S307 - our own repr of a list
    assert "argparse" not in modules
    assert "virtsnap.cli.grammar" in modules and "virtsnap.policy" not in modules
    assert "lxml" not in modules  # dumpxml --xpath's alone


# A snapshot to read, on a connection held open (the test driver keeps its state).
SHORT_PROBE = """
import sys
import virtsnap._snapshot
held = virtsnap._snapshot.open(sys.argv[1])
held.get_domain_by_name("test").create_snapshot(name="s")
from virtsnap.cli import main
status = main(sys.argv[2:])
sys.stdout.flush()
print(status, sorted(sys.modules), file=sys.stderr)
"""
# Each costs more to import than the short commands take to run (issue 26): re and
# enum 23M instructions, dataclasses 65M, datetime 6M, importlib 1.5M.
HEAVY = {"dataclasses", "datetime", "re", "enum", "typing", "inspect", "importlib", "argparse"}


@pytest.mark.parametrize("argv", [
    ["info", "test", "s"], ["snapshot-info", "test", "--current"], ["dumpxml", "test", "s"],
    ["list", "test", "--name"], ["snapshot-list", "test", "--name"],
    ["list", "test", "--roots", "--name"],
])
def test_short_commands_import_nothing_heavy(argv):
    result = subprocess.run([sys.executable, "-c", SHORT_PROBE, TEST_URI, "-c", TEST_URI, *argv],
                            capture_output=True, text=True, timeout=60)
    status, _, listed = result.stderr.splitlines()[-1].partition(" ")
    assert status == "0", result.stderr
    assert HEAVY & set(eval(listed)) == set()  # noqa: S307 - our own repr of a list


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_table_cells_without_escapes_skip_the_per_character_reading(text):
    from virtsnap.cli.output import _encode, _encode_chars

    assert _encode(text) == _encode_chars(text)
