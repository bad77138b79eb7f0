"""What is installed: the compiled module from the wheel, its stub, and a light import."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import virtsnap


@pytest.mark.skipif(os.environ.get("VIRTSNAP_EXPECT_INSTALLED") != "1",
                    reason="only when run against the installed wheel (scripts/run-tests)")
def test_runs_against_installed_wheel_without_cython():
    assert "site-packages" in virtsnap.__file__
    assert "site-packages" in virtsnap._snapshot.__file__
    with pytest.raises(ImportError):
        __import__("Cython")
    assert shutil.which("cc") is None and shutil.which("gcc") is None


def test_import_pulls_in_no_optional_dependency():
    code = ("import sys, json, virtsnap; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'xml', 'libvirt', 'threading_extra', 'dataclasses'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                       capture_output=True, text=True).stdout)
    assert loaded == []


def test_package_ships_stub_and_marker():
    package = os.path.dirname(virtsnap.__file__)
    assert os.path.exists(os.path.join(package, "py.typed"))
    assert os.path.exists(os.path.join(package, "_snapshot.pyi"))


def test_stub_declares_exactly_the_module_classes_and_functions():
    """The stub's top-level classes, functions and variables, parsed, against the
    compiled module's: a class or function missing on either side fails."""
    import ast
    import types

    module = virtsnap._snapshot
    stub = ast.parse(open(os.path.join(os.path.dirname(virtsnap.__file__), "_snapshot.pyi")).read())
    declared = {"class": set(), "function": set(), "variable": set()}
    for node in stub.body:
        if isinstance(node, ast.ClassDef):
            declared["class"].add(node.name)
        elif isinstance(node, ast.FunctionDef):
            declared["function"].add(node.name)
        elif isinstance(node, ast.AnnAssign):
            declared["variable"].add(node.target.id)
    present = {"class": set(), "function": set(), "variable": set()}
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("__") or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type):
            if value.__module__ in ("virtsnap", "virtsnap._snapshot"):  # not errors'
                present["class"].add(name)
        elif callable(value):
            present["function"].add(name)
        elif not name.startswith("_"):
            present["variable"].add(name)
    assert declared["class"] == present["class"]
    assert {"Connection", "Domain", "DomainSnapshot", "DomainState", "ErrorCode"} <= declared["class"]
    public = {kind: {name for name in names if not name.startswith("_")}
              for kind, names in declared.items()}
    assert public["function"] == {n for n in present["function"] if not n.startswith("_")}
    assert declared["function"] <= present["function"]     # a private one too, if declared
    assert public["variable"] == present["variable"]
    for name in virtsnap.__all__:
        if getattr(getattr(virtsnap, name), "__module__", "") in ("virtsnap", "virtsnap._snapshot"):
            assert name in declared["class"] | declared["function"] | declared["variable"], name
