"""Facts about the libvirt under test: its installed headers and its version."""

import ast
import operator
import re
from pathlib import Path

import virtsnap

RUNTIME = virtsnap.libvirt_version()

# The test driver resumes a running snapshot's domain on revert from libvirt 9.0
# (tests/test_versions.py holds the other version facts).
TEST_DRIVER_RESUMES_ON_REVERT = RUNTIME >= (9, 0, 0)

HEADER = Path("/usr/include/libvirt/libvirt-domain-snapshot.h")

_OPERATORS = {ast.LShift: operator.lshift, ast.BitOr: operator.or_}


def _evaluate(expr, known):
    """Value of an enum initialiser such as ``(1 << 3)`` or ``VIR_DOMAIN_XML_SECURE``."""
    def visit(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](visit(node.left), visit(node.right))
        if isinstance(node, ast.Name):
            return known[node.id]
        raise ValueError(f"cannot evaluate {expr!r}")
    return visit(ast.parse(expr, mode="eval").body)


def header_constants():
    """{'CREATE_HALT': 8, ...} read from the installed C header."""
    known = {}
    domain_header = HEADER.with_name("libvirt-domain.h").read_text()
    for name, expr in re.findall(r"^\s*(VIR_DOMAIN_XML_\w+)\s*=\s*([^,]+),", domain_header, re.M):
        known[name] = _evaluate(expr, known)
    found = {}
    for name, expr in re.findall(r"^\s*VIR_DOMAIN_SNAPSHOT_(\w+)\s*=\s*([^,]+),",
                                 HEADER.read_text(), re.M):
        found[name] = known[f"VIR_DOMAIN_SNAPSHOT_{name}"] = _evaluate(expr, known)
    return found
