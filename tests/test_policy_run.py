"""``virtsnap auto`` and ``virtsnap prune`` against libvirt's test driver.

In-process (test:///default, the CLI's ``main`` called in this process, so
it shares the driver's state with the test's connection) and through
private daemons (the real ``virtsnap`` program as a subprocess, while the
test holds a connection so that the daemon's test driver keeps its state).
Histories are built with CREATE_REDEFINE and chosen creationTime values;
what a run leaves is compared with the second formulation of the rules in
test_policy_plan.
"""

import configparser
import contextlib
import io
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

import virtsnap
from support.helpers import delete_all_snapshots
from support.private_daemon import PrivateDaemon, define_domain
from test_cli import run_on_a_terminal
from test_policy_plan import reference_retain
from virtsnap.cli import build_parser, main
from virtsnap.policy import OwnedSnapshot, Retention, load_config, owned_time
from virtsnap.cli.auto import run_auto
from virtsnap.policy.run import REPORT_SCHEMA, DomainLock

UTC = timezone.utc
README = Path(__file__).resolve().parent.parent / "README.md"
RETENTION = Retention(keep_last=3, keep_hourly=5, keep_daily=7, keep_weekly=4, keep_monthly=3)
ZONE = "Europe/Berlin"


@pytest.fixture(autouse=True)
def lock_dir(tmp_path, monkeypatch):
    path = tmp_path / "locks"
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(path))
    monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    return path


def run_cli(uri, *args):
    """(status, stdout, stderr) of ``virtsnap -c uri args``.

    test:///default runs in this process (its state is per process);
    any other URI runs the installed program as a subprocess.
    """
    argv = ["-c", uri, *args] if uri else list(args)
    if uri == "test:///default":
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
        return status, out.getvalue(), err.getvalue()
    result = subprocess.run([sys.executable, "-m", "virtsnap", *argv], capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


def auto_json(uri, config, *args):
    status, out, err = run_cli(uri, "auto", "--config", str(config), "--json", *args)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return status, report, err


def write_config(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(textwrap.dedent(text))
    return path


def snapshot_template(dom):
    template = dom.create_snapshot(name="virtsnap-template")
    xml = template.get_xml_description()
    template.delete()
    return xml


def redefine(dom, entries, current=None, template=None):
    """Redefine ``entries`` ((name, unix time, description)) as one chain, oldest first."""
    template = template or snapshot_template(dom)
    parent = None
    for name, when, description in sorted(entries, key=lambda entry: entry[1]):
        root = ElementTree.fromstring(template)
        root.find("name").text = name
        root.find("creationTime").text = str(int(when))
        for old in root.findall("parent") + root.findall("description"):
            root.remove(old)
        if parent is not None:
            ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
        ElementTree.SubElement(root, "description").text = description
        flags = virtsnap.CreateFlags.REDEFINE
        if name == current:
            flags |= virtsnap.CreateFlags.CURRENT
        dom.create_snapshot(ElementTree.tostring(root, encoding="unicode"), flags)
        parent = name


def history(seed, now, owned=120, days=150):
    """Owned "hourly" snapshots at random times over ``days`` before ``now`` (the
    newest at least 2 hours old), interleaved with manual ones, another label's,
    and names that only look owned. Returns (entries, owned {name: time})."""
    rng = random.Random(seed)
    entries, owned_times = [], {}
    for _ in range(owned):
        when = now - rng.randint(2 * 3600, days * 86400)
        name = "auto-hourly-" + datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")
        if name in owned_times:
            continue
        # The name's time and creationTime differ: retention must read creationTime.
        created = when + rng.randint(0, 1800)
        owned_times[name] = created
        entries.append((name, created, "hourly"))
    for number in range(12):
        entries.append((f"manual-{number}", now - rng.randint(3600, days * 86400), "by hand"))
    for number in range(10):
        when = now - rng.randint(3600, days * 86400)
        entries.append(("auto-daily-" + datetime.fromtimestamp(when, UTC)
                        .strftime("%Y%m%dT%H%M%SZ"), when, "another label"))
    for name in ("auto-hourly-latest", "auto-hourly-20261301T000000Z",
                 "Auto-hourly-20260101T000000Z"):
        entries.append((name, now - rng.randint(3600, days * 86400), "looks owned, is not"))
    # owned by its name although its XML says otherwise
    name = "auto-hourly-20200101T000000Z"
    owned_times[name] = now - 3 * 86400
    entries.append((name, owned_times[name], "manual, says the description"))
    return entries, owned_times


def expected_owned(owned_times, new_name, new_time, current):
    snaps = [OwnedSnapshot(name, datetime.fromtimestamp(when, UTC), name == current)
             for name, when in owned_times.items()]
    if new_name is not None:
        snaps = [OwnedSnapshot(s.name, s.time) for s in snaps]
        snaps.append(OwnedSnapshot(new_name, new_time, True))
    return reference_retain(snaps, RETENTION, ZoneInfo(ZONE))


POLICY = f"""\
    [defaults]
    timezone = "{ZONE}"

    [[policy]]
    label = "hourly"
    uris = ["{{uri}}"]
    domains = ["{{domain}}"]
    interval = "1h"
    keep_last = {RETENTION.keep_last}
    keep_hourly = {RETENTION.keep_hourly}
    keep_daily = {RETENTION.keep_daily}
    keep_weekly = {RETENTION.keep_weekly}
    keep_monthly = {RETENTION.keep_monthly}
"""


def creation_time(dom, name):
    return dom.get_snapshot_by_name(name).info().creation_time


@pytest.mark.parametrize("current", ["manual-3", "owned-old"])
def test_one_run_leaves_what_the_rules_keep_and_a_second_changes_nothing(
        uri, tmp_path, current):
    with virtsnap.open(uri) as conn:  # held: the daemon's test driver keeps its state
        dom = conn.get_domain_by_name("test")
        delete_all_snapshots(dom)
        now = int(time.time())
        entries, owned_times = history(7, now)
        manual_current = current if current != "owned-old" else min(owned_times,
                                                                    key=owned_times.get)
        redefine(dom, entries, current=manual_current)
        before = set(dom.list_snapshot_names())
        config = write_config(tmp_path, POLICY.format(uri=uri, domain="test"))

        status, report, err = auto_json(uri, config)
        assert (status, err) == (0, "")
        [host] = report["hosts"]
        [domain] = host["domains"]
        [result] = domain["policies"]
        new = result["created"]
        assert new is not None and owned_time("hourly", new) is not None
        assert abs(owned_time("hourly", new).timestamp() - time.time()) < 120
        after = set(dom.list_snapshot_names())
        untouched = {name for name, _, _ in entries if name not in owned_times}
        assert untouched <= after  # manual, other label's, look-alikes
        keep = expected_owned(owned_times, new, creation_time(dom, new), manual_current)
        assert after - untouched == keep | {new}
        assert set(result["deleted"]) == before - after
        assert len(result["deleted"]) > 50  # the history really was pruned
        assert dom.current_snapshot().name == new
        if current == "owned-old":  # current until the new one was made: no protection left
            assert manual_current not in after

        status, report, err = auto_json(uri, config)
        assert (status, err) == (0, "")
        [result] = report["hosts"][0]["domains"][0]["policies"]
        assert (result["due"], result["created"], result["deleted"]) == (False, None, [])
        assert set(dom.list_snapshot_names()) == after


def test_dry_run_changes_nothing_and_its_plan_is_what_a_run_does(conn, dom, tmp_path):
    now = int(time.time())
    entries, owned_times = history(11, now, owned=60)
    redefine(dom, entries, current="manual-0")
    before = sorted(dom.list_snapshot_names())
    config = write_config(tmp_path, POLICY.format(uri="test:///default", domain="test"))
    status, text, err = run_cli("test:///default", "auto", "--config", str(config), "--dry-run")
    assert (status, err) == (0, "")
    assert text.startswith("test:///default test [hourly]: would create auto-hourly-")
    assert "; would delete " in text
    status, plan, _ = auto_json("test:///default", config, "--dry-run")
    assert sorted(dom.list_snapshot_names()) == before
    [planned] = plan["hosts"][0]["domains"][0]["policies"]
    assert plan["dry_run"] and planned["created"] is None and planned["deleted"] == []
    status, done, _ = auto_json("test:///default", config)
    [result] = done["hosts"][0]["domains"][0]["policies"]
    assert result["deleted"] == planned["planned"]["delete"]


def test_prune_command_current_protection_and_refusals(conn, dom, tmp_path):
    now = int(time.time())
    names = [f"auto-keep-2026010{day}T000000Z" for day in range(1, 6)]
    redefine(dom, [(name, now - 86400 * (6 - i), "") for i, name in enumerate(names)]
             + [("manual", now, "")], current=names[0])
    # read-only: libvirt refuses every deletion; each is reported, the run goes on
    status, out, err = run_cli("test:///default", "-r", "prune", "test", "--label", "keep",
                               "--keep-last", "2", "--json")
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    [result] = report["hosts"][0]["domains"][0]["policies"]
    assert status == 1 and [r["name"] for r in result["refused"]] == names[1:3]
    assert all("read only access prevents virDomainSnapshotDelete" in r["error"]
               for r in result["refused"])
    assert len(dom.list_snapshot_names()) == 6
    status, out, err = run_cli("test:///default", "prune", "test", "--label", "keep",
                               "--keep-last", "2", "--json")
    assert (status, err) == (0, "")
    [result] = json.loads(out)["hosts"][0]["domains"][0]["policies"]
    assert result["deleted"] == names[1:3]
    assert {k["name"]: k["reasons"] for k in result["kept"]} == {
        names[4]: ["last"], names[3]: ["last"], names[0]: ["current"]}
    assert sorted(dom.list_snapshot_names()) == sorted([names[0], names[3], names[4], "manual"])
    status, out, err = run_cli("test:///default", "prune", "nosuchdomain", "--label", "keep")
    assert status == 1 and "nosuchdomain" in err


HOOK = """\
#!/bin/sh
env | grep '^VIRTSNAP_' | sort > "{log}.$VIRTSNAP_PHASE"
exit {status}
"""


def test_hooks_get_the_environment_and_failures_are_reported(conn, dom, tmp_path, lock_dir):
    hooks = {}
    for name, status in (("pre", 0), ("post", 0), ("fail", 3)):
        path = tmp_path / f"{name}.sh"
        path.write_text(HOOK.format(log=tmp_path / name, status=status))
        path.chmod(0o755)
        hooks[name] = path
    base = POLICY.format(uri="test:///default", domain="test")
    config = write_config(tmp_path, base + f'    pre_hook = "{hooks["pre"]}"\n'
                                           f'    post_hook = ["{hooks["post"]}", "arg"]\n')
    status, report, err = auto_json("test:///default", config)
    assert (status, err) == (0, "")
    [result] = report["hosts"][0]["domains"][0]["policies"]
    created = result["created"]
    inherited = {k: v for k, v in os.environ.items() if k.startswith("VIRTSNAP_")}
    assert inherited["VIRTSNAP_LOCK_DIR"] == str(lock_dir)   # the test's own
    inherited.update(VIRTSNAP_URI="test:///default", VIRTSNAP_DOMAIN="test",
                     VIRTSNAP_LABEL="hourly", VIRTSNAP_SNAPSHOT=created)
    expected = {f"{k}={v}" for k, v in inherited.items()}
    assert set((tmp_path / "pre.pre").read_text().split()) == expected | {"VIRTSNAP_PHASE=pre"}
    assert set((tmp_path / "post.post").read_text().split()) \
        == expected | {"VIRTSNAP_PHASE=post", "VIRTSNAP_STATUS=ok"}
    assert [(h["phase"], h["returncode"]) for h in result["hooks"]] == [("pre", 0), ("post", 0)]

    dom.get_snapshot_by_name(created).delete()
    config = write_config(tmp_path, base + f'    pre_hook = "{hooks["fail"]}"\n')
    status, report, err = auto_json("test:///default", config)
    [result] = report["hosts"][0]["domains"][0]["policies"]
    assert status == 1 and not report["ok"] and result["created"] is None
    assert "exited with status 3" in result["error"] and "exited with status 3" in err
    assert dom.list_snapshot_names() == []

    config = write_config(tmp_path, base + '    pre_hook = ["sleep", "30"]\n'
                                           '    hook_timeout = 0.5\n')
    started = time.monotonic()
    status, report, err = auto_json("test:///default", config)
    assert time.monotonic() - started < 20
    [result] = report["hosts"][0]["domains"][0]["policies"]
    assert status == 1 and "timed out after 0.5s" in result["error"]
    assert dom.list_snapshot_names() == []


def test_a_held_lock_skips_the_domain_with_a_clear_message(conn, dom, tmp_path, lock_dir):
    config = write_config(tmp_path, POLICY.format(uri="test:///default", domain="test"))
    with DomainLock(str(lock_dir), "test:///default", "test", wait=0):
        status, report, err = auto_json("test:///default", config, "--lock-wait", "0.2")
    [domain] = report["hosts"][0]["domains"]
    assert status == 1 and domain["status"] == "skipped" and domain["policies"] == []
    assert "another virtsnap run holds the lock" in err
    assert dom.list_snapshot_names() == []


def test_config_errors_touch_nothing(conn, dom, tmp_path):
    # the first policy is fine; the error in the second stops the run before it starts
    config = write_config(tmp_path, POLICY.format(uri="test:///default", domain="test")
                          + '\n    [[policy]]\n    label = "daily"\n    keep_yearly = -1\n')
    status, out, err = run_cli("test:///default", "auto", "--config", str(config))
    assert (status, out) == (1, "")
    assert err == f"error: {config}:17: key 'keep_yearly': must not be negative: -1\n"
    assert dom.list_snapshot_names() == []


def readme_block(heading, fence):
    """The first ``fence`` code block after ``heading`` in the README."""
    text = README.read_text()
    start = text.index(fence + "\n", text.index(heading)) + len(fence) + 1
    return text[start:text.index("```", start)]


def schema_keys(schema):
    keys, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            keys.update(node.get("properties", {}))
            stack.extend(node.values())
    return keys


def test_the_readme_shows_the_shipped_files_and_the_tested_schema():
    contrib = README.parent / "contrib" / "systemd"
    assert readme_block("### The policy file", "```toml") == (contrib / "policy.toml").read_text()
    assert readme_block("`virtsnap-auto.timer` starts", "```ini") \
        == (contrib / "virtsnap-auto.timer").read_text()
    documented = set(re.findall(r'"([a-z_]+)":', readme_block("### Policy report schema", "```")))
    assert documented == schema_keys(REPORT_SCHEMA)
    assert load_config(contrib / "policy.toml").policies[1].disk_only


def test_the_systemd_units_run_a_valid_command(tmp_path):
    contrib = README.parent / "contrib" / "systemd"
    service = configparser.ConfigParser(interpolation=None, strict=False)
    service.optionxform = str
    service.read(contrib / "virtsnap-auto.service")
    program, *argv = shlex.split(service["Service"]["ExecStart"])
    assert program.endswith("/virtsnap") and service["Service"]["Type"] == "oneshot"
    args = build_parser(argv[0]).parse_args(argv)
    assert args.run is run_auto and args.config == "/etc/virtsnap/policy.toml"
    timer = configparser.ConfigParser(interpolation=None)
    timer.read(contrib / "virtsnap-auto.timer")
    assert timer["Timer"]["OnCalendar"] == "hourly"
    if shutil.which("systemd-analyze"):  # systemd's own check, with the real program path
        unit = tmp_path / "virtsnap-auto.service"
        unit.write_text((contrib / "virtsnap-auto.service").read_text()
                        .replace(program, str(Path(sys.executable).parent / "virtsnap")))
        shutil.copy(contrib / "virtsnap-auto.timer", tmp_path)
        result = subprocess.run(["systemd-analyze", "verify", str(unit),
                                 str(tmp_path / "virtsnap-auto.timer")],
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr) == (0, "")


# ---------------------------------------------------------------- two daemons


@pytest.fixture
def two_daemons(tmp_path, libvirtd):
    daemons = [PrivateDaemon(tmp_path / f"daemon{n}").start() for n in (1, 2)]
    yield daemons
    for daemon in daemons:
        daemon.stop()


DOMAINS = ["web-1", "web-2", "web-test", "db-1", "db-2"]


@pytest.mark.libvirtd
def test_globs_exclusions_and_two_uris(two_daemons, tmp_path):
    uris = [daemon.uri() for daemon in two_daemons]
    dead = PrivateDaemon(tmp_path / "never-started").uri()
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(virtsnap.open(uri)) for uri in uris]
        for uri in uris:
            for name in DOMAINS:
                define_domain(uri, name, tmp_path)
        config = write_config(tmp_path, f"""\
            [[policy]]
            label = "hourly"
            uris = {json.dumps(uris + [dead])}
            domains = ["web-*", "db-1", "!web-test"]
            interval = "1h"
            keep_last = 2

            [[policy]]
            label = "daily"
            uris = {json.dumps(uris[1:])}
            domains = ["db-*"]
            interval = "1d"
            keep_daily = 7
            """)
        status, report, err = auto_json(uris[0], config, "--domain", "*", "--domain", "!web-2",
                                        "--workers", "3")
        assert status == 1 and not report["ok"]  # the dead host fails; the others go on
        hosts = {host["uri"]: host for host in report["hosts"]}
        assert hosts[dead]["error"].startswith("cannot connect") and dead in err
        for uri, conn in zip(uris, conns):
            assert hosts[uri]["ok"]
            made = {name: sorted(conn.get_domain_by_name(name).list_snapshot_names())
                    for name in DOMAINS}
            labels = {name: [n.split("-")[1] for n in names] for name, names in made.items()}
            daily = ["daily"] if uri == uris[1] else []
            assert labels == {"web-1": ["hourly"], "web-2": [], "web-test": [],
                              "db-1": sorted(["hourly"] + daily), "db-2": daily}
            assert [d["name"] for d in hosts[uri]["domains"]] == \
                sorted(["web-1", "db-1"] + (["db-2"] if daily else []))


@pytest.mark.libvirtd
def test_two_concurrent_runs_take_no_duplicate(private_daemon, tmp_path):
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        for name in DOMAINS:
            define_domain(uri, name, tmp_path)
        # The pre_hook holds each run in the domain for a second, so that the
        # two runs overlap: without the lock both would take a snapshot.
        config = write_config(tmp_path, POLICY.format(uri=uri, domain="*")
                              + '    pre_hook = ["sleep", "1"]\n')
        argv = [sys.executable, "-m", "virtsnap", "auto", "--config", str(config), "--json"]
        runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        created = [p["created"] for out, _ in outputs
                   for d in json.loads(out)["hosts"][0]["domains"] for p in d["policies"]
                   if p["created"]]
        assert len(created) == len(DOMAINS) + 1  # the test driver's own "test" too
        assert {len(json.loads(out)["hosts"][0]["domains"]) for out, _ in outputs} \
            == {len(DOMAINS) + 1}  # both runs handled every domain, none was skipped
        for name in DOMAINS + ["test"]:
            assert len(conn.get_domain_by_name(name).list_snapshot_names()) == 1


@pytest.mark.libvirtd
def test_the_quick_benchmark_runs_and_checks_its_results(libvirtd, tmp_path):
    """benchmarks/policy.py --quick: it fails when a run leaves the wrong snapshots."""
    result = subprocess.run([sys.executable, str(README.parent / "benchmarks" / "policy.py"),
                             "--quick", "--workers", "1,4", "--json", str(tmp_path / "b.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "b.json").read_text())
    assert set(figures["results"]) == {"1", "4"} and "prune run (1 created + 6 deleted" \
        in result.stdout


def test_silent_on_a_pipe_unless_verbose_and_a_summary_on_a_terminal(tmp_path):
    uri = "test:///default"  # a subprocess each: every run starts from a fresh driver
    config = write_config(tmp_path, POLICY.format(uri=uri, domain="test"))
    argv = [sys.executable, "-m", "virtsnap", "auto", "--config", str(config)]
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    verbose = subprocess.run(argv + ["--verbose"], capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 0 and verbose.stderr == ""
    assert re.fullmatch(r"test:///default test \[hourly\]: create auto-hourly-\d{8}T\d{6}Z; "
                        r"delete 0; keep 1\n", verbose.stdout)
    # stderr on a terminal: rich draws the progress there; stdout, a pipe, stays empty
    status, stdout, shown = run_on_a_terminal(argv, dict(os.environ, TERM="xterm",
                                                         COLUMNS="120"))
    assert (status, stdout) == (0, "") and "\x1b[?25l" in shown  # the live display ran


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_summary_on_a_terminal(conn, dom, tmp_path):
    config = write_config(tmp_path, POLICY.format(uri="test:///default", domain="test"))
    shown = Terminal()
    with contextlib.redirect_stdout(shown):
        assert main(["auto", "--config", str(config)]) == 0
    assert re.fullmatch(r"test:///default test \[hourly\]: create auto-hourly-\d{8}T\d{6}Z; "
                        r"delete 0; keep 1\n", shown.getvalue())
