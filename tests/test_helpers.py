"""The shared test helpers (tests/support/helpers.py): one copy each, and virsh's tree read right."""

import ast
from pathlib import Path

import pytest

from support.helpers import parse_snapshot_tree
from support.snapshots import SHAPES, define_snapshots, needs_virsh, virsh_tree

TESTS = Path(__file__).parent


# Python modules of tests/ (scripts under tests/ansible, tests/valgrind and
# tests/typecheck are run by path, not imported).
MODULES = sorted(path for path in TESTS.rglob("*.py")
                 if path.relative_to(TESTS).parts[0] not in ("ansible", "valgrind", "typecheck"))


def top_level_definitions(path):
    """{name: line} of the functions and classes ``path`` defines, fixtures apart
    (a fixture may override conftest's on purpose)."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
            if not any(d.startswith(("pytest.fixture", "fixture")) for d in decorators):
                found[node.name] = node.lineno
    return found


def test_each_helper_is_defined_once():
    """No function or class name (tests and fixtures apart) is defined by two modules
    of tests/: each shared helper lives once, in tests/support/."""
    where = {}
    for path in MODULES:
        for name in top_level_definitions(path):
            if not name.startswith("test_"):
                where.setdefault(name, []).append(str(path.relative_to(TESTS)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert twice == {}
    support = {name for name, paths in where.items() if paths[0].startswith("support/")}
    assert {"virsh", "delete_all_snapshots", "parse_snapshot_tree", "define_snapshots",
            "snapshot_state", "PrivateDaemon"} <= support


def imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_no_test_module_imports_another():
    """Shared pieces live in tests/support/; a test module never imports a test_*.py,
    at the top or inside a function."""
    test_modules = {path.stem for path in TESTS.rglob("test_*.py")}
    imports = {str(path.relative_to(TESTS)): sorted(set(imported_modules(path)) & test_modules)
               for path in MODULES}
    assert {path: names for path, names in imports.items() if names} == {}
    assert "TEST_URI" in (TESTS / "support" / "helpers.py").read_text()


@needs_virsh
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_parse_snapshot_tree_reads_virshs_drawing(dom, tmp_path, shape):
    """Connector lines such as ``  |   |`` (branches) are not snapshots."""
    drawing = virsh_tree(define_snapshots(dom, SHAPES[shape]), tmp_path)
    assert parse_snapshot_tree(drawing) == SHAPES[shape]
