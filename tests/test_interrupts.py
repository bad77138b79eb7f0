"""Ctrl-C (SIGINT) while a call is blocked in libvirt.

A child process opens a connection to a private daemon (see
test_daemon_faults.PrivateDaemon), the test freezes the daemon with SIGSTOP,
the child enters a call that now waits for a reply, and the test sends SIGINT
to the child. The blocked C call is not torn down: Python raises
KeyboardInterrupt at the first bytecode after the call returns, which is once
the daemon is thawed with SIGCONT. The handle stays usable afterwards.
"""

import signal
import subprocess
import sys
import time

import pytest


pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

CHILD = r"""
import sys, time, virtsnap
uri, call = sys.argv[1], sys.argv[2]
conn = virtsnap.open(uri)
dom = conn.get_domain_by_name("test")
dom.create_snapshot(name="one")
CALLS = {
    "bulk-xml": lambda: dom.snapshot_xml_descriptions(),
    "create": lambda: dom.create_snapshot(name="interrupted"),
}
print("ready", flush=True)
sys.stdin.readline()                    # the daemon is frozen now
started = time.monotonic()
try:
    result = CALLS[call]()
    print("returned", result, flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic() - started:.3f}", flush=True)
sys.stdin.readline()                    # the daemon runs again
print("after", sorted(dom.list_snapshot_names()), conn.is_alive(), flush=True)
dom.create_snapshot(name="two")
print("after", sorted(dom.snapshot_xml_descriptions()), flush=True)
"""

FROZEN_FOR = 1.5


class Child:
    def __init__(self, uri, call):
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, uri, call],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def expect(self, prefix):
        line = self.proc.stdout.readline()
        assert line.startswith(prefix), (line, self.finish())
        return line.split(" ", 1)[1].strip() if " " in line else ""

    def send(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self):
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, out, err


@pytest.fixture
def child_factory():
    children = []

    def make(uri, call):
        children.append(Child(uri, call))
        return children[-1]

    yield make
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


# What the daemon holds afterwards: a call interrupted this way still ran to
# completion; only its result was dropped.
AFTERWARDS = {
    "bulk-xml": ["one"],
    "create": ["interrupted", "one"],
}


@pytest.mark.parametrize("call", sorted(AFTERWARDS))
def test_sigint_during_a_blocked_call_lands_when_it_returns(private_daemon, child_factory, call):
    child = child_factory(private_daemon.uri(), call)
    child.expect("ready")
    private_daemon.pause()
    child.send()
    time.sleep(0.5)
    child.proc.send_signal(signal.SIGINT)
    time.sleep(FROZEN_FOR)
    # The call is still blocked: SIGINT neither killed the child nor aborted the call.
    assert child.proc.poll() is None
    private_daemon.resume()
    elapsed = float(child.expect("interrupted"))
    assert elapsed >= FROZEN_FOR, "KeyboardInterrupt came before the call returned"
    child.send()
    names = AFTERWARDS[call]
    assert child.expect("after") == f"{names} True"
    assert child.expect("after") == str(sorted(names + ["two"]))
    returncode, _, err = child.finish()
    assert returncode == 0, err
