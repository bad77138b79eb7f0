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
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

import virtsnap
from support.versions import TEST_DRIVER_RESUMES_ON_REVERT
from support.helpers import DAEMON_TEST_URI, QEMU_URI, TEST_URI, delete_all_snapshots, parse_snapshot_tree, virsh
from support.qemu_guest import guest_fixture
from support.snapshots import SHAPES, define_snapshots, needs_virsh, snapshot_state
from support.system import cli, run_on_a_terminal, wait_for
from virtsnap.cli import SUBCOMMANDS, main
from virtsnap.cli.output import escape, virsh_table
from virtsnap.progress import job_bytes, run_with_progress

SCRIPT = Path(sys.executable).parent / "virtsnap"
HOSTILE = "x</name>&\"' ]]><!-- $(touch {marker}); `touch {marker}` | rm -rf / \\x41"


def cli_env(**changes):
    env = {key: value for key, value in os.environ.items()
           if key not in ("LIBVIRT_DEFAULT_URI", "VIRTSNAP_DEBUG")}
    env.update(changes)
    return env


def virtsnap_run(*args, uri=TEST_URI, env=None, command=None):
    """Run ``python -m virtsnap`` (or ``command``) with ``args``."""
    argv = ((command or [sys.executable, "-m", "virtsnap"]) + (["-c", uri] if uri else [])
            + list(args))
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          env=env if env is not None else cli_env())


def assert_one_error_line(result, status=1, stdout="\n"):
    """One error line on stderr; on stdout virsh's empty line after a command that failed."""
    assert result.returncode == status, result
    assert result.stdout == stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---------------------------------------------------------------- basics


def test_help_lists_every_command():
    result = virtsnap_run("--help", uri=None)
    assert result.returncode == 0
    # Each command starts a line of its own (a bare substring would find "export"
    # in import's help text).
    listed = {line.split()[0] for line in result.stdout.splitlines()
              if line.startswith("  ") and line.strip()}
    for command in ("list", "info", "dumpxml", "current", "parent", "create", "revert",
                    "delete", "export", "import", "demo"):
        assert command in listed, command


def test_console_script_is_installed():
    result = virtsnap_run("--version", uri=None, command=[str(SCRIPT)])
    assert (result.returncode, result.stdout) == (0, f"virtsnap {virtsnap.__version__}\n")


@needs_virsh
def test_empty_listing_is_virshs(tmp_path):
    for command in ([str(SCRIPT)], None):
        result = virtsnap_run("list", "test", command=command)
        assert result.returncode == 0 and result.stderr == ""
        assert result.stdout == virsh("snapshot-list", "test", uri=TEST_URI, quiet=False)
        assert virtsnap_run("list", "test", "--tree").stdout == virsh(
            "snapshot-list", "test", "--tree", uri=TEST_URI, quiet=False)


def test_empty_listing_as_json():
    assert json.loads(virtsnap_run("list", "test", "--json").stdout) == {
        "domain": "test", "snapshots": []}
    assert json.loads(virtsnap_run("list", "test", "--tree", "--json").stdout) == {
        "domain": "test", "roots": []}


@pytest.mark.libvirtd
def test_default_uri_comes_from_the_environment(libvirtd):
    """An unknown scheme goes to the remote driver: only a daemon says "no driver for it"."""
    result = virtsnap_run("list", "test", "--json", uri=None,
                          env=cli_env(LIBVIRT_DEFAULT_URI=TEST_URI))
    assert result.returncode == 0 and json.loads(result.stdout)["domain"] == "test"
    bad = virtsnap_run("list", "test", uri=None, env=cli_env(LIBVIRT_DEFAULT_URI="bogus:///x"))
    # libvirt 7.0 tries a daemon socket and names it instead of the URI.
    expected = "bogus:///x" if virtsnap.libvirt_version() >= (9, 0, 0) else "Failed to connect socket"
    assert_cannot_connect(bad, expected)


def assert_cannot_connect(result, expected):
    """virsh's two lines when the connection fails, and no empty line (no command ran)."""
    assert (result.returncode, result.stdout) == (1, ""), result
    first, second = result.stderr.splitlines()
    assert first == "error: failed to connect to the hypervisor"
    assert second.startswith("error: ") and expected in second


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
    own = args[0] in ("export", "import")  # virtsnap's commands: no virsh empty line
    line = assert_one_error_line(virtsnap_run(*args), stdout="" if own else "\n")
    assert line == "error: failed to get domain 'nosuch'"


@pytest.mark.parametrize("args", [["info", "test", "nosuch"], ["dumpxml", "test", "nosuch"],
                                  ["parent", "test", "nosuch"], ["revert", "test", "nosuch"],
                                  ["delete", "test", "nosuch"],
                                  ["list", "test", "--from", "nosuch"]])
def test_missing_snapshot_is_one_error_line(args):
    line = assert_one_error_line(virtsnap_run(*args))
    assert "no domain snapshot with matching name 'nosuch'" in line


def test_control_characters_in_error_messages_are_escaped():
    """`virtsnap info test $'x\\e[2J'` cannot clear the screen through its error line."""
    for name in ("info", "snapshot-info"):
        line = assert_one_error_line(virtsnap_run(name, "test", "x\x1b[2J\x07"))
        assert line == ("error: Domain snapshot not found: no domain snapshot with matching "
                        "name 'x\\x1b[2J\\x07'")
    line = assert_one_error_line(virtsnap_run("info", "test", "a", "b\x1b[2J"), stdout="")
    assert line == "error: unexpected data 'b\\x1b[2J'"


def test_no_current_snapshot():
    assert "current snapshot" in assert_one_error_line(virtsnap_run("current", "test"))


def test_unreachable_uri():
    assert_cannot_connect(virtsnap_run("list", "test", uri="bogus:///nothing"), "bogus")


def test_unreadable_xml_file(tmp_path):
    line = assert_one_error_line(virtsnap_run("create", "test", "--xml", str(tmp_path / "no.xml")))
    assert line == f"error: Failed to open file '{tmp_path / 'no.xml'}': No such file or directory"


def test_libvirt_refusal_is_one_error_line():
    # The test driver has no --disk-only support: libvirt's own message comes through.
    line = assert_one_error_line(virtsnap_run("create", "test", "--disk-only"))
    assert "unsupported flags" in line


VIRSH_USAGE_CASES = [
    ["list"], ["frobnicate"], ["list", "test", "--bogus"], ["list", "test", "--tree", "--parent"],
    ["list", "test", "--tree", "--roots"], ["list", "test", "--tree", "--leaves"],
    ["list", "test", "--parent", "--roots"], ["list", "test", "--roots", "--from", "s"],
    ["list", "test", "--descendants"], ["revert", "test", "s", "--running", "--paused"],
    ["delete", "test", "s", "--children", "--children-only"], ["create", "test", "--name", ""],
    ["create", "test", "--diskspec", ",snapshot=no"], ["create", "test", "--memspec", "x=y"],
    ["list", "test", "--tree", "--name"], ["list", "test", "--from", "a", "--current"],
    ["list", "test", "--roots", "--current"], ["current", "test", "s", "--name"],
    ["info", "test"], ["info", "test", "s", "--current"], ["edit", "test", "--rename", "--clone"],
    ["create", "test", "--desc", "x"], ["create", "test", "--na", "n1"],
    ["list", "test", "--name", "--name"], ["info", "test", "a", "b"], ["list", "test", "--name=x"],
    ["create", "test", "--name"], ["dumpxml", "test"], ["info", "", "s"],
    ["info", "test", "--snapshotname", "s", "--snapshotname", "t"], ["info", "test", "--Current"],
]


@needs_virsh
@pytest.mark.parametrize("args", VIRSH_USAGE_CASES, ids=" ".join)
def test_usage_errors_are_virshs(args):
    """Each refused command line, by virtsnap's name and by virsh's: virsh's stdout, stderr
    and exit status, byte for byte."""
    virsh_name = {"create": "snapshot-create-as", "frobnicate": "frobnicate"}.get(
        args[0], f"snapshot-{args[0]}")
    expected = subprocess.run(["virsh", "-c", TEST_URI, virsh_name, *args[1:]],
                              capture_output=True, text=True, timeout=60)
    assert expected.returncode == 1 and expected.stderr.startswith("error: ")
    for name in (args[0], virsh_name):
        result = virtsnap_run(name, *args[1:])
        if VIRSH_BEFORE_9 and "failed to validate against schema" in expected.stderr:
            # 7.0's virsh writes a --diskspec's <disks> where 7.0's schema refuses it;
            # virtsnap's XML (9.0's) reaches libvirt's own check, which refuses it too
            assert (result.stdout, result.returncode) == (expected.stdout, 1)
            assert result.stderr.startswith("error: ")
            continue
        assert (result.stdout, result.stderr, result.returncode) == (
            expected.stdout, expected.stderr, 1)


@pytest.mark.parametrize("args, message", [
    (["create", "test", "--xml", "f.xml", "--name", "n"],
     "--xml cannot be combined with --name, --description, --memspec or --diskspec"),
    (["create", "test", "--redefine"], "--redefine and --current need --xml FILE"),
    (["snapshot-create-as", "test", "--xml", "f.xml"],
     "command 'snapshot-create-as' doesn't support option --xml"),
    (["snapshot-info", "test", "s", "--json"],
     "command 'snapshot-info' doesn't support option --json"),
    (["export", "test"], "command 'export' requires <directory> option"),
    (["prune", "test"], "command 'prune' requires --label option"),
    (["auto", "--config", "p.toml", "--workers", "0"],
     "Numeric value '0' for <workers> option is malformed or out of range"),
])
def test_usage_errors_of_virtsnaps_own(args, message):
    """virtsnap's own options are refused by virsh's names, and read by its grammar."""
    result = virtsnap_run(*args)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (1, f"error: {message}")
    assert result.stdout in ("", "\n")


# ---------------------------------------------------------------- one-process commands


def test_create_round_trips_hostile_names(tmp_path):
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


def demo_output(env=None):
    result = virtsnap_run("demo", uri=None, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_demo_walks_through_a_tree():
    out = demo_output()
    assert "$ virtsnap list test --tree\nbase\n  |\n  +- configured\n  +- experiment\n" in out
    assert "$ virtsnap current test --name\nconfigured\n" in out
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


@pytest.mark.parametrize("progress_test", ["test_progress_shows_on_a_terminal_only",
                                           "test_run_with_progress_spins_when_the_driver_has_no_job_stats"])
def test_progress_tests_pass_whatever_the_callers_terminal(tmp_path, progress_test):
    """conftest pins TERM and drops colour and size variables (rich reads them): each
    progress test passes in a pytest started from a hostile terminal (its JUnit report)."""
    import xml.etree.ElementTree as ElementTree

    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         f"{__file__}::{progress_test}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TERM="dumb", NO_COLOR="1", COLUMNS="20", FORCE_COLOR="0"))
    [case] = ElementTree.parse(junit).iter("testcase")
    assert case.get("name") == progress_test
    assert [child.tag for child in case if child.tag in ("failure", "error", "skipped")] == [], \
        result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


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


WIDTH_NAMES = {"a\u200bb": "Zeta", "e\ufe0fx": None, "\u0e01\u0e34\u0e19": "a",
               "\u1100\u1161\u11a8": "a", "\u00ad-soft": None, "z\u2028": "Zeta",
               "x\u0301y": "Zeta"}


@needs_virsh
@pytest.mark.parametrize("options", [[], ["--parent"], ["--roots"], ["--leaves"],
                                     ["--no-leaves"], ["--from", "a"],
                                     ["--from", "a", "--descendants"], ["--topological"],
                                     ["--tree"], ["--tree", "--from", "d"], ["--internal"],
                                     ["--name"], ["--name", "--topological"],
                                     ["--name", "--from", "a", "--descendants"]])
def test_quiet_listing_matches_virsh_q(dom, tmp_path, capsys, options):
    """Same XML redefined here and in virsh's own process: same times, same bytes.

    The names measure as virsh measures them (glib's zero-width and wide
    characters, libc's iswprint): a zero-width space, a variation selector,
    Thai and Hangul jamo combining marks, a soft hyphen, a line separator.
    """
    parents = dict(SHAPES["branches"], **{"Zeta": None, "é-x": "Zeta", "tab\tand 日本": "Zeta",
                                          "back\\x41slash": "a"}, **WIDTH_NAMES)
    documents = define_snapshots(dom, parents)
    commands = []
    for number, xml in enumerate(documents.values()):
        path = tmp_path / f"{number}.xml"
        path.write_text(xml, encoding="utf-8")
        commands.append(f"snapshot-create test {path} --redefine")
    commands.append("snapshot-list test " + " ".join(options))
    expected = virsh("; ".join(commands), uri=TEST_URI)
    if "--tree" in options:  # virsh draws names raw; virtsnap escapes them as in its table
        for name in parents:
            expected = expected.replace(name + "\n", escape(name) + "\n")
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
                          "Metadata:       yes\n\n")  # virsh 9.0's lines, and nothing more
    details = cli(capsys, "info", "test", "b", "--details")[1]
    assert details.startswith(out[:-1] + "Created:        ")
    assert details.endswith("Description:    the b\n\n")
    data = json.loads(cli(capsys, "info", "test", "a", "--json")[1])
    assert (data["children"], data["descendants"], data["metadata"]) == (1, 2, True)
    assert cli(capsys, "current", "test", "--name") == (0, "b\n", "")
    current_xml = dom.get_snapshot_by_name("b").get_xml_description()
    assert cli(capsys, "current", "test") == (0, current_xml + "\n", "")  # virsh's blank line
    assert json.loads(cli(capsys, "current", "test", "--json")[1])["name"] == "b"
    assert cli(capsys, "parent", "test", "c") == (0, "b\n", "")
    assert json.loads(cli(capsys, "parent", "test", "a", "--json")[1])["parent"] is None
    assert cli(capsys, "parent", "test", "a") == (1, "\n", "error: snapshot 'a' has no parent\n")
    xml = dom.get_snapshot_by_name("c").get_xml_description()
    assert cli(capsys, "dumpxml", "test", "c") == (0, xml + "\n", "")
    assert cli(capsys, "-q", "dumpxml", "test", "c") == (0, xml, "")
    assert json.loads(cli(capsys, "dumpxml", "test", "c", "--json")[1])["xml"] == xml


def test_revert_and_delete(dom, capsys):
    define_snapshots(dom, SHAPES["branches"], current="c")
    assert cli(capsys, "revert", "test", "e", "--paused") == (0, "Domain snapshot e reverted\n\n", "")
    assert dom.state() == virtsnap.DomainState.PAUSED
    assert dom.current_snapshot().name == "e"
    assert cli(capsys, "revert", "test", "a", "--running")[0] == 0
    assert dom.state() == (virtsnap.DomainState.RUNNING if TEST_DRIVER_RESUMES_ON_REVERT
                           else virtsnap.DomainState.PAUSED)  # test_versions.py
    assert cli(capsys, "delete", "test", "b", "--children-only") == (
        0, "Domain snapshot b children deleted\n\n", "")
    assert cli(capsys, "delete", "test", "d", "--children") == (
        0, "Domain snapshot d deleted\n\n", "")
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
    with virtsnap.open(DAEMON_TEST_URI) as conn:
        root = ElementTree.fromstring(virsh("dumpxml", "test", uri=DAEMON_TEST_URI))
        root.find("name").text = name
        root.remove(root.find("uuid"))
        path = tmp_path / "domain.xml"
        path.write_text(ElementTree.tostring(root, encoding="unicode"))
        for args in (["define", str(path)], ["start", name]):
            virsh(*args, uri=DAEMON_TEST_URI)
        dom = conn.get_domain_by_name(name)
        try:
            yield dom
        finally:
            delete_all_snapshots(dom)
            virsh("destroy", name, uri=DAEMON_TEST_URI)
            virsh("undefine", name, uri=DAEMON_TEST_URI)


def daemon_run(*args):
    result = virtsnap_run(*args, uri=DAEMON_TEST_URI)
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
        for quiet in (False, True):
            expected = virsh("snapshot-list", name, *options, uri=DAEMON_TEST_URI, quiet=quiet)
            if "--tree" in options:  # virsh draws names raw, virtsnap escapes them
                expected = expected.replace(HOSTILE.format(marker=marker),
                                            escape(HOSTILE.format(marker=marker)))
            assert daemon_run(*(["-q"] if quiet else []), "list", name, *options) == expected
    virsh_info = virsh("snapshot-info", name, "b", uri=DAEMON_TEST_URI, quiet=False)
    assert daemon_run("info", name, "b") == virsh_info
    assert daemon_run("current", name, "--name") == "B\n"
    assert daemon_run("parent", name, "Child") == "b\n"
    assert daemon_run("dumpxml", name, "Child") == virsh(
        "snapshot-dumpxml", name, "Child", uri=DAEMON_TEST_URI, quiet=False)
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
    before = virsh("snapshot-list", name, "--tree", uri=DAEMON_TEST_URI, quiet=False)
    daemon_run("export", name, str(tmp_path / "export"))
    daemon_run("delete", name, "a", "--children")
    assert virsh("snapshot-list", name, "--tree", uri=DAEMON_TEST_URI, quiet=False) == "\n"
    daemon_run("import", name, str(tmp_path / "export"))
    # The same tree. Not the same text: siblings equal under strcasecmp ("B", "b")
    # come in libvirt's listing order, which redefinition may change.
    after = virsh("snapshot-list", name, "--tree", uri=DAEMON_TEST_URI, quiet=False)
    assert parse_snapshot_tree(after) == parse_snapshot_tree(before)
    assert virsh("snapshot-current", name, "--name", uri=DAEMON_TEST_URI).strip() == "B"
    daemon_run("revert", name, "Child")
    assert daemon_run("current", name, "--name") == "Child\n"


# ---------------------------------------------------------------- a real QEMU guest


# A tiny running TCG guest on qemu:///system (tests/support/qemu_guest.py), removed afterwards.
qemu_guest = guest_fixture("cli", running=True, scope="function")


@pytest.mark.libvirtd
def test_create_revert_delete_on_a_qemu_guest_with_progress(qemu_guest):
    """Memory snapshots of a running guest: the progress display polls real job stats."""
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
            "snapshot-list", name, *options, uri=QEMU_URI, quiet=False)
    info = json.loads(virtsnap_run("info", name, "three", "--json", uri=QEMU_URI).stdout)
    assert (info["parent"], info["is_current"], info["state"]) == ("one", True, "running")
    assert info["memory"]["mode"] == "internal" and info["disks"][0]["mode"] == "internal"
    status, stdout, shown = run_on_a_terminal(base + ["delete", name, "one", "--children"],
                                              cli_env(COLUMNS="100"))
    assert (status, stdout) == (0, "Domain snapshot one deleted\n\n")
    assert virsh("snapshot-list", name, "--name", uri=QEMU_URI).strip() == ""
    # External memory is saved by a migration job, whose byte counts feed the bar.
    external = Path(qemu_guest.dir) / "external.xml"
    external.write_text(
        f"<domainsnapshot><name>external</name>"
        f"<memory snapshot='external' file='{qemu_guest.path('memory.save')}'/><disks>"
        f"<disk name='vda' snapshot='external'><source file='{qemu_guest.path('vda.overlay')}'/>"
        f"</disk></disks></domainsnapshot>")
    status, stdout, shown = run_on_a_terminal(base + ["create", name, "--xml", str(external)],
                                              cli_env(COLUMNS="100"))
    assert (status, stdout) == (0, f"Domain snapshot external created from '{external}'\n")
    assert "Creating snapshot" in shown
    info = json.loads(virtsnap_run("info", name, "external", "--json", uri=QEMU_URI).stdout)
    assert info["location"] == "external"
    assert info["memory"] == {"mode": "external", "file": qemu_guest.path("memory.save")}
    assert info["disks"][0]["source"] == qemu_guest.path("vda.overlay")


# ---------------------------------------------------------------- parity with virsh, option by option


@pytest.fixture(scope="module")
def parity(libvirtd, tmp_path_factory):
    """A private daemon's domain "test" (running, ID 1), reset to one snapshot tree per case.

    The held connection keeps the daemon's test driver state between the
    virsh and virtsnap subprocesses.
    """
    from support.private_daemon import PrivateDaemon

    daemon = PrivateDaemon(tmp_path_factory.mktemp("parity-daemon")).start()
    try:
        with virtsnap.open(daemon.uri()) as conn:
            yield daemon.uri(), conn.get_domain_by_name("test")
    finally:
        daemon.stop()


PARITY_TREE = {"a": None, "b": "a", "c": "b", "d": "a"}


def reset_parity_tree(dom):
    delete_all_snapshots(dom)
    domain = dom.to_libvirt()
    if dom.state() == virtsnap.DomainState.PAUSED:
        domain.resume()
    elif dom.state() == virtsnap.DomainState.SHUTOFF:
        domain.create()
    define_snapshots(dom, PARITY_TREE, current="c", descriptions={"b": "first"})


# virsh before 9.0 (7.0 in the matrix; the change lies between the two) differs in two
# of the cases below, where virtsnap follows 9.0 and 11.3.
VIRSH_BEFORE_9 = virtsnap.libvirt_version() < (9, 0, 0)

PARITY_CASES = [
    # (virsh command and arguments, virtsnap arguments); DOM stands for the domain
    (["snapshot-list", "DOM", "--name"], ["list", "DOM", "--name"]),
    (["snapshot-list", "DOM", "--current"], ["list", "DOM", "--current"]),
    (["snapshot-list", "DOM", "--current", "--name"], ["list", "DOM", "--current", "--name"]),
    (["snapshot-list", "DOM", "--from", "a", "--descendants", "--name"],
     ["list", "DOM", "--from", "a", "--descendants", "--name"]),
    (["snapshot-list", "DOM", "--tree", "--current"], ["list", "DOM", "--tree", "--current"]),
    (["snapshot-current", "DOM"], ["current", "DOM"]),
    (["snapshot-current", "DOM", "--name"], ["current", "DOM", "--name"]),
    (["snapshot-current", "DOM", "--security-info"], ["current", "DOM", "--security-info"]),
    (["snapshot-current", "DOM", "d"], ["current", "DOM", "d"]),
    (["snapshot-parent", "DOM", "--current"], ["parent", "DOM", "--current"]),
    (["snapshot-revert", "DOM", "--current", "--paused"], ["revert", "DOM", "--current", "--paused"]),
    (["snapshot-revert", "DOM", "d", "--reset-nvram"], ["revert", "DOM", "d", "--reset-nvram"]),
    (["snapshot-delete", "DOM", "--current"], ["delete", "DOM", "--current"]),
    (["snapshot-delete", "DOM", "--current", "--metadata"],
     ["delete", "DOM", "--current", "--metadata"]),
    (["snapshot-create-as", "DOM", "--name", "new", "--description", "n <&>", "--validate"],
     ["create", "DOM", "--name", "new", "--description", "n <&>", "--validate"]),
    (["snapshot-create", "DOM", "--xmlfile", "XML", "--redefine", "--current"],
     ["create", "DOM", "--xml", "XML", "--redefine", "--current"]),
    (["snapshot-create", "DOM", "--xmlfile", "XML", "--redefine"],
     ["create", "DOM", "--xml", "XML", "--redefine"]),
    (["snapshot-edit", "DOM", "b"], ["edit", "DOM", "b"]),
    (["snapshot-edit", "DOM", "b", "--current"], ["edit", "DOM", "b", "--current"]),
    (["snapshot-edit", "DOM", "--current"], ["edit", "DOM", "--current"]),
]


@pytest.mark.libvirtd
@pytest.mark.parametrize("domain_as", ["name", "id", "uuid"])
def test_domain_by_name_id_or_uuid(parity, domain_as):
    uri, dom = parity
    reset_parity_tree(dom)
    label = {"name": dom.name, "id": str(dom.id), "uuid": dom.uuid}[domain_as]
    for command, options in (("snapshot-list", ["--name"]), ("snapshot-info", ["b"])):
        expected = virsh(command, label, *options, uri=uri, quiet=False)
        result = virtsnap_run(command.split("-")[1], label, *options, uri=uri)
        assert result.returncode == 0, result
        assert result.stdout.startswith(expected.rstrip("\n"))


@pytest.mark.libvirtd
@pytest.mark.parametrize("virsh_args, virtsnap_args", PARITY_CASES,
                         ids=[" ".join(case[1][2:]) or case[1][0] for case in PARITY_CASES])
def test_option_matches_virsh(parity, tmp_path, virsh_args, virtsnap_args):
    """The same command through virsh and virtsnap from the same snapshot tree:
    the same output, byte for byte, and the same snapshots afterwards."""
    uri, dom = parity
    xml_file = tmp_path / "redefine.xml"
    env = {key: value for key, value in cli_env(EDITOR="sed -i s/first/edited/").items()
           if key != "VISUAL"}
    results = []
    for argv in (virsh_args, virtsnap_args):
        reset_parity_tree(dom)
        xml_file.write_text(dom.get_snapshot_by_name("d").get_xml_description().replace(
            "</domainsnapshot>", "<description>redefined</description></domainsnapshot>"
            if "<description>" not in dom.get_snapshot_by_name("d").get_xml_description()
            else "</domainsnapshot>"))
        argv = [{"DOM": dom.name, "XML": str(xml_file)}.get(word, word) for word in argv]
        if argv[0].startswith("snapshot-"):
            result = subprocess.run(["virsh", "-c", uri] + argv, capture_output=True, text=True,
                                    timeout=60, env=env)
        else:
            result = virtsnap_run(*argv, uri=uri, env=env)
        results.append((result, snapshot_state(dom, ignore_times="create-as" in virsh_args[0])))
    (by_virsh, virsh_state), (by_virtsnap, virtsnap_state) = results
    if VIRSH_BEFORE_9 and virsh_args[0] == "snapshot-revert" and by_virsh.returncode == 0:
        # 7.0's virsh prints no "reverted" line; virtsnap prints what 9.0's does.
        assert (by_virsh.stdout, virtsnap_state) == ("\n", virsh_state)
        assert by_virtsnap.stdout == f"Domain snapshot {virtsnap_state[1]} reverted\n\n"
        return
    if VIRSH_BEFORE_9 and "--validate" in virsh_args:
        # 7.0's virsh lacks the option; virtsnap passes CREATE_VALIDATE, which 7.0 has.
        assert "doesn't support option --validate" in by_virsh.stderr
        assert by_virtsnap.returncode == 0 and "new" in virtsnap_state[0]
        return
    assert by_virtsnap.returncode == (0 if by_virsh.returncode == 0 else 1), (
        by_virsh.returncode, by_virsh.stdout, by_virsh.stderr, by_virtsnap.stderr)
    assert virtsnap_state == virsh_state
    if by_virsh.returncode == 0:
        assert by_virtsnap.stdout == by_virsh.stdout
        assert by_virtsnap.stderr == ""


@pytest.mark.parametrize("options", [
    ["--name", "n", "--memspec", "/var/m.save,snapshot=external",
     "--diskspec", "vda,snapshot=external,driver=qcow2,file=/var/a,,b.qcow2",
     "--diskspec", "vdb,snapshot=no", "--diskspec", "sdc,stype=block,file=/dev/x"],
    ["--description", "<&'\">", "--memspec", "file=/m,snapshot=internal"],
    ["--diskspec", "vda"],
])
@needs_virsh
def test_create_specs_build_virshs_xml(options):
    expected = virsh("snapshot-create-as", "test", "--print-xml", *options, uri=TEST_URI,
                     quiet=False)
    result = virtsnap_run("create", "test", "--print-xml", *options)
    assert result.returncode == 0, result
    assert result.stdout == expected


def test_edit_runs_the_editor_without_a_shell(tmp_path, capsys):
    """$EDITOR is split into words, never handed to sh: a ';' is no command separator."""
    marker = tmp_path / "marker"
    with virtsnap.open(TEST_URI) as conn:
        conn.get_domain_by_name("test").create_snapshot(name="s")
        status = main(["-c", TEST_URI, "create", "test", "--name", "s2"])  # another process
        assert status == 0
    result = virtsnap_run("edit", "test", "--current",
                          env={key: value for key, value in cli_env(
                              EDITOR=f"true; touch {marker}").items() if key != "VISUAL"})
    assert result.returncode == 1
    assert not marker.exists()


# ---------------------------------------------------------------- JSON schema, escapes, failures


def test_json_output_validates_against_the_schema(dom, capsys):
    """Real --json output of every command, validated with jsonschema against the one schema."""
    import jsonschema

    from virtsnap.cli.schema import COMMAND_DOCUMENTS, JSON_SCHEMA

    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    status, printed, _ = cli(capsys, "json-schema")
    assert status == 0 and json.loads(printed) == JSON_SCHEMA
    define_snapshots(dom, SHAPES["chain"], current="b", descriptions={"b": "the b"})
    documents = {"list": ["list", "test", "--json"], "list --tree": ["list", "test", "--tree", "--json"],
                 "info": ["info", "test", "b", "--json"], "current": ["current", "test", "--json"],
                 "parent": ["parent", "test", "b", "--json"],
                 "dumpxml": ["dumpxml", "test", "b", "--json"],
                 "create": ["create", "test", "--name", "new", "--json"],
                 "du": ["du", "test", "--json"],
                 "group create": ["group", "create", "--name", "g", "--json", "test"],
                 "group list": ["group", "list", "--json", "test"]}
    assert set(documents) == set(COMMAND_DOCUMENTS)
    for command, argv in documents.items():
        status, printed, err = cli(capsys, *argv)
        assert (status, err) == (0, "")
        schema = {**JSON_SCHEMA, "$ref": f"#/$defs/{COMMAND_DOCUMENTS[command]}"}
        jsonschema.validate(json.loads(printed), schema)
        with pytest.raises(jsonschema.ValidationError):  # the schema does constrain
            jsonschema.validate({"domain": 1}, schema)


def test_control_characters_are_escaped_everywhere(dom, capsys):
    """A newline in a name cannot draw a fake line in tree, info, current or parent."""
    # XML allows no ESC; C1 controls such as CSI (U+009B) and DEL are allowed, and
    # virsh's table shows each byte of an unprintable character as \\xff.
    child = "c\u009b31m\x7f"
    define_snapshots(dom, {"p\nfake": None, child: "p\nfake"}, current=child,
                     descriptions={child: "d\tx"})
    shown = "c\\xff\\xff31m\\x7f"
    assert cli(capsys, "list", "test", "--tree")[1] == f"p\\x0afake\n  |\n  +- {shown}\n    \n\n"
    info = cli(capsys, "info", "test", child, "--details")[1]
    assert f"Name:           {shown}\n" in info and "Parent:         p\\x0afake\n" in info
    assert "Description:    d\\x09x\n" in info and "\u009b" not in info
    assert cli(capsys, "current", "test", "--name")[1] == f"{shown}\n"
    assert cli(capsys, "parent", "test", child)[1] == "p\\x0afake\n"
    # --name keeps virsh's raw bytes when piped (scripts read it)
    assert cli(capsys, "list", "test", "--name")[1] == f"{child}\np\nfake\n\n"


@pytest.mark.libvirtd
def test_rich_table_on_a_terminal_escapes_names(private_daemon, tmp_path):
    """stdout on a pseudo-terminal: rich draws the table, with names escaped."""
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        define_snapshots(conn.get_domain_by_name("test"), {"a\nb": None, "plain": None})
        controller, terminal = pty.openpty()
        process = subprocess.Popen([sys.executable, "-m", "virtsnap", "-c", uri, "list", "test"],
                                   stdout=terminal, stderr=subprocess.PIPE,
                                   env=cli_env(COLUMNS="120", TERM="xterm"))
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(timeout=60) == 0, process.stderr.read()
        os.close(controller)
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.decode())
    assert "─" in text or "━" in text  # rich's rule under the header, not virsh's dashes
    assert "---" not in text
    rows = [line for line in text.splitlines() if "running" in line]
    assert len(rows) == 2 and any("a\\x0ab" in row for row in rows)


def test_demo_runs_where_c_points_and_ignores_the_environment(tmp_path):
    custom = tmp_path / "driver.xml"
    custom.write_text("<node><domain type='test'><name>test</name><memory>65536</memory>"
                      "<os><type>hvm</type></os></domain></node>")
    result = virtsnap_run("demo", uri=f"test://{custom}",
                          env=cli_env(LIBVIRT_DEFAULT_URI="qemu:///system"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"virtsnap demo on test://{custom}:")
    assert "experiment-2" in result.stdout
    plain = virtsnap_run("demo", uri=None, env=cli_env(LIBVIRT_DEFAULT_URI="qemu:///system"))
    assert plain.returncode == 0 and plain.stdout.startswith("virtsnap demo on test:///default:")
    refused = virtsnap_run("demo", uri="qemu:///system")
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1, "", "error: demo runs only on libvirt's test driver (test:///...), "
        "not on qemu:///system\n")


def test_closed_stdout_is_one_error_line():
    argv = [sys.executable, "-m", "virtsnap", "-c", TEST_URI, "list", "test"]
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), timeout=60, preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (
        1, "error: cannot write to stdout: Bad file descriptor\n")
    version = subprocess.run([sys.executable, "-m", "virtsnap", "--version"],
                             stderr=subprocess.PIPE, text=True, env=cli_env(), timeout=60,
                             preexec_fn=lambda: os.close(1))
    assert version.returncode == 1 and "Traceback" not in version.stderr


def test_broken_pipe_exits_quietly():
    """`virtsnap demo | head -1`: no traceback, no error line."""
    process = subprocess.Popen([sys.executable, "-m", "virtsnap", "demo"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=cli_env())
    process.stdout.readline()
    process.stdout.close()
    assert process.wait(timeout=60) in (0, 1)
    assert process.stderr.read() == b""


CTRL_C_DURING_IMPORT = """
import os, signal, sys

class Interrupter:
    def find_spec(self, name, path=None, target=None):
        if name == sys.argv[1]:
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupter())
from virtsnap.cli import main
sys.exit(main(["-c", "test:///default"] + sys.argv[2:]))
"""


@pytest.mark.parametrize("module, argv", [
    ("virtsnap.cli.grammar", ["list", "--topological", "test"]),
    ("virtsnap._snapshot", ["list", "test"]),
    ("virtsnap.cli.commands", ["list", "test"]),
    ("virtsnap.cli.output", ["list", "test"]),
])
def test_ctrl_c_at_start_up_prints_no_traceback(module, argv):
    """SIGINT while the command line imports what it needs: exit 130, nothing on stderr."""
    result = subprocess.run([sys.executable, "-c", CTRL_C_DURING_IMPORT, module, *argv],
                            capture_output=True, text=True, env=cli_env(), timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")


def test_bugs_are_internal_errors_with_a_traceback_under_debug(tmp_path):
    """A bug (here a ValueError raised where none is expected) is not an ordinary error line."""
    plugin = tmp_path / "buggy.py"
    plugin.write_text("def add(parser):\n"
                      "    parser.set_defaults(run=run, needs_connection=False)\n"
                      "def run(args, conn, out):\n"
                      "    raise ValueError('a bug')\n")
    code = ("import sys, virtsnap.cli as cli; cli.register('buggy', 'h', 'buggy:add'); "
            "sys.exit(cli.main(['buggy']))")
    run = partial_run = lambda **env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=cli_env(PYTHONPATH=str(tmp_path), **env))
    result = run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: internal error: ValueError: a bug")
    debug = partial_run(VIRTSNAP_DEBUG="1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ValueError: a bug" in debug.stderr


def test_only_the_used_subcommand_is_built():
    code = ("import sys, virtsnap.cli as cli; cli.main(['-c', 'test:///default', 'list', 'test',"
            " '-q']); print(sorted(m for m in sys.modules if m.startswith('virtsnap')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    version = subprocess.run([sys.executable, "-c", "import sys, virtsnap.cli as cli; "
                              "cli.main(['--version']); print(sorted(sys.modules))"],
                             capture_output=True, text=True, env=cli_env(), timeout=60)
    assert "virtsnap._snapshot" not in version.stdout and "argparse" not in version.stdout
    loaded = set(eval(result.stdout.splitlines()[-1]))  # noqa: S307 - our own repr of a list
    assert {"virtsnap.cli.grammar", "virtsnap.cli.commands"} <= loaded
    assert not loaded & {"virtsnap.cli.auto", "virtsnap.policy", "virtsnap.cli.schema"}


def test_ctrl_c_during_a_call_tries_abort_job_and_says_what_happened(dom):
    """SIGINT while a create runs: abort_job() is tried, the call's outcome is awaited and
    told, and the command exits 130. The test driver has no jobs, so libvirt refuses the
    abort and the snapshot is made; a QEMU guest's memory save ends too fast here to be
    interrupted reliably."""
    import signal
    import threading

    from virtsnap.cli import Interrupted
    from virtsnap.cli.commands import run_job
    from virtsnap.cli.output import Output

    def main_thread_runs(function):
        frame = sys._current_frames().get(threading.main_thread().ident)
        while frame is not None and frame.f_code.co_name != function:
            frame = frame.f_back
        return frame is not None

    # The job interrupts its caller once the caller waits for it inside run_job's
    # Ctrl-C handling (run_with_progress), then goes on once the caller handles the
    # interrupt (_abort, which then waits for the job's outcome).
    def interrupt_the_caller():
        wait_for(lambda: main_thread_runs("run_with_progress"), "run_job to wait", 60)
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: main_thread_runs("_abort"), "the interrupt to be handled", 60)

    def slow_create():
        interrupt_the_caller()
        return dom.create_snapshot(name="made")

    with pytest.raises(Interrupted) as caught:
        run_job(slow_create, dom, "Creating snapshot", Output(quiet=True))
    message = str(caught.value)
    assert message.startswith("interrupted: no job could be aborted (")
    assert message.endswith("; the job had already finished and succeeded")
    assert dom.list_snapshot_names() == ["made"]

    def failing_create():
        interrupt_the_caller()
        return dom.create_snapshot("<domainsnapshot><name>made</name></domainsnapshot>")

    with pytest.raises(Interrupted) as caught:
        run_job(failing_create, dom, "Creating snapshot", Output(quiet=True))
    assert "; the job stopped: " in str(caught.value)


def test_xpath_without_lxml_says_what_to_install():
    """A core-only install (no cli extra): --xpath fails with one clear line."""
    program = ("import sys; sys.modules['lxml'] = None; from virtsnap.cli import main; "
               "sys.exit(main(sys.argv[1:]))")
    result = subprocess.run(
        [sys.executable, "-c", program, "-c", TEST_URI,
         "snapshot-create-as test s ; snapshot-dumpxml test s --xpath //name"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "error: --xpath needs lxml: pip install 'virtsnap[cli]'\n"
