"""Runs tests/aio_process/ in a child pytest: virtsnap.aio registers libvirt's
one event implementation per process, and test_daemon_faults registers
start_event_loop()'s in this one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.libvirtd
def test_aio_suite_in_its_own_process(request, libvirtd):
    env = dict(os.environ, VIRTSNAP_AIO_CHILD="1")
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
            str(HERE / "aio_process")]
    if request.config.getoption("--run-slow"):
        args.append("--run-slow")
    result = subprocess.run(args, env=env, cwd=HERE.parent, capture_output=True, text=True,
                            timeout=600)
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
