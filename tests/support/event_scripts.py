"""Event-stream scripts run in a Python process of their own.

libvirt takes one event implementation per process (virtsnap.aio's, or
start_event_loop()'s), and what a process prints at exit can only be seen
from outside: each script runs in a fresh interpreter.
"""

import os
import subprocess
import sys
import textwrap


def start_script(code, **env):
    """Popen of ``python -c code`` (dedented), stdout and stderr as text pipes."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_script(code, timeout=120, **env):
    """(returncode, stdout, stderr) of ``python -c code``."""
    process = start_script(code, **env)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"script still running after {timeout}s: {out[-2000:]} {err[-2000:]}")
    return process.returncode, out, err
