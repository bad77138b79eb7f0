"""Clocks: a snapshot dated in the future is reported and does not stop the schedule."""

import importlib
import json
from datetime import datetime, timedelta, timezone

import jsonschema

from support.auto import HOURLY_POLICY
from support.snapshots import redefine
from virtsnap.policy import snapshot_name
from virtsnap.cli import main
from virtsnap.policy import OwnedSnapshot, Policy, Retention
from virtsnap.policy.run import REPORT_SCHEMA

UTC = timezone.utc
planner = importlib.import_module("virtsnap.policy.plan")
POLICY = HOURLY_POLICY + "keep_hourly = 24\n"


def test_hourly_history_with_one_snapshot_two_days_ahead_is_still_due(dom, tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    now = datetime.now(UTC).replace(microsecond=0)
    past = [now - timedelta(hours=hours) for hours in range(2, 12)]
    ahead = now + timedelta(days=2)
    redefine(dom, [(snapshot_name("hourly", when), when.timestamp(), "hourly")
                   for when in past + [ahead]])
    config = tmp_path / "policy.toml"
    config.write_text(POLICY)

    assert main(["auto", "--config", str(config), "--dry-run", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    [result] = report["hosts"][0]["domains"][0]["policies"]
    future = snapshot_name("hourly", ahead)
    assert result["due"] and result["planned"]["create"] is not None
    [warning] = result["warnings"]
    assert warning.startswith(f"snapshot {future} is dated {ahead.isoformat()}, after now")
    assert err == f"warning: test:///default test [hourly]: {warning}\n"
    assert [entry["name"] for entry in result["kept"]][:2] == [future, result["planned"]["create"]]

    assert main(["auto", "--config", str(config), "--json"]) == 0
    out, err = capsys.readouterr()
    [result] = json.loads(out)["hosts"][0]["domains"][0]["policies"]
    assert result["created"] is not None and result["deleted"] == [] and future in err
    assert sorted(dom.list_snapshot_names()) == sorted(
        [snapshot_name("hourly", when) for when in past + [ahead]] + [result["created"]])


def test_a_small_skew_is_no_future_and_the_new_snapshot_is_never_pruned():
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    policy = Policy("hourly", Retention(keep_last=1), interval=timedelta(hours=1))
    slightly = OwnedSnapshot("auto-hourly-slightly", now + planner.CLOCK_SKEW)
    decided = planner.plan([slightly], policy, now)
    assert decided.create is None and decided.future == []      # within the allowance

    ahead = OwnedSnapshot("auto-hourly-ahead", now + timedelta(days=2))
    old = OwnedSnapshot("auto-hourly-old", now - timedelta(hours=3))
    decided = planner.plan([old, ahead], policy, now)
    assert decided.future == ["auto-hourly-ahead"]
    # retention places the future one as the newest; the one taken now stays ("new")
    assert decided.keep == {"auto-hourly-ahead": ("last",), decided.create: ("current", "new")}
    assert decided.delete == ["auto-hourly-old"]
