"""Daemon faults: the daemon is killed, frozen or restarted under a client.

Each test runs its OWN libvirtd (``PrivateDaemon``): its own config, socket
directory and PID file, and no hypervisor driver modules
(``LIBVIRT_DRIVER_DIR`` points at an empty directory), so it serves only the
test driver and never touches the shared daemon started by scripts/libvirtd-up.
Clients reach it with ``test+unix:///default?socket=<dir>/libvirt-sock``.

What survives a restart: the test driver keeps its state in memory, per
daemon. ``test:///default`` starts from its built-in defaults after a
restart, and a custom node file (``test+unix:///path/node.xml``) is re-read
for every new connection: snapshots written in the file (as
``<test:domainsnapshot>``) are there again, snapshots created at run time are
not, not even for a second connection to the same running daemon. Only a
stateful driver (qemu:///system, which writes snapshot metadata under
/var/lib/libvirt/qemu/snapshot) would keep run-time snapshots across a restart;
that needs a second qemu driver instance, which cannot share /run/libvirt with
the shared daemon, so it is not exercised here.

``PrivateDaemon`` and its helpers live in private_daemon.py; the
``private_daemon`` fixture in conftest.py.
"""

import threading
import time

import pytest

import virtsnap
from support.private_daemon import unique
from support.system import sockets_to, unread_by_peer, wait_for, wait_until
from virtsnap import LibvirtConnectionError

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

# Generous bound for "fails within a bounded time" after a kill: the client
# sees EOF on its socket at once; the bound only absorbs a loaded CI machine.
FAIL_FAST_S = 10.0


def call_in_thread(func):
    """Start ``func`` in a daemon thread; return (thread, outcome dict)."""
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            outcome["result"] = func()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# ---------------------------------------------------------------- tests

SLOW_CALLS = {
    "list_all_snapshots": lambda dom: dom.list_all_snapshots(),
    "snapshot_xml_descriptions": lambda dom: dom.snapshot_xml_descriptions(),
    "create_snapshot": lambda dom: dom.create_snapshot(name=unique("inflight")),
    "state": lambda dom: dom.state(),
}


@pytest.mark.parametrize("call", sorted(SLOW_CALLS))
def test_kill_with_a_call_in_flight(private_daemon, call):
    """A call waiting on a frozen daemon fails as soon as the daemon is killed.

    In flight means sent: its request sits unread in the frozen daemon's socket."""
    conn = virtsnap.open(private_daemon.uri())
    to_daemon = sockets_to(private_daemon.socket)
    assert to_daemon, "no socket to the daemon"
    dom = conn.get_domain_by_name("test")
    dom.create_snapshot(name="before-kill")
    private_daemon.pause()
    assert unread_by_peer(to_daemon) == 0
    thread, outcome = call_in_thread(lambda: SLOW_CALLS[call](dom))
    wait_for(lambda: unread_by_peer(to_daemon) > 0, f"{call}'s request to reach the daemon", 30)
    assert thread.is_alive(), f"{call} returned from a frozen daemon: {outcome}"
    private_daemon.kill()
    thread.join(FAIL_FAST_S)
    assert not thread.is_alive(), f"{call} still blocked {FAIL_FAST_S}s after the kill"
    assert isinstance(outcome.get("error"), LibvirtConnectionError), outcome
    assert not conn.is_alive()
    with pytest.raises(LibvirtConnectionError):
        dom.list_snapshot_names()


def test_calls_from_many_threads_while_killed(private_daemon):
    """Threads hammering one connection all end in LibvirtConnectionError."""
    conn = virtsnap.open(private_daemon.uri())
    dom = conn.get_domain_by_name("test")
    for i in range(20):
        dom.create_snapshot(name=f"s{i}")
    stop = threading.Event()
    failures, others, calls = [], [], []

    def hammer():
        while not stop.is_set():
            try:
                dom.snapshot_xml_descriptions()
                dom.get_snapshot_by_name("s3").get_parent()
                calls.append(threading.get_ident())
            except LibvirtConnectionError as exc:
                failures.append(exc)
                return
            except BaseException as exc:  # noqa: BLE001
                others.append(exc)
                return

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(calls) >= 2 * len(threads), "the threads to make calls", 30)
    private_daemon.kill()
    for thread in threads:
        thread.join(FAIL_FAST_S)
    stop.set()
    assert not any(thread.is_alive() for thread in threads), "a thread stayed blocked"
    assert others == []
    assert len(failures) == len(threads)
    assert not conn.is_alive()


def test_kill_while_idle_then_restart(private_daemon):
    """Idle connection: the next call fails, is_alive() turns false, a new one works."""
    conn = virtsnap.open(private_daemon.uri())
    dom = conn.get_domain_by_name("test")
    snap = dom.create_snapshot(name="idle")
    assert conn.is_alive()
    private_daemon.kill()
    started = time.monotonic()
    for action in (dom.list_snapshot_names, snap.get_xml_description, conn.get_lib_version):
        with pytest.raises(LibvirtConnectionError):
            action()
    assert time.monotonic() - started < FAIL_FAST_S
    assert not conn.is_alive()
    # Handles of the dead connection keep raising, never crash.
    with pytest.raises(LibvirtConnectionError):
        snap.delete()
    assert snap.name == "idle"

    private_daemon.start()
    with virtsnap.open(private_daemon.uri()) as fresh:
        assert fresh.is_alive()
        # test:///default lives in the daemon's memory: it starts over.
        assert fresh.get_domain_by_name("test").list_snapshot_names() == []
    conn.close()
    assert not conn.is_alive()


NODE_XML = """<node>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>persist</name>
    <memory>65536</memory>
    <os><type>hvm</type></os>
    <test:domainsnapshot>
      <name>from-file</name>
      <description>written in the node file</description>
      <state>running</state>
      <creationTime>1700000000</creationTime>
      <active>1</active>
    </test:domainsnapshot>
  </domain>
</node>
"""


def test_restart_with_a_persistent_node_file(private_daemon, tmp_path):
    """After a restart the snapshots of the node file are back; run-time ones are not.

    This is as much persistence as the test driver has (see the module doc).
    """
    node = tmp_path / "node.xml"
    node.write_text(NODE_XML)
    uri = private_daemon.uri(str(node))
    conn = virtsnap.open(uri)
    dom = conn.get_domain_by_name("persist")
    assert dom.list_snapshot_names() == ["from-file"]
    dom.create_snapshot(name="run-time")
    assert sorted(dom.list_snapshot_names()) == ["from-file", "run-time"]
    with virtsnap.open(uri) as other:
        # Every connection to a node file gets its own copy of it.
        assert other.get_domain_by_name("persist").list_snapshot_names() == ["from-file"]

    private_daemon.kill()
    with pytest.raises(LibvirtConnectionError):
        dom.list_snapshot_names()
    private_daemon.start()
    with virtsnap.open(uri) as fresh:
        again = fresh.get_domain_by_name("persist")
        assert again.list_snapshot_names() == ["from-file"]
        xml = again.get_snapshot_by_name("from-file").get_xml_description()
        assert "<description>written in the node file</description>" in xml


@pytest.mark.parametrize("readonly", [False, True], ids=["read-write", "read-only"])
def test_restart_under_a_connected_client(private_daemon, readonly):
    """SIGTERM + start again: the old connection is dead, a new one works."""
    conn = virtsnap.open(private_daemon.uri(), readonly=readonly)
    dom = conn.get_domain_by_name("test")
    assert dom.num_of_snapshots() == 0
    private_daemon.stop()
    private_daemon.start()
    with pytest.raises(LibvirtConnectionError):
        dom.num_of_snapshots()
    assert not conn.is_alive()
    with virtsnap.open(private_daemon.uri(), readonly=readonly) as fresh:
        assert fresh.get_domain_by_name("test").num_of_snapshots() == 0


# ---------------------------------------------------------------- keep-alive

KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 2
# libvirt closes the connection once COUNT probes went unanswered, i.e. about
# INTERVAL * (COUNT + 1) seconds after the last message from the daemon.
KEEPALIVE_BOUND = KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1)
KEEPALIVE_SLACK = 2.5


@pytest.fixture
def keepalive_conn(private_daemon):
    virtsnap.start_event_loop()
    conn = virtsnap.open(private_daemon.uri())
    assert conn.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT) is True
    yield conn
    conn.close()


def test_keepalive_keeps_a_healthy_idle_connection(keepalive_conn):
    """Probes are answered: an idle connection outlives several keep-alive periods."""
    time.sleep(KEEPALIVE_BOUND + 1.5)
    assert keepalive_conn.is_alive()
    assert keepalive_conn.get_domain_by_name("test").num_of_snapshots() == 0


def test_keepalive_fails_a_call_to_a_frozen_daemon(private_daemon, keepalive_conn):
    """SIGSTOP: the socket stays open, only keep-alive can notice; it does, in time."""
    dom = keepalive_conn.get_domain_by_name("test")
    private_daemon.pause()
    thread, outcome = call_in_thread(dom.list_all_snapshots)
    thread.join(KEEPALIVE_BOUND + KEEPALIVE_SLACK + 5)
    assert not thread.is_alive(), "keep-alive did not end the call"
    assert isinstance(outcome.get("error"), LibvirtConnectionError), outcome
    print(f"keep-alive({KEEPALIVE_INTERVAL}, {KEEPALIVE_COUNT}): call failed after "
          f"{outcome['elapsed']:.2f}s: {outcome['error']}")
    assert outcome["elapsed"] <= KEEPALIVE_BOUND + KEEPALIVE_SLACK
    assert not keepalive_conn.is_alive()
    private_daemon.resume()


def test_keepalive_notices_a_frozen_daemon_while_idle(private_daemon, keepalive_conn):
    """With no call in flight the event loop's probes turn is_alive() false."""
    private_daemon.pause()
    started = time.monotonic()
    assert wait_until(lambda: not keepalive_conn.is_alive(),
                      KEEPALIVE_BOUND + KEEPALIVE_SLACK + 5)
    elapsed = time.monotonic() - started
    print(f"keep-alive({KEEPALIVE_INTERVAL}, {KEEPALIVE_COUNT}): idle connection "
          f"declared dead after {elapsed:.2f}s")
    assert elapsed <= KEEPALIVE_BOUND + KEEPALIVE_SLACK
    with pytest.raises(LibvirtConnectionError):
        keepalive_conn.get_domain_by_name("test")
    private_daemon.resume()


def test_without_keepalive_a_frozen_daemon_blocks_until_it_resumes(private_daemon):
    """The control: no keep-alive, so the call just waits, then succeeds."""
    conn = virtsnap.open(private_daemon.uri())
    dom = conn.get_domain_by_name("test")
    private_daemon.pause()
    thread, outcome = call_in_thread(dom.num_of_snapshots)
    thread.join(KEEPALIVE_BOUND)
    assert thread.is_alive(), outcome
    private_daemon.resume()
    thread.join(FAIL_FAST_S)
    assert outcome == {"result": 0, "elapsed": outcome["elapsed"]}
    assert conn.is_alive()
    conn.close()
