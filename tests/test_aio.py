"""Runs tests/aio_process/ in a child pytest: virtsnap.aio registers libvirt's
one event implementation per process, and test_daemon_faults registers
start_event_loop()'s in this one.

The child runs once (a module fixture) and writes a JUnit XML file; each of its
tests is reported here as a test of its own, ``test_aio_case[<child node id>]``,
with the child's outcome, message and duration.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CHILD_ENV = dict(os.environ, VIRTSNAP_AIO_CHILD="1")


def child_args(config, *extra):
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "-W", "error::pytest.PytestUnraisableExceptionWarning", *extra,
            str(HERE / "aio_process")]
    if config.getoption("--run-slow"):
        args.append("--run-slow")
    return args


def pytest_generate_tests(metafunc):
    """One ``test_aio_case`` per test the child collects (with the same options)."""
    if "case" in metafunc.fixturenames:
        collected = subprocess.run(child_args(metafunc.config, "--collect-only"), env=CHILD_ENV,
                                   cwd=HERE.parent, capture_output=True, text=True, timeout=300)
        cases = [line.split("aio_process/", 1)[1] for line in collected.stdout.splitlines()
                 if "::" in line]
        assert cases, collected.stdout + collected.stderr
        metafunc.parametrize("case", cases)


def junit_key(classname, name):
    """("test_aio_events.py::test_x[p]") from a JUnit testcase's classname and name."""
    parts = classname.split(".")
    module = next(i for i, part in enumerate(parts) if part.startswith("test_"))
    return "::".join([parts[module] + ".py", *parts[module + 1:], name])


@pytest.fixture(scope="module")
def aio_child_run(request, libvirtd, tmp_path_factory):
    """The child run: (its exit status and output, {case: (outcome, message, seconds)})."""
    junit = tmp_path_factory.mktemp("aio") / "junit.xml"
    result = subprocess.run(child_args(request.config, "-rfEs", f"--junitxml={junit}"),
                            env=CHILD_ENV, cwd=HERE.parent, capture_output=True, text=True,
                            timeout=600)
    cases = {}
    if junit.exists():
        for case in ElementTree.parse(junit).iter("testcase"):
            problem = next((child for child in case
                            if child.tag in ("failure", "error", "skipped")), None)
            outcome = "passed" if problem is None else problem.tag
            message = "" if problem is None else (problem.get("message") or "") + "\n" + (
                problem.text or "")
            cases[junit_key(case.get("classname"), case.get("name"))] = (
                outcome, message, float(case.get("time", 0)))
    return result, cases


@pytest.mark.libvirtd
def test_aio_case(aio_child_run, case, record_property):
    result, cases = aio_child_run
    assert case in cases, f"{case} did not run in the child:\n" + result.stdout[-8000:]
    outcome, message, seconds = cases[case]
    record_property("child_seconds", seconds)
    if outcome == "skipped":
        pytest.skip(message)
    assert outcome == "passed", message


@pytest.mark.libvirtd
def test_the_child_run_as_a_whole_passed(aio_child_run):
    """A failure no case carries (a disturbed daemon, a collection error) fails here."""
    result, cases = aio_child_run
    failed_cases = [case for case, (outcome, _, _) in cases.items() if outcome != "passed"]
    assert result.returncode == 0 or failed_cases, result.stdout[-8000:] + result.stderr[-4000:]


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
