"""The pure planner of virtsnap.policy: hand-checked tables and Hypothesis.

The property tests compare :func:`virtsnap.policy.retain` with a second,
independent formulation of Proxmox Backup Server's rules written below
(periods as tuples of calendar fields, each option as "the first N periods
not yet represented, one snapshot each"), and check that pruning is
idempotent.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.retention import reference_retain
from virtsnap.policy import (OwnedSnapshot, Policy, Retention, owned_time, plan, retain,
                             snapshot_name)

UTC = timezone.utc


def at(text):
    """An aware UTC datetime from "2026-12-31T23:30"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def snaps(*times, current=None):
    return [OwnedSnapshot(snapshot_name("t", at(t)), at(t), t == current) for t in times]


def kept_times(result):
    return sorted((owned_time("t", name).strftime("%Y-%m-%dT%H:%M") for name in result),
                  reverse=True)


# ---------------------------------------------------------------- hand-checked tables

TABLES = [
    # (what, retention, zone, times, current, kept times)
    ("no option keeps everything", Retention(), "UTC",
     ["2026-01-03T00:00", "2026-01-02T00:00", "2026-01-01T00:00"], None,
     ["2026-01-03T00:00", "2026-01-02T00:00", "2026-01-01T00:00"]),
    ("keep_last then hourly skips hours already held", Retention(keep_last=2, keep_hourly=2), "UTC",
     ["2026-05-01T10:50", "2026-05-01T10:20", "2026-05-01T09:50", "2026-05-01T09:20",
      "2026-05-01T08:50", "2026-05-01T07:50"], None,
     ["2026-05-01T10:50", "2026-05-01T10:20", "2026-05-01T09:50", "2026-05-01T08:50"]),
    ("empty periods do not count: days with no snapshot are not periods",
     Retention(keep_daily=3), "UTC",
     ["2026-03-10T12:00", "2026-03-08T12:00", "2026-03-05T12:00", "2026-03-01T12:00"], None,
     ["2026-03-10T12:00", "2026-03-08T12:00", "2026-03-05T12:00"]),
    ("the walk stops at a new period; a later option may keep what it left",
     Retention(keep_daily=1, keep_weekly=1), "UTC",
     # Wed and Tue of ISO week 2026-W20, Mon of W19
     ["2026-05-13T12:00", "2026-05-12T12:00", "2026-05-04T12:00"], None,
     ["2026-05-13T12:00", "2026-05-04T12:00"]),
    ("ISO week 53: 2027-01-02 (Sat) and 2026-12-29 (Tue) are both 2026-W53",
     Retention(keep_weekly=2), "UTC",
     ["2027-01-02T12:00", "2026-12-29T12:00", "2026-12-27T12:00", "2026-12-20T12:00"], None,
     ["2027-01-02T12:00", "2026-12-27T12:00"]),
    ("turn of the year in UTC: 2027 and 2026 are two years",
     Retention(keep_yearly=2), "UTC",
     ["2027-01-01T00:30", "2026-12-31T23:30", "2026-06-01T00:00"], None,
     ["2027-01-01T00:30", "2026-12-31T23:30"]),
    ("turn of the year in New York: all three are still 2026 there",
     Retention(keep_yearly=2), "America/New_York",
     ["2027-01-01T00:30", "2026-12-31T23:30", "2026-06-01T00:00"], None,
     ["2027-01-01T00:30"]),
    ("monthly then yearly across the turn of the year",
     Retention(keep_monthly=1, keep_yearly=2), "UTC",
     ["2027-01-01T00:30", "2026-12-31T23:30", "2026-06-01T00:00"], None,
     ["2027-01-01T00:30", "2026-12-31T23:30"]),
    ("DST ends in Berlin (2026-10-25): 00:30Z and 01:30Z are both 02:30 local, one hour",
     Retention(keep_hourly=3), "Europe/Berlin",
     ["2026-10-25T02:30", "2026-10-25T01:30", "2026-10-25T00:30"], None,
     ["2026-10-25T02:30", "2026-10-25T01:30"]),
    ("the same three in UTC are three hours",
     Retention(keep_hourly=3), "UTC",
     ["2026-10-25T02:30", "2026-10-25T01:30", "2026-10-25T00:30"], None,
     ["2026-10-25T02:30", "2026-10-25T01:30", "2026-10-25T00:30"]),
    ("DST starts in Berlin (2026-03-29): 01:30 CET and 03:30 CEST, the skipped hour is no period",
     Retention(keep_hourly=2), "Europe/Berlin",
     ["2026-03-29T01:30", "2026-03-29T00:30", "2026-03-28T23:30"], None,
     ["2026-03-29T01:30", "2026-03-29T00:30"]),
    ("days in Berlin: 22:30Z on 03-28 is already 03-29 there",
     Retention(keep_daily=2), "Europe/Berlin",
     ["2026-03-29T10:00", "2026-03-28T23:30", "2026-03-28T12:00", "2026-03-27T12:00"], None,
     ["2026-03-29T10:00", "2026-03-28T12:00"]),
    ("the current snapshot stays although no rule keeps it",
     Retention(keep_last=1), "UTC",
     ["2026-01-03T00:00", "2026-01-02T00:00", "2026-01-01T00:00"], "2026-01-01T00:00",
     ["2026-01-03T00:00", "2026-01-01T00:00"]),
]


@pytest.mark.parametrize("what, retention, zone, times, current, expected", TABLES,
                         ids=[row[0] for row in TABLES])
def test_retention_table(what, retention, zone, times, current, expected):
    assert kept_times(retain(snaps(*times, current=current), retention, ZoneInfo(zone))) \
        == expected


def test_reasons_name_the_option_and_current():
    history = snaps("2026-05-01T10:50", "2026-05-01T09:50", "2026-04-01T00:00",
                    current="2026-04-01T00:00")
    result = retain(history, Retention(keep_last=1, keep_hourly=1), UTC)
    assert list(result.values()) == [("last",), ("hourly",), ("current",)]


def test_plan_creates_when_due_and_the_new_one_joins_as_current():
    policy = Policy("t", Retention(keep_last=2), interval=timedelta(hours=1))
    history = snaps("2026-05-01T08:00", "2026-05-01T09:00", "2026-05-01T07:00",
                    current="2026-05-01T07:00")
    result = plan(history, policy, at("2026-05-01T10:00"))
    assert result.create == "auto-t-20260501T100000Z"
    assert result.keep == {"auto-t-20260501T100000Z": ("last", "new"),
                           "auto-t-20260501T090000Z": ("last",)}
    # the old current is current no more: the new one is
    assert result.delete == ["auto-t-20260501T070000Z", "auto-t-20260501T080000Z"]


def test_plan_not_due_creates_nothing():
    policy = Policy("t", Retention(keep_last=5), interval=timedelta(hours=1))
    history = snaps("2026-05-01T09:30")
    assert plan(history, policy, at("2026-05-01T10:00")).create is None
    # due 1/20 of the interval early (3 minutes of an hour), not earlier
    assert plan(history, policy, at("2026-05-01T10:27")).create is not None
    assert plan(history, policy, at("2026-05-01T10:26")).create is None
    assert plan([], policy, at("2026-05-01T10:00")).create == "auto-t-20260501T100000Z"
    assert plan([], Policy("t"), at("2026-05-01T10:00")).create is None


def test_owned_names():
    when = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert snapshot_name("hourly", when) == "auto-hourly-20261201T080000Z"
    assert owned_time("hourly", "auto-hourly-20261201T080000Z") == at("2026-12-01T08:00")
    for name in ("auto-daily-20261201T080000Z", "auto-hourly-20261201T080000", "manual",
                 "auto-hourly-20261301T080000Z", "auto-hourly-x20261201T080000Z",
                 "auto-hourly-20261201T080000Z-copy"):
        assert owned_time("hourly", name) is None
    with pytest.raises(ValueError):
        snapshot_name("hourly", datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        Policy("Bad-Label")
    with pytest.raises(ValueError):
        Retention(keep_last=-1)


# ---------------------------------------------------------------- a second formulation


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
START = datetime(2025, 12, 20, tzinfo=UTC).timestamp()


@st.composite
def histories(draw):
    # clustered times: minutes to years apart, with duplicates of a second
    steps = draw(st.lists(st.sampled_from([0, 1, 600, 1800, 3600, 5400, 86400, 3 * 86400,
                                           7 * 86400, 30 * 86400, 200 * 86400]),
                          max_size=40))
    times, t = [], START
    for step in steps:
        t += step + draw(st.integers(0, 59))
        times.append(datetime.fromtimestamp(t, UTC))
    names = [f"auto-t-{i:03d}" for i in range(len(times))]
    current = draw(st.none() | st.sampled_from(names)) if names else None
    return [OwnedSnapshot(name, when, name == current) for name, when in zip(names, times)]


retentions = st.builds(Retention, *[st.integers(0, 4)] * 6)


@settings(max_examples=400, deadline=None)
@given(histories(), retentions, st.sampled_from(ZONES))
def test_retain_matches_the_reference(history, retention, zone):
    tz = ZoneInfo(zone)
    assert set(retain(history, retention, tz)) == reference_retain(history, retention, tz)


@settings(max_examples=300, deadline=None)
@given(histories(), retentions, st.sampled_from(ZONES))
def test_pruning_twice_prunes_nothing_more(history, retention, zone):
    tz = ZoneInfo(zone)
    kept = retain(history, retention, tz)
    survivors = [s for s in history if s.name in kept]
    assert set(retain(survivors, retention, tz)) == set(kept)
