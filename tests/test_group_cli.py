"""``virtsnap group``: the command line over virtsnap.group, checked through libvirt-python.

In-process runs (``main([...])`` on test:///default) share the test's test
driver; the SIGTERM test runs the command in a subprocess against private
daemons and checks every member's state afterwards.
"""

import json
import os
import signal
import subprocess
import sys

import jsonschema
import libvirt
import pytest

import virtsnap
from support.group_env import lv, make_guests, remove_guests, snapshot_names, state, states
from support.helpers import TEST_URI
from support.private_daemon import PrivateDaemon, wait_until
from support.rpc_gate import DOMAIN_SUSPEND, RpcGate
from virtsnap.cli import main
from virtsnap.cli.schema import JSON_SCHEMA
from virtsnap.group import group_record



def validate(document, definition):
    """``document`` against $defs/``definition`` of ``virtsnap json-schema``'s schema."""
    jsonschema.validate(document, {**JSON_SCHEMA, "$ref": f"#/$defs/{definition}"})


@pytest.fixture
def guests(conn):
    names = make_guests(conn, 2)
    yield names
    remove_guests(TEST_URI, names)


def group_cli(capsys, *argv):
    status = main(["-c", TEST_URI, *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_create_list_revert_delete_with_json(conn, guests, capsys):
    members = guests + [f"{TEST_URI}/test"]
    handler = signal.getsignal(signal.SIGTERM)
    status, out, err = group_cli(capsys, "group", "create", "--name", "release-1",
                           "--description", "before the release", "--json", *members)
    assert (status, err) == (0, "")
    document = json.loads(out)
    validate(document, "group-result")
    assert [m["stopped"] for m in document["members"]] == ["paused"] * 3
    assert signal.getsignal(signal.SIGTERM) is handler   # restored after the run
    for name in guests + ["test"]:
        assert snapshot_names(TEST_URI, name) == ["release-1"]
    description = virtsnap.open(TEST_URI).get_domain_by_name(guests[0]) \
        .get_snapshot_by_name("release-1").info().description
    assert group_record(description)[0]["members"] == [m["member"] for m in document["members"]]

    status, out, err = group_cli(capsys, "group", "list", "--json", *members)
    listing = json.loads(out)
    validate(listing, "group-list")
    assert [(g["name"], g["complete"], g["description"]) for g in listing["groups"]] == [
        ("release-1", True, "before the release")]

    lv(conn).lookupByName(guests[1]).suspend()
    status, out, err = group_cli(capsys, "group", "revert", "release-1", *members)
    assert (status, err) == (0, "")
    assert "reverted on 3 member(s)" in out
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")

    status, out, err = group_cli(capsys, "group", "delete", "release-1", "--json", *members)
    assert status == 0 and json.loads(out)["action"] == "delete"
    validate(json.loads(out), "group-result")
    assert [snapshot_names(TEST_URI, name) for name in guests + ["test"]] == [[], [], []]


def test_text_output_reports_each_member_stop(guests, capsys):
    status, out, err = group_cli(capsys, "group", "create", "--name", "t", *guests)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "Group snapshot t created on 2 member(s)"
    assert lines[1].split() == ["Member", "State", "Stopped", "For"]
    for guest, line in zip(guests, lines[3:5]):
        cells = line.split()
        assert cells[0] == f"{TEST_URI}/{guest}" and cells[1:3] == ["running", "paused"]
        assert cells[4] == "ms" and float(cells[3]) > 0


def test_a_failing_member_exits_1_naming_it_and_changes_nothing(conn, guests, capsys):
    lv(conn).lookupByName(guests[1]).snapshotCreateXML(
        "<domainsnapshot><name>taken</name></domainsnapshot>")
    status, out, err = group_cli(capsys, "group", "create", "--name", "taken", *guests)
    assert status == 1 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert f"member {TEST_URI}/{guests[1]}" in err and "already has a snapshot" in err
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], ["taken"]]


@pytest.mark.parametrize("argv", [
    ["group", "create", "dom"],                          # no --name
    ["group", "create", "--name", "x", "qemu:///system"],  # a URI without a name
    ["group", "create", "--name", "", "test"],
    ["group", "create", "--name", "x", "test", "test"],   # twice
    ["group", "revert", "x"],                            # no member
])
def test_usage_errors_exit_1_with_one_error_line(argv, capsys):
    """Usage errors are virsh's: ``error:`` lines on stderr, exit 1, nothing changed."""
    assert main(["-c", TEST_URI, *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert snapshot_names(TEST_URI, "test") == []


# ---------------------------------------------------------------- SIGTERM


@pytest.mark.libvirtd
@pytest.mark.parametrize("signum, status, message", [
    (signal.SIGTERM, 128 + signal.SIGTERM, "error: terminated by SIGTERM"),
    (signal.SIGINT, 130, "error: interrupted"),
])
def test_sigterm_during_the_pause_resumes_every_member(private_daemon, tmp_path, signum, status,
                                                       message):
    """Members A and B on one daemon, C on a second that hangs (SIGSTOP) when asked
    to pause C. SIGTERM (or Ctrl-C) arrives while A and B are paused: the command
    resumes them at once, resumes C once its pause completes, deletes nothing it
    did not take, and exits 143 (130)."""
    second = PrivateDaemon(tmp_path / "second").start()
    gate = None
    proc = None
    try:
        first_conn = libvirt.open(private_daemon.uri())    # keep both test drivers alive
        second_conn = libvirt.open(second.uri())
        a, b = make_guests(private_daemon.uri(), 2)
        (c,) = make_guests(second.uri(), 1)
        gate = RpcGate(second.socket, tmp_path / "gate.sock", DOMAIN_SUSPEND, second.pause)
        members = [f"{private_daemon.uri()}/{a}", f"{private_daemon.uri()}/{b}",
                   f"{gate.uri()}/{c}"]
        env = {k: v for k, v in os.environ.items() if k != "LIBVIRT_DEFAULT_URI"}
        proc = subprocess.Popen([sys.executable, "-m", "virtsnap", "group", "create",
                                 "--name", "held", *members], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert gate.reached.wait(60), "the command never asked to pause C"
        first = private_daemon.uri()
        assert wait_until(lambda: states(first, [a, b]) == {a: "paused", b: "paused"}, 60)
        proc.send_signal(signum)
        # A and B run again while C's daemon still hangs
        assert wait_until(lambda: states(first, [a, b]) == {a: "running", b: "running"}, 60)
        assert proc.poll() is None          # still waiting for C's pause to complete
        second.resume()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == status, (out, err)
        assert out == ""
        assert err.startswith(message) and err.count("\n") == 1, err
        assert "was not taken" in err
        assert state(second.uri(), c) == "running"
        assert states(first, [a, b]) == {a: "running", b: "running"}
        assert [snapshot_names(first, a), snapshot_names(first, b),
                snapshot_names(second.uri(), c)] == [[], [], []]
        first_conn.close()
        second_conn.close()
    finally:
        if proc is not None and proc.poll() is None:
            second.resume()
            proc.kill()
            proc.wait()
        if gate is not None:
            gate.close()
        second.stop()


@pytest.mark.libvirtd
def test_a_host_that_hangs_for_good_is_given_up_and_the_others_resume(private_daemon, tmp_path):
    """C's daemon hangs (SIGSTOP) when asked to pause C and stays hung: keep-alive
    gives C's connection up (after about 30 s), the command resumes A, and exits 1
    naming C and saying that C's host may still pause it."""
    second = PrivateDaemon(tmp_path / "second").start()
    second_conn = libvirt.open(second.uri())    # keeps the test driver alive
    gate = None
    try:
        first_conn = libvirt.open(private_daemon.uri())
        (a,) = make_guests(private_daemon.uri(), 1)
        (c,) = make_guests(second.uri(), 1)
        gate = RpcGate(second.socket, tmp_path / "gate.sock", DOMAIN_SUSPEND, second.pause)
        env = {k: v for k, v in os.environ.items() if k != "LIBVIRT_DEFAULT_URI"}
        done = subprocess.run([sys.executable, "-m", "virtsnap", "group", "create", "--name",
                               "hung", f"{private_daemon.uri()}/{a}", f"{gate.uri()}/{c}"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert gate.reached.is_set()
        assert done.returncode == 1, done
        assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
        assert f"member {gate.uri()}/{c}" in done.stderr
        assert "keepalive" in done.stderr
        # the pause request may still be carried out once the host runs again: said so
        assert "NOT fully undone" in done.stderr
        assert f"member {gate.uri()}/{c}: the connection was lost during its pause" \
            in done.stderr
        assert state(private_daemon.uri(), a) == "running"
        assert snapshot_names(private_daemon.uri(), a) == []
        first_conn.close()
    finally:
        if gate is not None:
            gate.close()
        second.resume()
        second_conn.close()
        second.stop()
