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


def test_stub_matches_compiled_module():
    pytest.importorskip("mypy")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "virtsnap._snapshot",
         "--allowlist", os.path.join(os.path.dirname(__file__), "stubtest-allowlist.txt")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_names_are_typed():
    stub = open(os.path.join(os.path.dirname(virtsnap.__file__), "_snapshot.pyi")).read()
    for name in virtsnap.__all__:
        obj = getattr(virtsnap, name)
        if getattr(obj, "__module__", "") == "virtsnap._snapshot" or name in (
                "open", "libvirt_version", "libvirt_build_version", "start_event_loop"):
            assert f"{name}" in stub, name
