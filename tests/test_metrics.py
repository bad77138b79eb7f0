"""``virtsnap auto --metrics-file``: the file, parsed by prometheus_client's own parser.

Runs go to a private test-driver daemon whose pools give the min_free
guard its figures (tests/support/space.py); refused deletions come from a
read-only connection, which libvirt refuses every deletion.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import libvirt
import pytest
from prometheus_client.parser import text_string_to_metric_families

import virtsnap
from support.private_daemon import define_domain
from support.space import disk_xml, pool_with_volume
from virtsnap.metrics import GAUGES, render, write_atomically
from virtsnap.policy.plan import Policy, Retention, owned_time
from virtsnap.policy.run import HostReport, Report, run_domain


def parse(text):
    """{metric name: {(uri, domain, label): value}} by prometheus_client's parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge" and family.name in GAUGES
        for sample in family.samples:
            key = tuple(sample.labels.get(k, "") for k in ("uri", "domain", "label"))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


@pytest.mark.libvirtd
def test_auto_metrics_file_parsed_by_prometheus_client(private_daemon, tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    uri = private_daemon.uri()
    oracle = libvirt.open(uri)
    try:
        define_domain(uri, "full", tmp_path, disk_xml(pool_with_volume(oracle, "vs-full", 95)))
        define_domain(uri, "roomy", tmp_path, disk_xml(pool_with_volume(oracle, "vs-roomy", 10)))
        config = tmp_path / "policy.toml"
        config.write_text(textwrap.dedent(f"""\
            [defaults]
            min_free = "10%"
            [[policy]]
            label = "hourly"
            uris = ["{uri}"]
            domains = ["full", "roomy"]
            interval = "1h"
            keep_last = 3
            """))
        metrics = tmp_path / "virtsnap.prom"
        metrics.write_text("old contents\n")
        before = time.time()
        result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config",
                                 str(config), "--json", "--metrics-file", str(metrics)],
                                capture_output=True, text=True, timeout=120)
        after = time.time()
        assert result.returncode == 1  # "full" is short of space
        created = {d["name"]: d["policies"][0]["created"]
                   for d in json.loads(result.stdout)["hosts"][0]["domains"]}
        assert created["full"] is None and created["roomy"]
        found = parse(metrics.read_text())
        full, roomy = (uri, "full", "hourly"), (uri, "roomy", "hourly")
        owned = {name: [s.getName() for s in oracle.lookupByName(name).listAllSnapshots()]
                 for name in ("full", "roomy")}
        assert found["virtsnap_snapshots"] == {full: len(owned["full"]),
                                               roomy: len(owned["roomy"])} == {full: 0, roomy: 1}
        assert found["virtsnap_newest_snapshot_timestamp_seconds"] == {
            roomy: owned_time("hourly", owned["roomy"][0]).timestamp()}
        assert found["virtsnap_last_run_success"] == {full: 0, roomy: 1}
        assert found["virtsnap_space_short"] == {full: 1, roomy: 0}
        assert found["virtsnap_prune_refused"] == {full: 0, roomy: 0}
        assert found["virtsnap_host_up"] == {(uri, "", ""): 1}
        assert all(before - 1 <= value <= after + 1
                   for value in found["virtsnap_last_run_timestamp_seconds"].values())
        # none held by "full"; "roomy"'s test-driver snapshot has no file du could measure
        assert found["virtsnap_snapshot_bytes"] == {full: 0}
        assert oct(metrics.stat().st_mode & 0o777) == "0o644"
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        oracle.close()


def test_refused_deletions_are_counted(conn, dom, tmp_path):
    """libvirt refuses deletions on a read-only connection: each one is counted."""
    names = [f"auto-keep-2026010{day}T000000Z" for day in range(1, 4)]
    for name in names:
        dom.create_snapshot(name=name)
    with virtsnap.open("test:///default", readonly=True) as readonly:
        report = Report(False, datetime.now(timezone.utc))
        host = HostReport("test:///default")
        report.hosts.append(host)
        host.domains.append(run_domain(readonly.get_domain_by_name("test"),
                                       [Policy("keep", Retention(keep_last=1))],
                                       uri=host.uri, lock_dir=str(tmp_path)))
        report.finished = datetime.now(timezone.utc)
    found = parse(render(report))
    key = ("test:///default", "test", "keep")
    assert found["virtsnap_prune_refused"] == {key: 2}
    assert found["virtsnap_snapshots"] == {key: 3} and found["virtsnap_last_run_success"][key] == 0
    assert sorted(dom.list_snapshot_names()) == names


def test_label_values_are_escaped():
    report = Report(False, datetime.now(timezone.utc))
    report.hosts.append(HostReport('test:///x?a="b"\\c\nd', error="down"))
    found = parse(render(report))
    assert found["virtsnap_host_up"] == {('test:///x?a="b"\\c\nd', "", ""): 0}


def test_write_never_follows_a_planted_symlink(tmp_path, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "virtsnap.prom"
    os.symlink(victim, target)  # planted at the final name: replaced, not followed
    write_atomically(str(target), "a 1\n")
    assert not target.is_symlink() and target.read_text() == "a 1\n"
    assert victim.read_text() == "precious\n"
    # planted at the temporary name (made predictable here): O_EXCL|O_NOFOLLOW refuse it
    import virtsnap.metrics

    monkeypatch.setattr(virtsnap.metrics.secrets, "token_hex", lambda n: "guessed")
    os.symlink(victim, tmp_path / ".virtsnap.prom.guessed.tmp")
    with pytest.raises(FileExistsError):
        write_atomically(str(target), "b 2\n")
    assert victim.read_text() == "precious\n" and target.read_text() == "a 1\n"


def test_an_unwritable_metrics_file_fails_the_run(tmp_path):
    config = tmp_path / "policy.toml"
    config.write_text('[[policy]]\nlabel = "hourly"\nuris = ["test:///default"]\n'
                      'interval = "1h"\n')
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--metrics-file", str(tmp_path / "no-dir" / "m.prom")],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "VIRTSNAP_LOCK_DIR": str(tmp_path / "locks")})
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot write the metrics file ")


def test_the_example_alert_rules_use_only_metrics_that_exist():
    """Each rule of contrib/prometheus has an alert and an expr naming only our gauges."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "contrib" / "prometheus" / "virtsnap.rules.yml"
            ).read_text()
    alerts = re.findall(r"^ +- alert: (\w+)$", text, re.MULTILINE)
    exprs = re.findall(r"^ +expr: (.+)$", text, re.MULTILINE)
    assert len(alerts) == len(exprs) >= 5
    used = {name for expr in exprs for name in re.findall(r"virtsnap_[a-z_]+", expr)}
    assert used and used <= set(GAUGES)
