"""The virtsnap command line, run as a subprocess against real libvirt.

Each subprocess on test:///default gets a fresh test driver, so tests that
need several snapshots either run ``demo`` or go through the daemon
(test+unix:///default, marker ``libvirtd``), whose test driver keeps its
state while some connection to it stays open. The daemon tests use a domain
of their own, so other tests sharing the daemon see nothing of them.
"""

import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

import virtsnap
from qemu_guest import parse_snapshot_tree
from test_tree import SHAPES, define_snapshots
from test_versions import TEST_DRIVER_RESUMES_ON_REVERT
from virtsnap.cli import JSON_SCHEMA, main, virsh_table
from virtsnap.progress import job_bytes, run_with_progress

TEST_URI = "test:///default"
DAEMON_URI = "test+unix:///default"
SCRIPT = Path(sys.executable).parent / "virtsnap"
HOSTILE = "x</name>&\"' ]]><!-- $(touch {marker}); `touch {marker}` | rm -rf / \\x41"

needs_virsh = pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh is not installed")


def cli_env(**changes):
    env = {key: value for key, value in os.environ.items()
           if key not in ("LIBVIRT_DEFAULT_URI", "VIRTSNAP_DEBUG")}
    env.update(changes)
    return env


def virtsnap_run(*args, uri=TEST_URI, env=None, command=None):
    """Run ``python -m virtsnap`` (or ``command``) with ``args``; never through a shell."""
    argv = ((command or [sys.executable, "-m", "virtsnap"]) + (["-c", uri] if uri else [])
            + list(args))
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env=env if env is not None else cli_env())


def virsh(*args, uri=TEST_URI, quiet=False):
    argv = ["virsh"] + (["-q"] if quiet else []) + ["-c", uri] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def assert_one_error_line(result, status=1):
    assert result.returncode == status, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---------------------------------------------------------------- basics


def test_help_lists_every_command():
    result = virtsnap_run("--help", uri=None)
    assert result.returncode == 0
    for command in ("list", "info", "dumpxml", "current", "parent", "create", "revert",
                    "delete", "export", "import", "demo"):
        assert command in result.stdout


def test_console_script_is_installed():
    result = virtsnap_run("--version", uri=None, command=[str(SCRIPT)])
    assert (result.returncode, result.stdout) == (0, f"virtsnap {virtsnap.__version__}\n")


@needs_virsh
def test_empty_listing_is_virshs(tmp_path):
    for command in ([str(SCRIPT)], None):
        result = virtsnap_run("list", "test", command=command)
        assert result.returncode == 0 and result.stderr == ""
        assert result.stdout == virsh("snapshot-list", "test").stdout
        assert virtsnap_run("list", "test", "--tree").stdout == virsh(
            "snapshot-list", "test", "--tree").stdout


def test_empty_listing_as_json():
    assert json.loads(virtsnap_run("list", "test", "--json").stdout) == {
        "domain": "test", "snapshots": []}
    assert json.loads(virtsnap_run("list", "test", "--tree", "--json").stdout) == {
        "domain": "test", "roots": []}


def test_default_uri_comes_from_the_environment():
    result = virtsnap_run("list", "test", "--json", uri=None,
                          env=cli_env(LIBVIRT_DEFAULT_URI=TEST_URI))
    assert result.returncode == 0 and json.loads(result.stdout)["domain"] == "test"
    bad = virtsnap_run("list", "test", uri=None, env=cli_env(LIBVIRT_DEFAULT_URI="bogus:///x"))
    # libvirt 7.0 tries a daemon socket and names it instead of the URI.
    expected = "bogus:///x" if virtsnap.libvirt_version() >= (9, 0, 0) else "Failed to connect socket"
    assert expected in assert_one_error_line(bad)


def test_global_options_also_after_the_command():
    result = virtsnap_run("list", "test", "-c", TEST_URI, "--quiet", uri=None,
                          env=cli_env(LIBVIRT_DEFAULT_URI="bogus:///x"))
    assert (result.returncode, result.stdout) == (0, "")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("args", [
    ["list", "nosuch"], ["info", "nosuch", "s"], ["dumpxml", "nosuch", "s"],
    ["current", "nosuch"], ["parent", "nosuch", "s"], ["create", "nosuch"],
    ["revert", "nosuch", "s"], ["delete", "nosuch", "s"], ["export", "nosuch", "/nonexistent"],
    ["import", "nosuch", "/nonexistent"],
])
def test_missing_domain_is_one_error_line(args):
    line = assert_one_error_line(virtsnap_run(*args))
    assert line == "error: failed to get domain 'nosuch': Domain not found"


@pytest.mark.parametrize("args", [["info", "test", "nosuch"], ["dumpxml", "test", "nosuch"],
                                  ["parent", "test", "nosuch"], ["revert", "test", "nosuch"],
                                  ["delete", "test", "nosuch"],
                                  ["list", "test", "--from", "nosuch"]])
def test_missing_snapshot_is_one_error_line(args):
    line = assert_one_error_line(virtsnap_run(*args))
    assert "no domain snapshot with matching name 'nosuch'" in line


def test_no_current_snapshot():
    assert "current snapshot" in assert_one_error_line(virtsnap_run("current", "test"))


def test_unreachable_uri():
    assert_one_error_line(virtsnap_run("list", "test", uri="bogus:///nothing"))


def test_unreadable_xml_file(tmp_path):
    line = assert_one_error_line(virtsnap_run("create", "test", "--xml", str(tmp_path / "no.xml")))
    assert "No such file or directory" in line


def test_libvirt_refusal_is_one_error_line():
    # The test driver has no --disk-only support: libvirt's own message comes through.
    line = assert_one_error_line(virtsnap_run("create", "test", "--disk-only"))
    assert "unsupported flags" in line


@pytest.mark.parametrize("args", [
    [], ["list"], ["frobnicate"], ["list", "test", "--bogus"],
    ["list", "test", "--tree", "--parent"], ["list", "test", "--tree", "--roots"],
    ["list", "test", "--tree", "--leaves"], ["list", "test", "--parent", "--roots"],
    ["list", "test", "--roots", "--from", "s"], ["list", "test", "--descendants"],
    ["revert", "test", "s", "--running", "--paused"],
    ["delete", "test", "s", "--children", "--children-only"],
    ["create", "test", "--xml", "f.xml", "--name", "n"], ["demo", "-c", "qemu:///system"],
])
def test_bad_usage_exits_2(args):
    result = virtsnap_run(*args, uri=None)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("virtsnap")


# ---------------------------------------------------------------- one-process commands


def test_create_round_trips_hostile_names_without_a_shell(tmp_path):
    marker = tmp_path / "pwned"
    name = HOSTILE.format(marker=marker)
    description = "desc " + name + "\n second line"
    result = virtsnap_run("create", "test", "--name", name, "--description", description, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["name"], data["description"]) == (name, description)
    assert data["is_current"] is True and data["parent"] is None
    assert not marker.exists()


def test_create_output_and_quiet():
    result = virtsnap_run("create", "test", "--name", "snap one")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "Domain snapshot snap one created\n", "")
    result = virtsnap_run("--quiet", "create", "test", "--name", "quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_create_from_an_xml_file(tmp_path):
    path = tmp_path / "snap.xml"
    path.write_text("<domainsnapshot><name>from-file</name><description>&lt;x&gt;</description>"
                    "</domainsnapshot>")
    data = json.loads(virtsnap_run("create", "test", "--xml", str(path), "--json").stdout)
    assert (data["name"], data["description"], data["state"]) == ("from-file", "<x>", "running")


def test_create_json_follows_the_schema():
    data = json.loads(virtsnap_run("create", "test", "--json").stdout)
    assert set(data) == {"name", "domain", "description", "state", "creation_time", "parent",
                         "is_current", "location", "memory", "disks"}
    for key in data:
        assert f'"{key}"' in JSON_SCHEMA
    assert data["name"]  # libvirt picked it


def demo_output(env=None):
    result = virtsnap_run("demo", uri=None, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_demo_walks_through_a_tree():
    out = demo_output()
    assert "$ virtsnap list test --tree\nbase\n  |\n  +- configured\n  +- experiment\n" in out
    assert "$ virtsnap current test\nconfigured\n" in out
    assert out.endswith("$ virtsnap list test --tree\nbase\n  |\n  +- configured\n    \n\n")
    state = "running" if TEST_DRIVER_RESUMES_ON_REVERT else "paused"  # test_versions.py
    row = rf" experiment-2 +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{{4}} +{state} +experiment\n"
    assert re.search(row, out)


def without_rich(tmp_path):
    """An environment where ``import rich`` fails."""
    stub = tmp_path / "no-rich" / "rich"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('rich is hidden for this test')\n")
    return cli_env(PYTHONPATH=str(stub.parent))


def test_works_without_rich(tmp_path):
    env = without_rich(tmp_path)
    check = subprocess.run([sys.executable, "-c", "import rich"], env=env, capture_output=True)
    assert check.returncode != 0
    times = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
    assert times.sub("T", demo_output(env)) == times.sub("T", demo_output())


def run_on_a_terminal(argv, env):
    """Run with stdout piped and stderr on a pseudo-terminal; return (status, stdout, tty)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal, env=env)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        shown += chunk
    stdout = process.stdout.read()
    process.wait(timeout=60)
    os.close(controller)
    return process.returncode, stdout.decode(), shown.decode(errors="replace")


def test_progress_shows_on_a_terminal_only(tmp_path):
    argv = [sys.executable, "-m", "virtsnap", "demo"]
    status, stdout, shown = run_on_a_terminal(argv, cli_env(COLUMNS="100"))
    assert status == 0
    assert "Reverting to base" in shown and "Deleting experiment" in shown
    assert "Reverting" not in stdout
    status, _, shown = run_on_a_terminal(argv + ["--quiet"], cli_env())
    assert (status, shown) == (0, "")
    status, stdout_plain, shown = run_on_a_terminal(argv, without_rich(tmp_path))
    assert (status, shown) == (0, "")


def test_progress_tests_pass_whatever_the_callers_terminal():
    """conftest pins TERM and drops colour and size variables (rich reads them)."""
    progress_tests = [f"{__file__}::test_progress_shows_on_a_terminal_only",
                      f"{__file__}::test_run_with_progress_spins_when_the_driver_has_no_job_stats"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *progress_tests],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TERM="dumb", NO_COLOR="1", COLUMNS="20", FORCE_COLOR="0"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


# ---------------------------------------------------------------- progress, in process


def test_run_with_progress_spins_when_the_driver_has_no_job_stats(dom):
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with pytest.raises(virtsnap.OperationUnsupportedError):
        dom.get_job_stats()
    snap = run_with_progress(lambda: dom.create_snapshot(name="spun"), dom, "Creating snapshot",
                             enabled=True, console=console, interval=0.01)
    assert snap.name == "spun"
    assert "Creating snapshot" in screen.getvalue()


def test_run_with_progress_reraises_and_can_be_disabled(dom):
    with pytest.raises(virtsnap.SnapshotNotFoundError):
        run_with_progress(lambda: dom.get_snapshot_by_name("nope"), dom, "x", enabled=True,
                          console=None)
    assert run_with_progress(lambda: 42, dom, "x", enabled=False) == 42


def test_job_bytes():
    assert job_bytes({"type": virtsnap.JobType.NONE}) is None
    assert job_bytes({"data_total": 100, "data_processed": 40}) == (40, 100)
    assert job_bytes({"memory_total": 10, "memory_processed": 10, "disk_total": 5}) == (10, 10)
    assert job_bytes({"data_total": 0, "disk_total": 8, "disk_processed": 2}) == (2, 8)


# ---------------------------------------------------------------- in process, shared driver


def cli(capsys, *args):
    """Run ``main`` in this process: it shares the test driver with the ``dom`` fixture."""
    status = main(["-c", TEST_URI] + list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


@needs_virsh
@pytest.mark.parametrize("options", [[], ["--parent"], ["--roots"], ["--leaves"],
                                     ["--no-leaves"], ["--from", "a"],
                                     ["--from", "a", "--descendants"], ["--topological"],
                                     ["--tree"], ["--tree", "--from", "d"], ["--internal"]])
def test_quiet_listing_matches_virsh_q(dom, tmp_path, capsys, options):
    """Same XML redefined here and in virsh's own process: same times, same bytes."""
    parents = dict(SHAPES["branches"], **{"Zeta": None, "é-x": "Zeta", "tab\tand 日本": "Zeta",
                                          "back\\x41slash": "a"})
    documents = define_snapshots(dom, parents)
    commands = []
    for number, xml in enumerate(documents.values()):
        path = tmp_path / f"{number}.xml"
        path.write_text(xml, encoding="utf-8")
        commands.append(f"snapshot-create test {path} --redefine")
    commands.append("snapshot-list test " + " ".join(options))
    expected = virsh("; ".join(commands), quiet=True).stdout
    status, out, err = cli(capsys, "-q", "list", "test", *options)
    assert (status, err) == (0, "")
    assert out == expected


def test_list_json_in_listing_order(dom, capsys):
    define_snapshots(dom, SHAPES["forest"], current="y",
                     descriptions={"x": "<&>"})
    status, out, _ = cli(capsys, "list", "test", "--json")
    data = json.loads(out)
    assert status == 0 and data["domain"] == "test"
    assert [s["name"] for s in data["snapshots"]] == ["r1", "r2", "r3", "x", "y", "z"]
    by_name = {s["name"]: s for s in data["snapshots"]}
    assert by_name["x"]["description"] == "<&>" and by_name["z"]["parent"] == "y"
    assert [s["name"] for s in data["snapshots"] if s["is_current"]] == ["y"]
    status, out, _ = cli(capsys, "list", "test", "--tree", "--json")
    assert json.loads(out)["roots"] == [
        {"name": "r1", "children": [{"name": "x", "children": []}]},
        {"name": "r2", "children": []},
        {"name": "r3", "children": [{"name": "y", "children": [{"name": "z", "children": []}]}]},
    ]


def test_info_current_parent_dumpxml(dom, capsys):
    define_snapshots(dom, SHAPES["chain"], current="b", descriptions={"b": "the b"})
    status, out, _ = cli(capsys, "info", "test", "b")
    assert status == 0
    assert out.startswith("Name:           b\nDomain:         test\nCurrent:        yes\n"
                          "State:          running\nLocation:       internal\n"
                          "Parent:         a\nChildren:       1\nDescendants:    1\n"
                          "Metadata:       yes\nCreated:        ")
    assert out.endswith("Description:    the b\n\n")
    data = json.loads(cli(capsys, "info", "test", "a", "--json")[1])
    assert (data["children"], data["descendants"], data["metadata"]) == (1, 2, True)
    assert cli(capsys, "current", "test") == (0, "b\n", "")
    assert json.loads(cli(capsys, "current", "test", "--json")[1])["name"] == "b"
    assert cli(capsys, "parent", "test", "c") == (0, "b\n", "")
    assert json.loads(cli(capsys, "parent", "test", "a", "--json")[1])["parent"] is None
    assert cli(capsys, "parent", "test", "a") == (1, "", "error: snapshot 'a' has no parent\n")
    xml = dom.get_snapshot_by_name("c").get_xml_description()
    assert cli(capsys, "dumpxml", "test", "c") == (0, xml if xml.endswith("\n") else xml + "\n", "")
    assert json.loads(cli(capsys, "dumpxml", "test", "c", "--json")[1])["xml"] == xml


def test_revert_and_delete(dom, capsys):
    define_snapshots(dom, SHAPES["branches"], current="c")
    assert cli(capsys, "revert", "test", "e", "--paused") == (0, "Domain snapshot e reverted\n", "")
    assert dom.state() == virtsnap.DomainState.PAUSED
    assert dom.current_snapshot().name == "e"
    assert cli(capsys, "revert", "test", "a", "--running")[0] == 0
    assert dom.state() == (virtsnap.DomainState.RUNNING if TEST_DRIVER_RESUMES_ON_REVERT
                           else virtsnap.DomainState.PAUSED)  # test_versions.py
    assert cli(capsys, "delete", "test", "b", "--children-only") == (
        0, "Domain snapshot b children deleted\n", "")
    assert cli(capsys, "delete", "test", "d", "--children") == (
        0, "Domain snapshot d deleted\n", "")
    assert cli(capsys, "-q", "delete", "test", "f") == (0, "", "")
    assert dom.snapshot_parents() == {"a": None, "b": "a"}


def test_export_and_import_commands(dom, tmp_path, capsys):
    define_snapshots(dom, SHAPES["branches"], current="e")
    before = dom.snapshot_tree().render()
    assert cli(capsys, "export", "test", str(tmp_path / "out")) == (
        0, f"Exported 6 snapshot(s) of domain test to {tmp_path / 'out'}\n", "")
    cli(capsys, "delete", "test", "a", "--children")
    assert dom.num_of_snapshots() == 0
    assert cli(capsys, "import", "test", str(tmp_path / "out")) == (
        0, "Imported 6 snapshot(s) into domain test\n", "")
    assert dom.snapshot_tree().render() == before and dom.current_snapshot().name == "e"
    (tmp_path / "out" / "index.json").write_text("{}")
    status, out, err = cli(capsys, "import", "test", str(tmp_path / "out"))
    assert (status, out) == (1, "") and err.startswith("error: ") and err.count("\n") == 1


def test_virsh_table_layout():
    assert virsh_table(["Name", "State"], [["a", "running"], ["longer\tname", "x"]]) == (
        " Name" + " " * 13 + "State\n"
        + "-" * 27 + "\n"
        " a" + " " * 16 + "running\n"
        " longer\\x09name   x\n")
    assert virsh_table(["N", "P"], [["日本", ""]], header=False) == " 日本   \n"


# ---------------------------------------------------------------- through the daemon


@pytest.fixture
def daemon_domain(libvirtd, tmp_path):
    """A running domain of its own on the daemon's test driver, removed afterwards.

    The open connection keeps the daemon's test driver state alive between
    the subprocesses of the test.
    """
    name = f"virtsnap-cli-{uuid.uuid4().hex[:8]}"
    with virtsnap.open(DAEMON_URI) as conn:
        root = ElementTree.fromstring(virsh("dumpxml", "test", uri=DAEMON_URI).stdout)
        root.find("name").text = name
        root.remove(root.find("uuid"))
        path = tmp_path / "domain.xml"
        path.write_text(ElementTree.tostring(root, encoding="unicode"))
        for args in (["define", str(path)], ["start", name]):
            result = virsh(*args, uri=DAEMON_URI)
            assert result.returncode == 0, result.stderr
        dom = conn.get_domain_by_name(name)
        try:
            yield dom
        finally:
            from conftest import delete_all_snapshots
            delete_all_snapshots(dom)
            virsh("destroy", name, uri=DAEMON_URI)
            virsh("undefine", name, uri=DAEMON_URI)


def daemon_run(*args):
    result = virtsnap_run(*args, uri=DAEMON_URI)
    assert result.returncode == 0, result.stderr
    return result.stdout


def build_with_cli(dom, marker):
    """a -> (b -> Child, Ünï), B is a second branch of a; plus a hostile name under b."""
    name = dom.name
    daemon_run("create", name, "--name", "a", "--description", "root")
    daemon_run("create", name, "--name", "b")
    daemon_run("create", name, "--name", "Child")
    daemon_run("revert", name, "b")
    daemon_run("create", name, "--name", "Ünï")
    daemon_run("revert", name, "b")
    daemon_run("create", name, "--name", HOSTILE.format(marker=marker))
    daemon_run("revert", name, "a")
    daemon_run("create", name, "--name", "B", "--description", HOSTILE.format(marker=marker))


@pytest.mark.libvirtd
def test_listings_match_virsh_through_the_daemon(daemon_domain, tmp_path):
    marker = tmp_path / "pwned"
    build_with_cli(daemon_domain, marker)
    name = daemon_domain.name
    for options in ([], ["--tree"], ["--parent"], ["--roots"], ["--leaves"], ["--no-leaves"],
                    ["--from", "b"], ["--from", "a", "--descendants"], ["--tree", "--from", "b"],
                    ["--topological"], ["--active"]):
        assert daemon_run("list", name, *options) == virsh(
            "snapshot-list", name, *options, uri=DAEMON_URI).stdout, options
        assert daemon_run("-q", "list", name, *options) == virsh(
            "snapshot-list", name, *options, uri=DAEMON_URI, quiet=True).stdout, options
    virsh_info = virsh("snapshot-info", name, "b", uri=DAEMON_URI).stdout
    assert daemon_run("info", name, "b").startswith(virsh_info.rstrip("\n") + "\n")
    assert daemon_run("current", name) == "B\n"
    assert daemon_run("parent", name, "Child") == "b\n"
    assert daemon_run("dumpxml", name, "Child") == virsh(
        "snapshot-dumpxml", name, "Child", uri=DAEMON_URI, quiet=True).stdout
    assert not marker.exists()


@pytest.mark.libvirtd
def test_hostile_names_round_trip_through_the_daemon(daemon_domain, tmp_path):
    marker = tmp_path / "pwned"
    hostile = HOSTILE.format(marker=marker)
    name = daemon_domain.name
    daemon_run("create", name, "--name", hostile, "--description", hostile)
    [snapshot] = json.loads(daemon_run("list", name, "--json"))["snapshots"]
    assert (snapshot["name"], snapshot["description"]) == (hostile, hostile)
    assert daemon_domain.get_snapshot_by_name(hostile).info().description == hostile
    assert not marker.exists()


@pytest.mark.libvirtd
def test_delete_revert_export_import_through_the_daemon(daemon_domain, tmp_path):
    build_with_cli(daemon_domain, tmp_path / "pwned")
    name = daemon_domain.name
    before = virsh("snapshot-list", name, "--tree", uri=DAEMON_URI).stdout
    daemon_run("export", name, str(tmp_path / "export"))
    daemon_run("delete", name, "a", "--children")
    assert virsh("snapshot-list", name, "--tree", uri=DAEMON_URI).stdout == "\n"
    daemon_run("import", name, str(tmp_path / "export"))
    # The same tree. Not the same text: siblings equal under strcasecmp ("B", "b")
    # come in libvirt's listing order, which redefinition may change.
    after = virsh("snapshot-list", name, "--tree", uri=DAEMON_URI).stdout
    assert parse_snapshot_tree(after) == parse_snapshot_tree(before)
    assert virsh("snapshot-current", name, "--name", uri=DAEMON_URI).stdout.strip() == "B"
    daemon_run("revert", name, "Child")
    assert daemon_run("current", name) == "Child\n"


# ---------------------------------------------------------------- a real QEMU guest


@pytest.fixture
def qemu_guest(libvirtd):
    """A tiny running TCG guest on qemu:///system (tests/qemu_guest.py), removed afterwards."""
    from qemu_guest import Guest, sweep_stale

    sweep_stale()
    guest = Guest("cli")
    try:
        guest.define()
        guest.start()
        yield guest
    finally:
        guest.remove()


@pytest.mark.libvirtd
def test_create_revert_delete_on_a_qemu_guest_with_progress(qemu_guest):
    """Memory snapshots of a running guest: the progress display polls real job stats."""
    from libvirtd_env import QEMU_URI

    name = qemu_guest.name
    base = [sys.executable, "-m", "virtsnap", "-c", QEMU_URI]
    status, stdout, shown = run_on_a_terminal(base + ["create", name, "--name", "one"],
                                              cli_env(COLUMNS="100"))
    assert (status, stdout) == (0, "Domain snapshot one created\n")
    assert "Creating snapshot" in shown
    for args in (["create", name, "--name", "two"], ["revert", name, "one"],
                 ["create", name, "--name", "three", "--description", "branch"]):
        result = virtsnap_run(*args, uri=QEMU_URI)
        assert result.returncode == 0, result.stderr
    for options in ([], ["--tree"], ["--parent"]):
        assert virtsnap_run("list", name, *options, uri=QEMU_URI).stdout == virsh(
            "snapshot-list", name, *options, uri=QEMU_URI).stdout
    info = json.loads(virtsnap_run("info", name, "three", "--json", uri=QEMU_URI).stdout)
    assert (info["parent"], info["is_current"], info["state"]) == ("one", True, "running")
    assert info["memory"]["mode"] == "internal" and info["disks"][0]["mode"] == "internal"
    status, stdout, shown = run_on_a_terminal(base + ["delete", name, "one", "--children"],
                                              cli_env(COLUMNS="100"))
    assert (status, stdout) == (0, "Domain snapshot one deleted\n")
    assert virsh("snapshot-list", name, "--name", uri=QEMU_URI).stdout.strip() == ""
    # External memory is saved by a migration job, whose byte counts feed the bar.
    external = Path(qemu_guest.dir) / "external.xml"
    external.write_text(
        f"<domainsnapshot><name>external</name>"
        f"<memory snapshot='external' file='{qemu_guest.path('memory.save')}'/><disks>"
        f"<disk name='vda' snapshot='external'><source file='{qemu_guest.path('vda.overlay')}'/>"
        f"</disk></disks></domainsnapshot>")
    status, stdout, shown = run_on_a_terminal(base + ["create", name, "--xml", str(external)],
                                              cli_env(COLUMNS="100"))
    assert (status, stdout) == (0, "Domain snapshot external created\n")
    assert "Creating snapshot" in shown
    info = json.loads(virtsnap_run("info", name, "external", "--json", uri=QEMU_URI).stdout)
    assert info["location"] == "external"
    assert info["memory"] == {"mode": "external", "file": qemu_guest.path("memory.save")}
    assert info["disks"][0]["source"] == qemu_guest.path("vda.overlay")
