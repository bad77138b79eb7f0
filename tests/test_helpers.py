"""The shared test helpers (tests/support/helpers.py): one copy each, and virsh's tree read right."""

import re
from pathlib import Path

import pytest

from support.helpers import parse_snapshot_tree
from test_tree import SHAPES, define_snapshots, needs_virsh, virsh_tree

TESTS = Path(__file__).parent


@pytest.mark.parametrize("pattern", [r"^def virsh\(", r"^TEST_URI\s*=",
                                     r"^def delete_all_snapshots\(", r"^def parse_snapshot_tree\("])
def test_each_helper_is_defined_once(pattern):
    where = [str(path.relative_to(TESTS)) for path in sorted(TESTS.rglob("*.py"))
             for line in path.read_text(encoding="utf-8").splitlines()
             if re.match(pattern, line)]
    assert where == ["support/helpers.py"]


@needs_virsh
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_parse_snapshot_tree_reads_virshs_drawing(dom, tmp_path, shape):
    """Connector lines such as ``  |   |`` (branches) are not snapshots."""
    drawing = virsh_tree(define_snapshots(dom, SHAPES[shape]), tmp_path)
    assert parse_snapshot_tree(drawing) == SHAPES[shape]
