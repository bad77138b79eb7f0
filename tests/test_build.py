"""Building without libvirt's headers stops with one line naming the package to install."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_missing_libvirt_headers_give_one_clear_line(tmp_path):
    pytest.importorskip("pkgconfig")
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path), PKG_CONFIG_PATH=str(tmp_path))
    result = subprocess.run([sys.executable, "setup.py", "--name"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "virtsnap: libvirt's development files were not found; "
        "install libvirt-dev (Debian/Ubuntu) or libvirt-devel (Fedora/RHEL)")
