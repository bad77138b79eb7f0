"""``virtsnap status``: the monitoring-plugin check, against a private test-driver daemon.

Snapshot ages come from libvirt's creationTime: old snapshots are
redefined with an old creationTime (REDEFINE), as libvirt-python sees them.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import jsonschema
import libvirt
import pytest

from support.private_daemon import PrivateDaemon, define_domain
from support.space import disk_xml, pool_with_volume
from virtsnap.policy.plan import snapshot_name
from virtsnap.policy.run import DomainLock
from virtsnap.status import STATUS_SCHEMA

pytestmark = pytest.mark.libvirtd


def status(config, *extra, env=None):
    result = subprocess.run([sys.executable, "-m", "virtsnap", "status", "--config", str(config),
                             *extra], capture_output=True, text=True, timeout=120, env=env)
    assert result.stderr == ""
    return result.returncode, result.stdout.splitlines()


def config_file(tmp_path, uri, domains, extra=""):
    path = tmp_path / "policy.toml"
    path.write_text(textwrap.dedent(f"""\
        [[policy]]
        label = "hourly"
        uris = ["{uri}"]
        domains = {json.dumps(domains)}
        interval = "1h"
        keep_last = 2
        """) + extra)
    return path


def add_owned(oracle, domain, hours_ago):
    """An owned snapshot created ``hours_ago`` hours ago (redefined with that creationTime)."""
    when = time.time() - hours_ago * 3600
    name = snapshot_name("hourly", datetime.fromtimestamp(when, timezone.utc))
    dom = oracle.lookupByName(domain)
    snap = dom.snapshotCreateXML(f"<domainsnapshot><name>{name}</name></domainsnapshot>", 0)
    root = ET.fromstring(snap.getXMLDesc(0))
    snap.delete(0)
    root.find("creationTime").text = str(int(when))
    dom.snapshotCreateXML(ET.tostring(root, encoding="unicode"),
                          libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE)
    return name


@pytest.fixture
def daemon(private_daemon, tmp_path):
    uri = private_daemon.uri()
    oracle = libvirt.open(uri)  # keeps the test driver's state between clients
    for name in ("fresh", "late", "empty"):
        define_domain(uri, name, tmp_path)
    yield uri, oracle
    oracle.close()


def test_ok_critical_and_what_is_late(daemon, tmp_path):
    uri, oracle = daemon
    add_owned(oracle, "fresh", 0.5)
    add_owned(oracle, "late", 3)
    rc, lines = status(config_file(tmp_path, uri, ["fresh"]))
    assert rc == 0 and lines[0] == "VIRTSNAP OK - 1 domain/label pair(s) on time"
    assert lines[1].startswith(f"OK {uri} fresh [hourly]: 1 owned, newest 30.")
    rc, lines = status(config_file(tmp_path, uri, ["fresh", "late", "empty"]))
    assert rc == 2
    assert lines[0] == ("VIRTSNAP CRITICAL - late: empty [hourly] (no snapshot), "
                        "late [hourly] (newest 3.0h old, interval 1.0h)")
    assert [line.split()[0] for line in lines[1:]] == ["CRITICAL", "OK", "CRITICAL"]


def test_refused_deletions_and_space_are_warnings_in_json(daemon, tmp_path):
    uri, oracle = daemon
    # keep_last = 2: the oldest is one the rules no longer keep
    oldest = [add_owned(oracle, "fresh", hours) for hours in (0.2, 0.4, 0.6)][-1]
    define_domain(uri, "full", tmp_path, disk_xml(pool_with_volume(oracle, "vs-full", 95)))
    add_owned(oracle, "full", 0.1)
    config = config_file(tmp_path, uri, ["fresh", "full"], 'min_free = "10%"\n')
    rc, lines = status(config, "--json")
    document = json.loads("\n".join(lines))
    jsonschema.validate(document, STATUS_SCHEMA)
    assert rc == 1 and document["state"] == "WARNING" and document["exit_code"] == 1
    checks = {c["domain"]: c for c in document["checks"]}
    assert checks["fresh"]["backlog"] == [oldest] and checks["fresh"]["state"] == "WARNING"
    assert checks["fresh"]["space"] == "ok"  # no disk: nothing can run short
    assert checks["full"]["space"] == "short" and checks["full"]["backlog"] == []
    assert "free space below min_free 10%: vda: 5.0 GiB free of 100.0 GiB (5.0%)" in \
        checks["full"]["problems"][0]
    assert document["summary"].startswith("VIRTSNAP WARNING - warning: fresh [hourly] (")


def test_unreachable_host_and_bad_file_are_unknown(daemon, tmp_path):
    uri, oracle = daemon
    add_owned(oracle, "fresh", 0.1)
    dead = PrivateDaemon(tmp_path / "never-started").uri()
    config = config_file(tmp_path, uri, ["fresh"])
    config.write_text(config.read_text().replace(f'uris = ["{uri}"]',
                                                 f'uris = ["{uri}", "{dead}"]'))
    rc, lines = status(config)
    assert rc == 3 and lines[0].startswith(f"VIRTSNAP UNKNOWN - {dead} unreachable: ")
    bad = tmp_path / "bad.toml"
    bad.write_text('[[policy]]\nlabel = "hourly"\ninterval = "soon"\n')
    rc, lines = status(bad)
    assert rc == 3 and lines == [f"VIRTSNAP UNKNOWN - bad policy file: {bad}:3: key 'interval': "
                                 "bad interval 'soon' (use e.g. 30m, 1h, 1d, 1w)"]


def test_changes_nothing_and_takes_no_lock(daemon, tmp_path):
    """With the domain's lock held by a run, status answers at once and changes nothing."""
    uri, oracle = daemon
    add_owned(oracle, "late", 5)
    before = {s.getName(): s.getXMLDesc(0) for s in oracle.lookupByName("late").listAllSnapshots()}
    locks = tmp_path / "locks"
    env = {**os.environ, "VIRTSNAP_LOCK_DIR": str(locks)}
    with DomainLock(str(locks), uri, "late", wait=0):
        rc, lines = status(config_file(tmp_path, uri, ["late"]), env=env)
    assert rc == 2 and "late [hourly] (newest 5.0h old" in lines[0]
    after = {s.getName(): s.getXMLDesc(0) for s in oracle.lookupByName("late").listAllSnapshots()}
    assert after == before


def test_a_policy_that_selects_no_domain_is_a_warning(daemon, tmp_path):
    uri, _ = daemon
    rc, lines = status(config_file(tmp_path, uri, ["typo-*"]))
    assert rc == 1
    assert lines[0] == ("VIRTSNAP WARNING - warning: (no domain) [hourly] "
                        "(the policy selects no domain here)")


@pytest.mark.parametrize("words, message", [
    (["--bogus"], "command 'status' doesn't support option --bogus"),
    (["--config"], "expected syntax: --config <string>"),
    (["--config", "a", "--config=b"], "option --config already seen"),
    (["extra"], "unexpected data 'extra'"),
    (["--json=1"], "invalid '=' after option --json"),
])
def test_usage_errors_are_unknown(words, message):
    """A command line the grammar refuses is UNKNOWN (3), the monitoring-plugin
    convention, on stdout where the monitoring system reads it."""
    result = subprocess.run([sys.executable, "-m", "virtsnap", "status", *words],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (
        3, f"VIRTSNAP UNKNOWN - usage: {message}\n", "")
