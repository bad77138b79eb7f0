"""Snapshot policies: reading and checking the TOML configuration.

API::

    load_config(path: str | os.PathLike) -> Config            # raises ConfigError
    parse_config(text: str, filename: str = "<config>") -> Config
    config_from_document(document: Mapping, filename: str = "<document>") -> Config
    parse_interval(text: str) -> timedelta
"""

from __future__ import annotations

import math
import os
import re
import shlex
import sys
from datetime import date, datetime, time, timedelta
from typing import Dict, List, Mapping, Optional, Protocol, Tuple, Type, TypeVar, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9 and 3.10
    import tomli as tomllib

from virtsnap.policy.plan import LABEL_RE, Config, Policy, Retention
from virtsnap.space import parse_threshold

__all__ = ["ConfigError", "config_from_document", "load_config", "parse_config", "parse_interval"]

#: A value of a TOML document, as tomllib reads it.
TomlValue = Union[str, int, float, bool, datetime, date, time, List["TomlValue"],
                  Dict[str, "TomlValue"]]


class ConfigError(ValueError):
    """A configuration that cannot be used; names the file, line and key."""

    def __init__(self, message: str, filename: str, line: Optional[int] = None,
                 key: Optional[str] = None) -> None:
        where = filename if line is None else f"{filename}:{line}"
        super().__init__(f"{where}: {'key ' + repr(key) + ': ' if key else ''}{message}")
        self.filename = filename
        self.line = line
        self.key = key


class _Error(Protocol):
    """Makes the ConfigError of one table, naming the line of ``key``."""

    def __call__(self, message: str, key: Optional[str] = None) -> ConfigError: ...


_INTERVAL_RE = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_INTERVAL = 100 * 366 * 86400   # seconds: a century
MAX_HOOK_TIMEOUT = 7 * 86400       # seconds: a week
MAX_COUNT = 1_000_000              # of any keep_* option
MAX_LABEL = 64                     # characters
DEFAULT_KEYS = {"uri", "timezone", "hook_timeout", "lock_dir", "min_free"}
POLICY_KEYS = {"label", "uris", "domains", "interval", "quiesce", "disk_only", "group",
               "pre_hook", "post_hook", "hook_timeout", "timezone", "min_free",
               *Retention().counts()}


def _unknown_key(key: str, known: "set[str]") -> str:
    """The message for an unknown key: the closest known keys, or all of them."""
    import difflib
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    if close:
        return f"unknown key (did you mean {' or '.join(map(repr, close))}?)"
    return f"unknown key (known: {', '.join(sorted(known))})"


def parse_interval(text: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"1d"``, ``"1w"`` or sums like ``"1h30m"``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"bad interval {text!r} (use e.g. 30m, 1h, 1d, 1w)")
    seconds, position = 0, 0
    while position < len(text):
        match = _INTERVAL_RE.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"bad interval {_show(text)} (use e.g. 30m, 1h, 1d, 1w)")
        digits = match.group(1).lstrip("0") or "0"
        if len(digits) > len(str(MAX_INTERVAL)):
            seconds = MAX_INTERVAL + 1
            break
        seconds += int(digits) * _UNITS[match.group(2).lower()]
        position = match.end()
    if seconds <= 0:
        raise ValueError(f"interval must be positive: {_show(text)}")
    if seconds > MAX_INTERVAL:
        raise ValueError(f"interval too long (at most 100 years): {_show(text)}")
    return timedelta(seconds=seconds)


def _show(value: object, limit: int = 60) -> str:
    """``repr(value)``, shortened: a message stays one short line whatever the input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]}"


def _kind_problem(value: object, *kinds: type) -> str:
    """The message for a value of none of ``kinds``."""
    names = " or ".join(kind.__name__ for kind in kinds)
    return f"must be {names}, not {type(value).__name__} {_show(value)}"


def _seconds(value: TomlValue, error: _Error) -> float:
    """A hook timeout in seconds; the ConfigError of key hook_timeout for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise error(f"must be a number of seconds, not {type(value).__name__} {_show(value)}",
                    "hook_timeout")
    if not math.isfinite(value) or not 0 < value <= MAX_HOOK_TIMEOUT:
        raise error(f"must be a number of seconds above 0 and at most {MAX_HOOK_TIMEOUT}, "
                    f"not {_show(value)}", "hook_timeout")
    return float(value)


def _threshold_problem(value: object) -> Optional[str]:
    """Why ``value`` is no free-space threshold ("10%", "20GiB"), or None."""
    try:
        amount = parse_threshold(value)[1] if isinstance(value, str) else math.nan
    except (ValueError, OverflowError):
        amount = math.nan
    if not math.isfinite(amount):
        return f"bad free space {_show(value)} (use e.g. 10% or 20GiB)"
    return None


def _text_problem(value: object) -> Optional[str]:
    """Why ``value`` is no string libvirt or the system can take, or None."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__} {_show(value)}"
    if "\0" in value:
        return f"must not contain NUL: {_show(value)}"
    return None


class _Locator:
    """Finds the line of a key in the TOML text (tomllib gives no positions)."""

    _HEADER = re.compile(r"\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str) -> None:
        self.tables: List[Tuple[str, int, List[str]]] = []  # (name, header line, lines)
        current: Tuple[str, int, List[str]] = ("", 0, [])
        self.tables.append(current)
        for number, line in enumerate(text.splitlines(), 1):
            header = self._HEADER.match(line)
            if header and not line.lstrip().startswith("#"):
                current = (header.group(1).strip("\"'"), number, [])
                self.tables.append(current)
            current[2].append(line)

    def line(self, table: str, index: int = 0, key: Optional[str] = None) -> Optional[int]:
        """Line of ``key`` in the ``index``-th table named ``table`` (or of its header)."""
        matches = [entry for entry in self.tables if entry[0] == table]
        if index >= len(matches):
            return None
        name, start, lines = matches[index]
        if key is not None:
            pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*[=.]")
            for offset, line in enumerate(lines):
                if pattern.match(line):
                    return start + offset if start else offset + 1
        return start or None


def load_config(path: Union[str, "os.PathLike[str]"]) -> Config:
    """Read and check a TOML policy file; :class:`ConfigError` names file, line, key."""
    filename = os.fspath(path)
    try:
        with open(filename, encoding="utf-8") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", filename) from None
    return parse_config(text, filename)


def parse_config(text: str, filename: str = "<config>") -> Config:
    """Parse the text of a policy file (see :func:`load_config`)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", filename,
                          int(found.group(1)) if found else None) from None
    return config_from_document(document, filename, _Locator(text))


def config_from_document(document: Mapping[str, TomlValue], filename: str = "<document>",
                         where: Optional["_Locator"] = None) -> Config:
    """A Config from the tables of a policy file already read (e.g. YAML from Ansible).

    ``where`` finds lines in the source text; without it errors name no line.
    """
    if not isinstance(document, Mapping):
        raise ConfigError(f"must be a table, not {type(document).__name__}", filename)
    where = where if where is not None else _Locator("")

    def error(message: str, table: str, index: int = 0, key: Optional[str] = None) -> ConfigError:
        return ConfigError(message, filename, where.line(table, index, key), key)

    for key in document:
        if key not in ("defaults", "policy"):
            raise ConfigError("unknown key (expected [defaults] and [[policy]] tables)",
                              filename, where.line("", 0, key) or where.line(key), key)
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise error("must be a table", "", 0, "defaults")
    _check_defaults(defaults, lambda message, key=None: error(message, "defaults", 0, key))
    tables = document.get("policy", [])
    if not isinstance(tables, list) or not tables:
        raise error("at least one [[policy]] table is needed", "", 0,
                    "policy" if "policy" in document else None)
    lock_dir = defaults.get("lock_dir")  # a string, or absent: checked with the defaults
    policies = []
    labels: Dict[str, int] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise error(f"each policy must be a table, not {type(table).__name__} "
                        f"{_show(table)}", "", 0, "policy")
        policy = _policy(table, defaults, lambda message, key=None, i=index:
                         error(message, "policy", i, key))
        if policy.label in labels:
            raise error(f"label {policy.label!r} is also used by policy {labels[policy.label] + 1}",
                        "policy", index, "label")
        labels[policy.label] = index
        policies.append(policy)
    return Config(tuple(policies), filename, lock_dir if isinstance(lock_dir, str) else None)


def _glob_problem(glob: object) -> Optional[str]:
    """Why ``glob`` is no domain glob, or None: fnmatch would take a lone "[" literally."""
    if not isinstance(glob, str):
        return "not a string"
    pattern = glob[1:] if glob.startswith("!") else glob
    if not pattern or pattern.startswith("!"):
        return "empty" if not pattern else "a second '!'"
    if "\0" in pattern or "/" in pattern:
        return "domain names have no '/' or NUL"
    position = 0
    while True:
        position = pattern.find("[", position)
        if position < 0:
            return None
        end = pattern.find("]", position + 2 if pattern[position + 1:position + 2] in "!]" else
                           position + 1)
        if end < 0:
            return "'[' without a closing ']'"
        position = end + 1


def _check_defaults(defaults: Mapping[str, TomlValue], error: _Error) -> None:
    for key in defaults:
        if key not in DEFAULT_KEYS:
            raise error(_unknown_key(key, DEFAULT_KEYS), key)
    for key in ("uri", "timezone", "lock_dir"):
        problem = _text_problem(defaults[key]) if key in defaults else None
        if problem:
            raise error(problem, key)
    zone = defaults.get("timezone")
    if isinstance(zone, str):
        _zone(zone, error)
    problem = _threshold_problem(defaults["min_free"]) if "min_free" in defaults else None
    if problem:
        raise error(problem, "min_free")
    _seconds(defaults.get("hook_timeout", 60), error)


def _zone(name: str, error: _Error) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise error(f"unknown timezone {_show(name)}", "timezone") from None


_Kind = TypeVar("_Kind", str, int, bool)
_Default = TypeVar("_Default")


def _command(value: Optional[TomlValue], key: str, error: _Error) -> Optional[Tuple[str, ...]]:
    """A hook's argv from a command line (split as a shell would) or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            argv: List[TomlValue] = list(shlex.split(value))
        except ValueError as exc:
            raise error(f"cannot split the command line ({exc}); give a list of strings",
                        key) from None
    elif isinstance(value, list):
        argv = value
    else:
        raise error(_kind_problem(value, str, list), key)
    args = tuple(arg for arg in argv if isinstance(arg, str) and "\0" not in arg)
    if len(args) != len(argv) or not args or not args[0]:
        raise error("must be a command line or a non-empty list of strings without NUL", key)
    return args


def _policy(table: Mapping[str, TomlValue], defaults: Mapping[str, TomlValue],
            error: _Error) -> Policy:
    for key in table:
        if key not in POLICY_KEYS:
            raise error(_unknown_key(key, POLICY_KEYS), key)
    if "label" not in table:
        raise error("is missing: each policy needs one", "label")

    def get(key: str, kind: Type[_Kind], default: _Default) -> Union[_Kind, _Default]:
        value = table[key] if key in table else defaults.get(key)
        if value is None:
            return default
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        raise error(_kind_problem(value, kind), key)

    def items(key: str) -> Optional[List[TomlValue]]:
        value = table.get(key)
        if value is None or isinstance(value, list):
            return value
        raise error(_kind_problem(value, list), key)

    label = get("label", str, "")
    if not LABEL_RE.match(label) or len(label) > MAX_LABEL:
        raise error(f"must match [a-z0-9_]+, at most {MAX_LABEL} characters: {_show(label)}",
                    "label")
    counts = {}
    for key in Retention().counts():
        value = get(key, int, 0)
        if value < 0:
            raise error(f"must not be negative: {_show(value)}", key)
        if value > MAX_COUNT:
            raise error(f"must be at most {MAX_COUNT}: {_show(value)}", key)
        counts[key] = value
    interval = None
    if "interval" in table:
        try:
            interval = parse_interval(get("interval", str, ""))
        except ValueError as exc:
            raise error(str(exc), "interval") from None
    listed = items("uris")
    default_uri = defaults.get("uri")  # a string, or absent: checked with the defaults
    uris: Tuple[Optional[str], ...] = tuple(
        uri for uri in listed or () if isinstance(uri, str) and uri and "\0" not in uri)
    if listed is None:
        uris = (default_uri if isinstance(default_uri, str) else None,)
    elif not uris or len(uris) != len(listed):
        raise error("must be a non-empty list of URIs", "uris")
    domains = []
    for glob in items("domains") or ():
        problem = _glob_problem(glob)
        if problem or not isinstance(glob, str):
            raise error(f"bad glob {_show(glob)}: {problem}", "domains")
        domains.append(glob)
    quiesce = table.get("quiesce", False)
    if not isinstance(quiesce, (bool, str)) or quiesce not in (True, False, "try"):
        raise error(f'must be true, false or "try", not {_show(quiesce)}', "quiesce")
    hooks = {key: _command(table.get(key), key, error) for key in ("pre_hook", "post_hook")}
    group = get("group", bool, False)
    if group and (hooks["pre_hook"] or hooks["post_hook"]):
        raise error("hooks run per domain; they cannot be combined with group = true", "group")
    hook_timeout = _seconds(table.get("hook_timeout", defaults.get("hook_timeout", 60)), error)
    zone = get("timezone", str, "UTC")
    _zone(zone, error)
    min_free = get("min_free", str, None)
    problem = None if min_free is None else _threshold_problem(min_free)
    if problem:
        raise error(problem, "min_free")
    return Policy(label=label, retention=Retention(**counts), interval=interval,
                  uris=uris, domains=tuple(domains), quiesce=quiesce,
                  disk_only=get("disk_only", bool, False), pre_hook=hooks["pre_hook"],
                  post_hook=hooks["post_hook"], hook_timeout=hook_timeout,
                  timezone=zone, min_free=min_free, group=group)
