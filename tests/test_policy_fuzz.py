"""Hypothesis over policy files built from the schema's keys with hostile values.

The loader must only ever answer with a valid configuration, whose policies
then plan without error, or with a ConfigError of one line
``FILE:LINE: key 'x': ...`` whose line holds that key (or the header of its
table, for a key that is missing).
"""

import json
import re
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from virtsnap.policy import ConfigError, OwnedSnapshot, load_config
from virtsnap.policy.config import DEFAULT_KEYS, POLICY_KEYS
from virtsnap.policy.plan import plan

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
HISTORY = [OwnedSnapshot("auto-x-%d" % hours, NOW - timedelta(hours=hours)) for hours in range(30)]
HISTORY.append(OwnedSnapshot("auto-x-ahead", NOW + timedelta(days=3), is_current=True))

GOOD = {
    "label": st.sampled_from(["hourly", "a", "x_1"]),
    "uri": st.just("test:///default"),
    "uris": st.just(["test:///default"]),
    "domains": st.sampled_from([["test"], ["web-*", "!web-test"], []]),
    "interval": st.sampled_from(["1h", "30m", "1d", "1h30m", "1w"]),
    "timezone": st.sampled_from(["UTC", "Europe/Berlin"]),
    "quiesce": st.sampled_from([True, False, "try"]),
    "disk_only": st.booleans(),
    "pre_hook": st.sampled_from(["/bin/true", ["sh", "-c", "exit 0"]]),
    "post_hook": st.sampled_from(["/bin/true --flag 'a b'"]),
    "hook_timeout": st.sampled_from([1, 0.5, 60]),
    "lock_dir": st.just("/tmp/virtsnap-locks"),
    "min_free": st.sampled_from(["10%", "20GiB", "1" * 400 + "GiB"]),
}
scalars = st.one_of(
    st.integers(min_value=-2**80, max_value=2**80),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=40),
    st.sampled_from(['echo "unterminated', "99999999999999999999d", "0h", "1x", "1h-1m", "",
                     "!", "[", "web-[", "\0", "Mars/Olympus", "../etc", "a" * 300, "try",
                     "1" * 5000 + "s"]),
)
hostile = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "label"]), inner,
                                                 max_size=3)), max_leaves=6)


def toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def table(keys):
    """Entries of one table: mostly good values of its keys, some hostile, a stray key."""
    entry = st.sampled_from(sorted(keys)).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(GOOD.get(key, hostile), hostile)
                              if key in GOOD else hostile))
    extra = st.tuples(st.sampled_from(["keep.last", "workers", "Label", "keep_secondly"]),
                      hostile)
    return st.lists(st.one_of(entry, entry, entry, extra), max_size=8, unique_by=lambda e: e[0])


@st.composite
def policy_documents(draw):
    lines = []
    if draw(st.booleans()):
        lines.append("[defaults]")
        lines.extend(f"{toml_key(k) if '.' not in k else k} = {toml_value(v)}"
                     for k, v in draw(table(DEFAULT_KEYS)))
    for _ in range(draw(st.integers(1, 3))):
        lines.append("")
        lines.append("[[policy]]")
        entries = draw(table(POLICY_KEYS))
        if draw(st.integers(0, 3)):
            entries = [("label", draw(GOOD["label"]))] + [e for e in entries if e[0] != "label"]
        lines.extend(f"{toml_key(k) if '.' not in k else k} = {toml_value(v)}"
                     for k, v in entries)
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(text=policy_documents())
def test_the_loader_answers_a_valid_plan_or_one_line_naming_file_line_and_key(tmp_path, text):
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message and len(message) < len(str(path)) + 400, message
        assert error.line is not None, message
        if message.startswith(f"{path}:{error.line}: not valid TOML: "):
            return
        assert re.match(rf"{re.escape(str(path))}:{error.line}: key '[^\n]+': ", message), message
        source = text.splitlines()[error.line - 1]
        assert error.key in source or source.startswith("[") or \
            json.dumps(error.key, ensure_ascii=False) in source, (message, source)
        return
    for policy in config.policies:
        decided = plan([OwnedSnapshot(s.name.replace("x", policy.label), s.time, s.is_current)
                        for s in HISTORY], policy, NOW)
        assert set(decided.delete).isdisjoint(decided.keep)
