"""Reading policy files: the issue's example parses; every mistake names file, line, key."""

from datetime import timedelta

import pytest

from virtsnap.policy import ConfigError, Retention, load_config, parse_interval

EXAMPLE = """\
[defaults]
uri = "qemu:///system"
timezone = "UTC"                 # periods (hour/day/week/month/year) are computed in this zone

[[policy]]
label = "hourly"                 # [a-z0-9_]+, part of the snapshot names
uris = ["qemu:///system", "qemu+ssh://host2/system"]   # default: defaults.uri
domains = ["web-*", "db-1", "!web-test"]               # fnmatch globs; "!" excludes; default all
interval = "1h"                  # take a new one when the newest of this label is at least this old
keep_last = 3
keep_hourly = 24
keep_daily = 7
keep_weekly = 4
keep_monthly = 0
keep_yearly = 0
quiesce = "try"                  # true: require the guest agent; "try": fall back without; false
disk_only = false                # passes CREATE_DISK_ONLY (external snapshots)
pre_hook = "/usr/local/bin/pre"  # optional; argv run without a shell
post_hook = "/usr/local/bin/post"

[[policy]]
label = "daily"
interval = "1d"
keep_daily = 7
"""


def write(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_the_issues_example_parses(tmp_path):
    config = load_config(write(tmp_path, EXAMPLE))
    hourly, daily = config.policies
    assert hourly.retention == Retention(3, 24, 7, 4, 0, 0)
    assert hourly.uris == ("qemu:///system", "qemu+ssh://host2/system")
    assert hourly.interval == timedelta(hours=1)
    assert hourly.quiesce == "try" and hourly.pre_hook == ("/usr/local/bin/pre",)
    assert [hourly.selects(name) for name in ("web-1", "web-test", "db-1", "db-2")] \
        == [True, False, True, False]
    assert daily.uris == ("qemu:///system",) and daily.selects("anything")
    assert daily.pre_hook is None and daily.timezone == "UTC"


MISTAKES = [
    # (replace this, with this, line, key, words in the message)
    ('keep_daily = 7\nkeep_weekly', 'keep_daily = -7\nkeep_weekly', 12, "keep_daily", "negative"),
    ('interval = "1h"', 'interval = "1x"', 9, "interval", "bad interval"),
    ('interval = "1d"', 'interval = "0h"', 23, "interval", "positive"),
    ('disk_only = false', 'disk_only = false\nkeep_secondly = 2', 18, "keep_secondly",
     "unknown key"),
    ('timezone = "UTC"', 'timezone = "Mars/Olympus"', 3, "timezone", "unknown timezone"),
    ('"!web-test"]', '"!web-[test"]', 8, "domains", "bad glob"),
    ('"!web-test"]', '"!"]', 8, "domains", "bad glob"),
    ('label = "daily"', 'label = "Daily"', 22, "label", "[a-z0-9_]+"),
    ('label = "daily"', 'label = "hourly"', 22, "label", "also used"),
    ('quiesce = "try"', 'quiesce = "maybe"', 16, "quiesce", "true, false"),
    ('keep_last = 3', 'keep_last = "3"', 10, "keep_last", "must be int"),
    ('keep_last = 3', 'keep_last = true', 10, "keep_last", "must be int"),
    ('uri = "qemu:///system"', 'uri = "qemu:///system"\nworkers = 3', 3, "workers", "unknown key"),
    ('uris = ["qemu:///system", "qemu+ssh://host2/system"]', 'uris = []', 7, "uris", "non-empty"),
    ('pre_hook = "/usr/local/bin/pre"', 'pre_hook = []', 18, "pre_hook", "command line"),
    ('[defaults]', '[defaults]\n[extra]', 2, "extra", "unknown key"),
    ('interval = "1d"', 'interval = 1d', 23, None, "not valid TOML"),
]


@pytest.mark.parametrize("old, new, line, key, words", MISTAKES,
                         ids=[f"{row[3]}-{row[4]}" for row in MISTAKES])
def test_mistakes_name_file_line_and_key(tmp_path, old, new, line, key, words):
    assert old in EXAMPLE
    path = write(tmp_path, EXAMPLE.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.filename, error.line, error.key) == (str(path), line, key)
    assert str(error).startswith(f"{path}:{line}: ") and words in str(error)


def test_missing_file_and_no_policy(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"policy\.toml: at least one \[\[policy\]\]"):
        load_config(write(tmp_path, '[defaults]\nuri = "test:///default"\n'))


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("1h", 3600),
                                           ("1h30m", 5400), ("2d", 172800), ("1w", 604800)])
def test_intervals(text, seconds):
    assert parse_interval(text) == timedelta(seconds=seconds)
