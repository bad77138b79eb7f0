"""Snapshot policies: the configuration and the pure retention planner.

``virtsnap auto`` takes snapshots on a schedule and prunes them with
Proxmox Backup Server's retention rules. This module holds the two parts
that touch nothing: reading a TOML configuration, and planning what to
create and delete. :mod:`virtsnap.policy_run` applies a plan through libvirt.

API (the Ansible module ``snapshot_policy`` builds on it)::

    load_config(path: str | os.PathLike) -> Config            # raises ConfigError
    parse_config(text: str, filename: str = "<config>") -> Config
    Retention(keep_last=0, keep_hourly=0, keep_daily=0, keep_weekly=0,
              keep_monthly=0, keep_yearly=0)                 # .keeps_all
    Policy(label, retention, interval, uris, domains, quiesce, disk_only,
           pre_hook, post_hook, hook_timeout, timezone)       # .selects(domain_name)
    snapshot_name(label: str, when: datetime) -> str          # auto-<label>-%Y%m%dT%H%M%SZ
    owned_time(label: str, name: str) -> datetime | None      # the time in an owned name
    OwnedSnapshot(name: str, time: datetime, is_current: bool = False)
    retain(snapshots, retention, tz) -> dict[name, tuple[reason, ...]]  # kept only
    plan(snapshots, policy, now) -> Plan                      # pure
    select(globs, domain_name) -> bool                        # fnmatch, "!" excludes
    Plan(label, create: str | None, keep: dict[name, reasons], delete: list[name])

``snapshots`` are the label's owned snapshots (any order) with their times
from libvirt's ``creationTime``; ``tz`` a :class:`zoneinfo.ZoneInfo`.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9 and 3.10
    import tomli as tomllib

__all__ = [
    "PERIODS",
    "Config",
    "ConfigError",
    "OwnedSnapshot",
    "Plan",
    "Policy",
    "Retention",
    "load_config",
    "owned_time",
    "parse_config",
    "parse_interval",
    "plan",
    "retain",
    "select",
    "snapshot_name",
]

NAME_PREFIX = "auto-"
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
LABEL_RE = re.compile(r"[a-z0-9_]+\Z")
_OWNED_TIME_RE = re.compile(r"(\d{8}T\d{6}Z)\Z")

# Retention options after keep_last, in the order they apply, with the
# period each one keeps one snapshot of (local time in the policy's zone).
PERIODS: Tuple[Tuple[str, Callable[[datetime], str]], ...] = (
    ("hourly", lambda t: t.strftime("%Y/%m/%d/%H")),
    ("daily", lambda t: t.strftime("%Y/%m/%d")),
    ("weekly", lambda t: t.strftime("%G/%V")),        # ISO weeks, Monday first
    ("monthly", lambda t: t.strftime("%Y/%m")),
    ("yearly", lambda t: t.strftime("%Y")),
)
CURRENT = "current"
DUE_EARLY = 20  # a snapshot is due 1/DUE_EARLY of its interval early
NEW = "new"


class ConfigError(ValueError):
    """A configuration that cannot be used; names the file, line and key."""

    def __init__(self, message: str, filename: str, line: Optional[int] = None,
                 key: Optional[str] = None) -> None:
        where = filename if line is None else f"{filename}:{line}"
        super().__init__(f"{where}: {'key ' + repr(key) + ': ' if key else ''}{message}")
        self.filename = filename
        self.line = line
        self.key = key


@dataclass(frozen=True)
class Retention:
    """How many snapshots (or periods) each option keeps; all zero keeps all."""

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0

    def __post_init__(self) -> None:
        for key, value in self.counts().items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{key} must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{key} must not be negative: {value}")

    def counts(self) -> Dict[str, int]:
        """``{"keep_last": N, "keep_hourly": N, ...}`` in the order they apply."""
        return {"keep_last": self.keep_last,
                **{f"keep_{period}": getattr(self, f"keep_{period}") for period, _ in PERIODS}}

    @property
    def keeps_all(self) -> bool:
        return not any(self.counts().values())


@dataclass(frozen=True)
class Policy:
    """One ``[[policy]]`` table: which domains, how often, what to keep."""

    label: str
    retention: Retention = field(default_factory=Retention)
    interval: Optional[timedelta] = None      # None: never create, only prune
    uris: Tuple[Optional[str], ...] = (None,)  # None: libvirt's default URI
    domains: Tuple[str, ...] = ()              # fnmatch globs, "!glob" excludes
    quiesce: Union[bool, str] = False          # True, False or "try"
    disk_only: bool = False
    pre_hook: Optional[Tuple[str, ...]] = None
    post_hook: Optional[Tuple[str, ...]] = None
    hook_timeout: float = 60.0
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not LABEL_RE.match(self.label):
            raise ValueError(f"label must match [a-z0-9_]+: {self.label!r}")
        if self.quiesce not in (True, False, "try"):
            raise ValueError(f'quiesce must be true, false or "try": {self.quiesce!r}')
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError(f"interval must be positive: {self.interval}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}: {exc}") from None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def selects(self, domain: str) -> bool:
        """Whether the policy's ``domains`` globs select ``domain`` (see :func:`select`)."""
        return select(self.domains, domain)


def select(globs: Sequence[str], domain: str) -> bool:
    """Whether ``domain`` matches a glob (any, when there is none) and no "!" glob."""
    included = [glob for glob in globs if not glob.startswith("!")]
    excluded = [glob[1:] for glob in globs if glob.startswith("!")]
    return ((not included or any(fnmatch.fnmatchcase(domain, g) for g in included))
            and not any(fnmatch.fnmatchcase(domain, g) for g in excluded))


@dataclass(frozen=True)
class Config:
    """A parsed configuration file."""

    policies: Tuple[Policy, ...]
    filename: str = "<config>"
    lock_dir: Optional[str] = None


@dataclass(frozen=True)
class OwnedSnapshot:
    """A snapshot owned by a label, with its time from libvirt's creationTime."""

    name: str
    time: datetime
    is_current: bool = False


@dataclass
class Plan:
    """What a run does for one domain and label.

    ``keep`` maps each kept name to its reasons ("last", "hourly", ...,
    "all" when no option is set, "current" when only being current keeps
    it, "new" for the snapshot to create); ``delete`` is oldest first.
    """

    label: str
    create: Optional[str]
    keep: Dict[str, Tuple[str, ...]]
    delete: List[str]


# ---------------------------------------------------------------- names


def snapshot_name(label: str, when: datetime) -> str:
    """The name a policy gives a snapshot taken at ``when`` (aware datetime)."""
    if when.tzinfo is None:
        raise ValueError("snapshot_name needs an aware datetime")
    return f"{NAME_PREFIX}{label}-{when.astimezone(timezone.utc).strftime(TIME_FORMAT)}"


def owned_time(label: str, name: str) -> Optional[datetime]:
    """The UTC time in ``name`` if ``label`` owns it, else None.

    Ownership is by name only: ``auto-<label>-<%Y%m%dT%H%M%SZ>``.
    """
    prefix = f"{NAME_PREFIX}{label}-"
    if not name.startswith(prefix):
        return None
    stamp = name[len(prefix):]
    if not _OWNED_TIME_RE.match(stamp):
        return None
    try:
        return datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


# ---------------------------------------------------------------- planner


def _newest_first(snapshots: Sequence[OwnedSnapshot]) -> List[OwnedSnapshot]:
    return sorted(snapshots, key=lambda snap: (snap.time, snap.name), reverse=True)


def retain(snapshots: Sequence[OwnedSnapshot], retention: Retention,
           tz: Any = timezone.utc) -> Dict[str, Tuple[str, ...]]:
    """The kept names with the option that keeps each (PBS's prune rules).

    Everything not in the result is to be pruned. The current snapshot
    is kept with reason "current" when no option keeps it.
    """
    ordered = _newest_first(snapshots)
    if retention.keeps_all:
        return {snap.name: ("all",) for snap in ordered}
    kept: Dict[str, str] = {}
    removed: Set[str] = set()
    for snap in ordered[:retention.keep_last]:
        kept[snap.name] = "last"
    for period, period_of in PERIODS:
        count = getattr(retention, f"keep_{period}")
        if not count:
            continue
        local = {snap.name: period_of(snap.time.astimezone(tz)) for snap in ordered}
        already = {local[name] for name in kept}
        taken: Set[str] = set()
        for snap in ordered:
            if snap.name in kept or snap.name in removed:
                continue
            here = local[snap.name]
            if here in already:
                continue
            if here in taken:
                removed.add(snap.name)
                continue
            if len(taken) >= count:
                break
            taken.add(here)
            kept[snap.name] = period
    result = {name: (reason,) for name, reason in kept.items()}
    for snap in ordered:
        if snap.is_current and snap.name not in result:
            result[snap.name] = (CURRENT,)
    return {snap.name: result[snap.name] for snap in ordered if snap.name in result}


def is_due(snapshots: Sequence[OwnedSnapshot], interval: Optional[timedelta],
           now: datetime) -> bool:
    """Whether a new snapshot is due: none yet, or the newest is ``interval`` old.

    "Old" allows 1/20 of the interval early (3 minutes of 1h), so that a
    timer firing a little early does not skip a whole period.
    """
    if interval is None:
        return False
    if not snapshots:
        return True
    return now - max(snap.time for snap in snapshots) >= interval - interval / DUE_EARLY


def plan(snapshots: Sequence[OwnedSnapshot], policy: Policy, now: datetime) -> Plan:
    """What to create and delete for one domain under ``policy`` at ``now``.

    ``snapshots`` are the label's owned snapshots. When one is due, the new
    snapshot joins the history as the current one before the rules apply.
    """
    if now.tzinfo is None:
        raise ValueError("plan needs an aware datetime for now")
    create = None
    history = list(snapshots)
    if is_due(history, policy.interval, now):
        create = snapshot_name(policy.label, now)
        if any(snap.name == create for snap in history):
            create = None
        else:
            history = [OwnedSnapshot(snap.name, snap.time) for snap in history]
            history.append(OwnedSnapshot(create, now, is_current=True))
    keep = retain(history, policy.retention, policy.tz)
    if create is not None:
        keep[create] = keep[create] + (NEW,)
    delete = [snap.name for snap in reversed(_newest_first(history)) if snap.name not in keep]
    return Plan(policy.label, create, keep, delete)


# ---------------------------------------------------------------- configuration

_INTERVAL_RE = re.compile(r"\s*(\d+)\s*([smhdw])\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_KEYS = {"uri", "timezone", "hook_timeout", "lock_dir"}
POLICY_KEYS = {"label", "uris", "domains", "interval", "quiesce", "disk_only",
               "pre_hook", "post_hook", "hook_timeout", "timezone",
               *Retention().counts()}


def parse_interval(text: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"1d"``, ``"1w"`` or sums like ``"1h30m"``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"bad interval {text!r} (use e.g. 30m, 1h, 1d, 1w)")
    seconds, position = 0, 0
    while position < len(text):
        match = _INTERVAL_RE.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"bad interval {text!r} (use e.g. 30m, 1h, 1d, 1w)")
        seconds += int(match.group(1)) * _UNITS[match.group(2).lower()]
        position = match.end()
    if seconds <= 0:
        raise ValueError(f"interval must be positive: {text!r}")
    return timedelta(seconds=seconds)


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
            pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
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
    where = _Locator(text)

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
    lock_dir = defaults.get("lock_dir")
    policies = []
    labels: Dict[str, int] = {}
    for index, table in enumerate(tables):
        policy = _policy(table, defaults, lambda message, key=None, i=index:
                         error(message, "policy", i, key))
        if policy.label in labels:
            raise error(f"label {policy.label!r} is also used by policy {labels[policy.label] + 1}",
                        "policy", index, "label")
        labels[policy.label] = index
        policies.append(policy)
    return Config(tuple(policies), filename, lock_dir)


def _glob_problem(glob: Any) -> Optional[str]:
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


def _check_defaults(defaults: Mapping[str, Any], error: Callable[..., ConfigError]) -> None:
    for key in defaults:
        if key not in DEFAULT_KEYS:
            raise error(f"unknown key (known: {', '.join(sorted(DEFAULT_KEYS))})", key)
    for key in ("uri", "timezone", "lock_dir"):
        if key in defaults and not isinstance(defaults[key], str):
            raise error(f"must be a string, not {defaults[key]!r}", key)
    if "timezone" in defaults:
        _zone(defaults["timezone"], error)
    timeout = defaults.get("hook_timeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise error(f"must be a positive number of seconds, not {timeout!r}", "hook_timeout")


def _zone(name: str, error: Callable[..., ConfigError]) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise error(f"unknown timezone {name!r}: {exc}", "timezone") from None


def _policy(table: Mapping[str, Any], defaults: Mapping[str, Any],
            error: Callable[..., ConfigError]) -> Policy:
    for key in table:
        if key not in POLICY_KEYS:
            raise error(f"unknown key (known: {', '.join(sorted(POLICY_KEYS))})", key)
    if "label" not in table:
        raise error("a policy needs a label", None)

    def get(key: str, kinds: Tuple[type, ...], default: Any = None) -> Any:
        value = table[key] if key in table else defaults.get(key, default)
        if value is not None and (not isinstance(value, kinds)
                                  or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise error(f"must be {names}, not {type(value).__name__} {value!r}", key)
        return value

    label = get("label", (str,))
    if not LABEL_RE.match(label):
        raise error(f"must match [a-z0-9_]+: {label!r}", "label")
    counts = {}
    for key in Retention().counts():
        value = get(key, (int,), 0)
        if value < 0:
            raise error(f"must not be negative: {value}", key)
        counts[key] = value
    interval = None
    if "interval" in table:
        try:
            interval = parse_interval(get("interval", (str,)))
        except ValueError as exc:
            raise error(str(exc), "interval") from None
    uris = get("uris", (list,))
    if uris is None:
        uris = [defaults.get("uri")]
    elif not uris or not all(isinstance(uri, str) and uri for uri in uris):
        raise error("must be a non-empty list of URIs", "uris")
    domains = get("domains", (list,), [])
    for glob in domains:
        problem = _glob_problem(glob)
        if problem:
            raise error(f"bad glob {glob!r}: {problem}", "domains")
    quiesce = table.get("quiesce", False)
    if not (isinstance(quiesce, bool) or quiesce == "try"):
        raise error(f'must be true, false or "try", not {quiesce!r}', "quiesce")
    hooks = {}
    for key in ("pre_hook", "post_hook"):
        hook = get(key, (str, list))
        if isinstance(hook, str):
            hook = shlex.split(hook)
        if hook is not None and (not hook or not all(isinstance(arg, str) for arg in hook)):
            raise error("must be a command line or a non-empty list of strings", key)
        hooks[key] = None if hook is None else tuple(hook)
    hook_timeout = get("hook_timeout", (int, float), 60)
    if hook_timeout <= 0:
        raise error(f"must be positive: {hook_timeout}", "hook_timeout")
    zone = get("timezone", (str,), "UTC")
    _zone(zone, error)
    return Policy(label=label, retention=Retention(**counts), interval=interval,
                  uris=tuple(uris), domains=tuple(domains), quiesce=quiesce,
                  disk_only=get("disk_only", (bool,), False), pre_hook=hooks["pre_hook"],
                  post_hook=hooks["post_hook"], hook_timeout=float(hook_timeout),
                  timezone=zone)
