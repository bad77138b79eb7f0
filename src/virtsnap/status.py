"""Is every policy on time? A check in the monitoring-plugin convention (Nagios, Icinga, Sensu).

API::

    check(config, *, now=None, workers=4) -> Status
    check_file(path, *, now=None) -> Status        # a bad file is UNKNOWN, never raises
    Status.exit_code, Status.lines(), Status.to_dict()   # STATUS_SCHEMA

For each domain and label, the newest owned snapshot's age is compared with
the policy's ``interval``: none at all, or older than twice the interval, is
CRITICAL. Snapshots the policy's rules no longer keep but which are still
there (deletions that libvirt refused or that failed) are a WARNING, and so
is a disk below the policy's ``min_free`` (the next run will take no
snapshot), and so is a policy that selects no domain on a host. A host
that cannot be reached, or a bad policy file, is UNKNOWN.
The worst state wins, in the order OK, WARNING, UNKNOWN, CRITICAL.

It changes nothing and takes no lock: read-only connections, no pool
refresh (so a pool's free space is as libvirt last measured it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, TypedDict

if TYPE_CHECKING:
    from virtsnap import Domain
    from virtsnap.policy.plan import Config, Policy

__all__ = ["CRITICAL", "OK", "STATUS_SCHEMA", "UNKNOWN", "WARNING", "Check", "CheckDict",
           "Status", "StatusDict", "check", "check_file"]

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
_SEVERITY = {OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3}


class CheckDict(TypedDict):
    """One check as JSON: an item of ``checks`` in ``STATUS_SCHEMA``."""
    uri: Optional[str]
    domain: str
    label: str
    state: str
    owned: int
    newest: Optional[str]
    age_seconds: Optional[float]
    interval_seconds: Optional[float]
    backlog: List[str]
    space: Optional[str]
    problems: List[str]


class StatusDict(TypedDict):
    """``virtsnap status --json``: the document of ``STATUS_SCHEMA``."""
    state: str
    exit_code: int
    summary: str
    checks: List[CheckDict]
    errors: List[str]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@dataclass
class Check:
    """One domain under one label."""

    uri: Optional[str]
    domain: str
    label: str
    state: str = OK
    owned: int = 0
    newest: Optional[datetime] = None
    age: Optional[float] = None                # seconds
    interval: Optional[float] = None           # seconds; None: a prune-only policy
    backlog: List[str] = field(default_factory=list)   # no longer kept, still there
    space: Optional[str] = None                # "ok", "short", None (no min_free)
    problems: List[str] = field(default_factory=list)

    def raise_to(self, state: str, problem: str) -> None:
        if _SEVERITY[state] > _SEVERITY[self.state]:
            self.state = state
        self.problems.append(problem)

    @property
    def name(self) -> str:
        return f"{self.domain} [{self.label}]"

    def to_dict(self) -> CheckDict:
        return {"uri": self.uri, "domain": self.domain, "label": self.label,
                "state": self.state, "owned": self.owned,
                "newest": None if self.newest is None else self.newest.isoformat(),
                "age_seconds": self.age, "interval_seconds": self.interval,
                "backlog": self.backlog, "space": self.space, "problems": self.problems}


@dataclass
class Status:
    checks: List[Check] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)      # UNKNOWN: hosts, the file

    @property
    def state(self) -> str:
        states = [c.state for c in self.checks] + [UNKNOWN] * bool(self.errors)
        return max(states, key=_SEVERITY.__getitem__, default=OK)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.state]

    def summary(self) -> str:
        """The first line: ``VIRTSNAP STATE - ...``, naming what is wrong (or what is fine)."""
        state = self.state
        worst = [c for c in self.checks if c.state == CRITICAL]
        parts = [f"late: {', '.join(f'{c.name} ({c.problems[0]})' for c in worst)}"] \
            if worst else []
        warned = [c for c in self.checks if c.state == WARNING]
        if warned:
            parts.append(f"warning: {', '.join(f'{c.name} ({c.problems[0]})' for c in warned)}")
        parts += self.errors
        if not parts:
            parts = [f"{len(self.checks)} domain/label pair(s) on time"]
        return f"VIRTSNAP {state} - " + "; ".join(parts)

    def lines(self) -> List[str]:
        """The summary, then one line per check (the plugin's long output)."""
        out = [self.summary()]
        for c in self.checks:
            newest = "none" if c.newest is None else f"{_age(c.age or 0)} ago"
            detail = f"{c.owned} owned, newest {newest}"
            if c.interval is not None:
                detail += f", interval {_age(c.interval)}"
            if c.space is not None:
                detail += f", space {c.space}"
            if c.problems:
                detail += ": " + "; ".join(c.problems)
            out.append(f"{c.state} {c.uri or '(default URI)'} {c.name}: {detail}")
        return out

    def to_dict(self) -> StatusDict:
        return {"state": self.state, "exit_code": self.exit_code, "summary": self.summary(),
                "checks": [c.to_dict() for c in self.checks], "errors": self.errors}


_TEXT_OR_NULL = {"type": ["string", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_STATE = {"enum": [OK, WARNING, CRITICAL, UNKNOWN]}

STATUS_SCHEMA: Dict[str, object] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "virtsnap status --json",
    "type": "object", "required": ["state", "exit_code", "summary", "checks", "errors"],
    "properties": {
        "state": _STATE, "exit_code": {"enum": [0, 1, 2, 3]}, "summary": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
        "checks": {"type": "array", "items": {
            "type": "object",
            "required": ["uri", "domain", "label", "state", "owned", "newest", "age_seconds",
                         "interval_seconds", "backlog", "space", "problems"],
            "properties": {
                "uri": _TEXT_OR_NULL, "domain": {"type": "string"}, "label": {"type": "string"},
                "state": _STATE, "owned": {"type": "integer", "minimum": 0},
                "newest": _TEXT_OR_NULL, "age_seconds": _NUMBER_OR_NULL,
                "interval_seconds": _NUMBER_OR_NULL,
                "backlog": {"type": "array", "items": {"type": "string"}},
                "space": {"enum": ["ok", "short", None]},
                "problems": {"type": "array", "items": {"type": "string"}}}}},
    },
}


def _check_domain(dom: Domain, policy: Policy, uri: Optional[str], now: datetime) -> Check:
    import virtsnap
    from virtsnap.policy.plan import plan
    from virtsnap.policy.run import owned_snapshots
    from virtsnap.space import space_guard

    result = Check(uri, dom.name, policy.label)
    try:
        owned = owned_snapshots(dom, policy.label)
        result.owned = len(owned)
        if owned:
            result.newest = max(snap.time for snap in owned)
            result.age = (now - result.newest).total_seconds()
        if policy.interval is not None:
            result.interval = policy.interval.total_seconds()
            if result.newest is None:
                result.raise_to(CRITICAL, "no snapshot")
            elif result.age is not None and result.age > 2 * result.interval:
                result.raise_to(CRITICAL, f"newest {_age(result.age)} old, "
                                          f"interval {_age(result.interval)}")
        result.backlog = plan(owned, replace(policy, interval=None), now).delete
        if result.backlog:
            result.raise_to(WARNING, f"{len(result.backlog)} snapshot(s) the rules no longer "
                                     "keep remain (deletion refused or failed)")
        if policy.min_free is not None:
            short = space_guard(dom, policy.min_free)
            result.space = "ok" if short is None else "short"
            if short is not None:
                result.raise_to(WARNING, short)
    except (virtsnap.LibvirtError, ValueError) as exc:
        result.raise_to(UNKNOWN, f"cannot read: {exc}")
    return result


def check(config: Config, *, now: Optional[datetime] = None, workers: int = 4,
          default_uri: Optional[str] = None) -> Status:
    """The state of every policy of ``config`` on the domains it selects (read-only)."""
    import virtsnap

    now = now or datetime.now(timezone.utc)
    status = Status()
    hosts: Dict[Optional[str], List[Policy]] = {}
    for policy in config.policies:
        for uri in policy.uris:
            hosts.setdefault(uri, []).append(policy)

    def one_host(item: Tuple[Optional[str], List[Policy]]) -> Tuple[List[Check], Optional[str]]:
        uri, policies = item
        shown = uri if uri is not None else default_uri
        try:
            with virtsnap.open(shown, readonly=True) as conn:
                checks = []
                domains = sorted(conn.list_all_domains(), key=lambda d: d.name)
                for policy in policies:
                    chosen = [dom for dom in domains if policy.selects(dom.name)]
                    for dom in chosen:
                        checks.append(_check_domain(dom, policy, shown, now))
                    if not chosen:  # a typo in a glob must not look like "all fine"
                        nothing = Check(shown, "(no domain)", policy.label)
                        nothing.raise_to(WARNING, "the policy selects no domain here")
                        checks.append(nothing)
                return checks, None
        except virtsnap.LibvirtError as exc:
            return [], f"{shown or '(default URI)'} unreachable: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for checks, error in pool.map(one_host, hosts.items()):
            status.checks += checks
            if error:
                status.errors.append(error)
    return status


def check_file(path: str, *, now: Optional[datetime] = None,
               default_uri: Optional[str] = None) -> Status:
    """:func:`check` of a policy file; a file that cannot be used is UNKNOWN."""
    from virtsnap.policy.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        return Status(errors=[f"bad policy file: {exc}"])
    return check(config, now=now, default_uri=default_uri)
