"""``group = true`` in a ``[[policy]]``: the selected domains of a URI as one group.

The planner counts a group's point in time once (group_history); a run on
the test driver takes one group snapshot of every member or of none.
"""

from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

import virtsnap

from support.group_env import lv, make_guests, remove_guests, snapshot_names, states
from support.helpers import TEST_URI
from virtsnap.policy import ConfigError, OwnedSnapshot, Policy, Retention, parse_config, plan
from virtsnap.policy.plan import group_history, snapshot_name
from virtsnap.policy.run import REPORT_SCHEMA, run, run_group

UTC = timezone.utc


def config_text(names, lock_dir, extra=""):
    domains = ", ".join(f'"{name}"' for name in names)
    return (f'[defaults]\nlock_dir = "{lock_dir}"\n\n[[policy]]\nlabel = "grp"\n'
            f'domains = [{domains}]\ninterval = "1h"\nkeep_last = 2\ngroup = true\n{extra}')


@pytest.fixture
def guests(conn):
    names = make_guests(conn, 3, prefix="gpol")
    yield names
    remove_guests(TEST_URI, names)


def test_config_reads_group_and_refuses_bad_values(tmp_path):
    config = parse_config(config_text(["a"], tmp_path))
    assert config.policies[0].group is True
    assert parse_config(config_text(["a"], tmp_path).replace("group = true\n", "")
                        ).policies[0].group is False
    with pytest.raises(ConfigError, match="'group'"):
        parse_config(config_text(["a"], tmp_path).replace("group = true", 'group = "yes"'))
    with pytest.raises(ConfigError, match="cannot be combined with group"):
        parse_config(config_text(["a"], tmp_path, 'pre_hook = "true"\n'))


def test_a_point_in_time_counts_once_even_across_an_hour_boundary():
    """Member B's pause ended after the hour: per member, hourly retention would keep
    different points on A and B; the group's history keeps the same on both."""
    t = datetime(2026, 5, 1, 10, 59, 59, tzinfo=UTC)
    first = snapshot_name("grp", t)
    second = snapshot_name("grp", t + timedelta(minutes=30))
    a = [OwnedSnapshot(first, t), OwnedSnapshot(second, t + timedelta(minutes=30))]
    b = [OwnedSnapshot(first, t + timedelta(seconds=2)),
         OwnedSnapshot(second, t + timedelta(minutes=30), is_current=True)]
    policy = Policy("grp", Retention(keep_hourly=2))
    now = t + timedelta(minutes=40)
    per_member = [plan(history, policy, now).delete for history in (a, b)]
    assert per_member[0] != per_member[1]          # what a per-domain policy would do
    history = group_history([a, b])
    assert sorted((s.name, s.time, s.is_current) for s in history) == [
        (first, t, False), (second, t + timedelta(minutes=30), True)]
    assert plan(history, policy, now).delete == []


def test_a_group_policy_snapshots_every_member_at_once_and_prunes_them_together(
        conn, guests, tmp_path):
    config = parse_config(config_text(guests, tmp_path / "locks"))
    start = datetime.now(UTC).replace(microsecond=0)
    taken = []
    for hour in range(3):
        now = start + timedelta(hours=hour)
        report = run(config, now=now, default_uri=TEST_URI)
        document = report.to_dict()
        jsonschema.validate(document, REPORT_SCHEMA)
        assert report.ok, document
        [host] = document["hosts"]
        assert sorted(d["name"] for d in host["domains"]) == sorted(guests)
        created = {d["policies"][0]["created"] for d in host["domains"]}
        assert created == {snapshot_name("grp", now)}
        taken.append(snapshot_name("grp", now))
    for guest in guests:
        assert snapshot_names(TEST_URI, guest) == sorted(taken[1:])
    assert snapshot_names(TEST_URI, "test") == []   # not selected
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")


def test_a_group_policy_takes_nothing_when_one_member_fails(conn, guests, tmp_path):
    """The middle member comes from a read-only connection: libvirt refuses to pause it."""
    policy = parse_config(config_text(guests, tmp_path / "locks")).policies[0]
    now = datetime.now(UTC).replace(microsecond=0)
    with virtsnap.open(TEST_URI, readonly=True) as readonly:
        doms = [conn.get_domain_by_name(guests[0]), readonly.get_domain_by_name(guests[1]),
                conn.get_domain_by_name(guests[2])]
        reports = run_group(doms, policy, uri=TEST_URI, now=now, lock_dir=str(tmp_path))
    name = snapshot_name("grp", now)
    assert [report.name for report in reports] == guests
    for report in reports:
        [result] = report.policies
        assert result.status == "failed" and result.created is None
        assert f"cannot create group snapshot {name}" in result.error
        assert guests[1] in result.error
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], [], []]
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")


def test_an_incomplete_point_in_time_is_not_taken_again(conn, guests, tmp_path):
    """A point in time that exists on one member (made by hand) is the group's:
    retention counts it, and the run does not take the same name on the others."""
    config = parse_config(config_text(guests, tmp_path / "locks"))
    now = datetime.now(UTC).replace(microsecond=0)
    name = snapshot_name("grp", now)
    lv(conn).lookupByName(guests[1]).snapshotCreateXML(
        f"<domainsnapshot><name>{name}</name></domainsnapshot>")
    report = run(config, now=now, default_uri=TEST_URI)
    assert report.ok
    assert all(d.policies[0].created is None and d.policies[0].due is False
               for d in report.hosts[0].domains)
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], [name], []]
