"""Shared fixtures: libvirt's in-process test driver, the daemon, and CI rules.

Under CI=true a skipped test fails the run, and so does a run with no tests.
Long variants (marker ``slow``) are deselected, not skipped, unless --run-slow;
so are the Ansible tests (marker ``ansible``) on Python before 3.11.
"""

import os
import signal
import sys

import pytest

import virtsnap
from support.helpers import TEST_URI, delete_all_snapshots

IN_CI = os.environ.get("CI") == "true"


# Variables through which the caller's terminal would reach rich and the CLI.
CALLER_TERMINAL = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE",
                   "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLORTERM")


def pytest_configure(config):
    """Every test, and every process it starts, sees the same terminal whoever runs pytest.

    That includes SIGINT: a shell's background job starts with it ignored, which
    every child would inherit (no KeyboardInterrupt where the Ctrl-C tests send one).
    """
    for name in CALLER_TERMINAL:
        os.environ.pop(name, None)
    os.environ["TERM"] = "xterm-256color"
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run the long variants too")


def pytest_report_header(config):
    return (f"virtsnap {virtsnap.__version__} from {os.path.dirname(virtsnap.__file__)}; "
            f"libvirt runtime {virtsnap.libvirt_version()}, "
            f"built against {virtsnap.libvirt_build_version()}")


def pytest_collection_modifyitems(config, items):
    """Long variants (marker ``slow``) are deselected unless --run-slow is given, and
    the Ansible collection's tests (marker ``ansible``) on Python before 3.11.

    A test that uses the ``libvirtd`` fixture must carry the ``libvirtd``
    marker, so that ``-m 'not libvirtd'`` leaves out every test needing a daemon.
    """
    unmarked = [item.nodeid for item in items
                if "libvirtd" in getattr(item, "fixturenames", ()) and "libvirtd" not in item.keywords]
    if unmarked:
        raise pytest.UsageError("uses the libvirtd fixture without the libvirtd marker: "
                                + ", ".join(unmarked))
    if not config.getoption("--run-slow"):
        deselect(config, items, "slow")
    if sys.version_info < (3, 11):  # pyproject installs ansible-core 2.19 on 3.11 and later only
        deselect(config, items, "ansible")


def deselect(config, items, marker):
    chosen = [item for item in items if marker in item.keywords]
    if chosen:
        config.hook.pytest_deselected(items=chosen)
        items[:] = [item for item in items if marker not in item.keywords]


def pytest_sessionstart(session):
    from support.libvirtd_env import foreign_daemons

    session.config.foreign_daemons = foreign_daemons()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if no test was collected, if CI=true and a test was skipped, or if
    a libvirt daemon that the suite did not start was stopped, killed or restarted."""
    from support.libvirtd_env import disturbed_daemons

    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    disturbed = disturbed_daemons(getattr(session.config, "foreign_daemons", {}))
    if disturbed:
        if reporter:
            reporter.write_line("a daemon the suite did not start was disturbed: "
                                + "; ".join(disturbed), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if IN_CI and skipped:
        reporter.write_line(f"CI=true: {len(skipped)} test(s) were skipped; failing the run",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def conn():
    """A fresh connection to libvirt's in-process test driver."""
    with virtsnap.open(TEST_URI) as connection:
        yield connection


@pytest.fixture
def dom(conn):
    """The test driver's running domain "test", with no snapshots before and after."""
    domain = conn.get_domain_by_name("test")
    delete_all_snapshots(domain)
    if domain.state() is virtsnap.DomainState.PAUSED:  # libvirt 7.0: a revert may leave it so
        domain.to_libvirt().resume()
    yield domain
    if not conn.closed:
        delete_all_snapshots(domain)


@pytest.fixture(scope="session")
def libvirtd():
    """Start the libvirt daemon (scripts/libvirtd-up) once; fail under CI if it can't."""
    from support.libvirtd_env import ensure_daemon

    try:
        ensure_daemon()
    except Exception as exc:  # noqa: BLE001 - reported as the skip or failure reason
        if IN_CI:
            pytest.fail(f"libvirt daemon could not be started: {exc}")
        pytest.skip(f"libvirt daemon could not be started: {exc}")


@pytest.fixture
def private_daemon(tmp_path, libvirtd):
    """A libvirtd of this test's own (tests/support/private_daemon.py), stopped by its PID."""
    from support.private_daemon import PrivateDaemon

    daemon = PrivateDaemon(tmp_path / "libvirtd").start()
    yield daemon
    daemon.stop()


@pytest.fixture(params=["in-process", pytest.param("daemon", marks=pytest.mark.libvirtd)])
def uri(request):
    """test:///default in-process, then the same driver through a private daemon."""
    if request.param == "in-process":
        return TEST_URI
    return request.getfixturevalue("private_daemon").uri()


# virtsnap.aio registers the process's one libvirt event implementation, which
# test_daemon_faults' start_event_loop() also takes: its tests run in a child
# pytest of their own (tests/test_aio.py), never in this process.
collect_ignore = [] if os.environ.get("VIRTSNAP_AIO_CHILD") == "1" else ["aio_process"]
