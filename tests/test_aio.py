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
            "-W", "error::pytest.PytestUnraisableExceptionWarning",
            str(HERE / "aio_process")]
    if request.config.getoption("--run-slow"):
        args.append("--run-slow")
    result = subprocess.run(args, env=env, cwd=HERE.parent, capture_output=True, text=True,
                            timeout=600)
    print(result.stdout[-20000:])
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]


@pytest.mark.libvirtd
def test_the_readme_example_service_snapshots_and_streams_events(private_daemon):
    """examples/aio_service.py (docs/guides/asyncio-and-events.md) against a private
    daemon, driven by a TCP client; another client destroys the domain."""
    import signal
    import socket

    import libvirt

    uri = private_daemon.uri()
    holder = libvirt.open(uri)      # keeps the daemon's test driver state
    service = subprocess.Popen(
        [sys.executable, str(HERE.parent / "examples" / "aio_service.py"),
         "--uri", uri, "--domain", "test", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(service.stdout.readline().split()[-1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            lines = client.makefile("rw")

            def ask(command, answers):
                lines.write(command + "\n")
                lines.flush()
                return [lines.readline().strip() for _ in range(answers)]

            assert ask("snapshot up", 1) == ["ok created up"]
            assert ask("revert nope", 1)[0].startswith("error ")
            holder.lookupByName("test").destroy()
            assert lines.readline().strip() == "event STOPPED DESTROYED"
            # The reply and the event both come from the loop, in either order.
            assert sorted(ask("revert up", 2)) == ["event STARTED FROM_SNAPSHOT",
                                                   "ok reverted to up"]
            assert ask("bogus", 1) == ["error unknown command 'bogus'"]
    finally:
        service.send_signal(signal.SIGINT)
        out, err = service.communicate(timeout=30)
        holder.close()
    assert service.returncode == 0, err


def test_readme_aio_figures_are_rendered_from_the_published_run():
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location("bench_aio", HERE.parent / "benchmarks" / "aio.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = json.loads(bench.PUBLISHED.read_text())
    assert report["n"] == 1000 and set(report["results"]) >= {"aio", "to_thread", "latency_aio"}
    assert bench.page_section(bench.PAGE.read_text()) == bench.rendered_section(report)
