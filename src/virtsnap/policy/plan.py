"""Snapshot policies: the model and the pure retention planner.

``virtsnap auto`` takes snapshots on a schedule and prunes them with
Proxmox Backup Server's retention rules. This module plans what to create
and delete and touches nothing; :mod:`virtsnap.policy.config` reads the TOML
configuration and :mod:`virtsnap.policy.run` applies a plan through libvirt.

API (the Ansible module ``snapshot_policy`` builds on it)::

    Retention(keep_last=0, keep_hourly=0, keep_daily=0, keep_weekly=0,
              keep_monthly=0, keep_yearly=0)                 # .keeps_all
    Policy(label, retention, interval, uris, domains, quiesce, disk_only,
           pre_hook, post_hook, hook_timeout, timezone, group)  # .selects(domain_name)
    snapshot_name(label: str, when: datetime) -> str          # auto-<label>-%Y%m%dT%H%M%SZ
    owned_time(label: str, name: str) -> datetime | None      # the time in an owned name
    OwnedSnapshot(name: str, time: datetime, is_current: bool = False)
    retain(snapshots, retention, tz) -> dict[name, tuple[reason, ...]]  # kept only
    plan(snapshots, policy, now) -> Plan                      # pure
    future_snapshots(snapshots, now) -> list[name]            # dated after now + CLOCK_SKEW
    select(globs, domain_name) -> bool                        # fnmatch, "!" excludes
    group_history(histories) -> list[OwnedSnapshot]           # group = true: one per point
    Plan(label, create: str | None, keep: dict[name, reasons], delete: list[name])
    Plan(label, create: str | None, keep: dict[name, reasons], delete: list[name],
         future: list[name])

``snapshots`` are the label's owned snapshots (any order) with their times
from libvirt's ``creationTime``; ``tz`` a :class:`zoneinfo.ZoneInfo`.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CLOCK_SKEW",
    "PERIODS",
    "Config",
    "OwnedSnapshot",
    "Plan",
    "Policy",
    "Retention",
    "group_history",
    "future_snapshots",
    "owned_time",
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
#: ``(name, period key of a local time)`` for hourly, daily, weekly, monthly, yearly.
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
#: A snapshot dated further than this after "now" has a date from a clock that was
#: ahead (or this one was stepped back): it is reported and does not delay the schedule.
CLOCK_SKEW = timedelta(minutes=5)



@dataclass(frozen=True)
class Retention:
    """How many snapshots (or periods) each option keeps; all zero keeps all."""

    #: Keep the N newest.
    keep_last: int = 0
    #: Keep the newest of each of the N latest hours that have a snapshot.
    keep_hourly: int = 0
    #: Keep the newest of each of the N latest days that have a snapshot.
    keep_daily: int = 0
    #: Keep the newest of each of the N latest ISO weeks that have a snapshot.
    keep_weekly: int = 0
    #: Keep the newest of each of the N latest months that have a snapshot.
    keep_monthly: int = 0
    #: Keep the newest of each of the N latest years that have a snapshot.
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
        """True when no option is set: everything is kept."""
        return not any(self.counts().values())


@dataclass(frozen=True)
class Policy:
    """One ``[[policy]]`` table: which domains, how often, what to keep."""

    #: Names the owned snapshots ``auto-<label>-<UTC time>``; ``[a-z0-9_]+``.
    label: str
    #: What to keep of the owned snapshots.
    retention: Retention = field(default_factory=Retention)
    #: How old the newest owned snapshot may get before a new one is due.
    interval: Optional[timedelta] = None      # None: never create, only prune
    #: The hosts, as libvirt URIs.
    uris: Tuple[Optional[str], ...] = (None,)  # None: libvirt's default URI
    #: Which domains, as globs.
    domains: Tuple[str, ...] = ()              # fnmatch globs, "!glob" excludes
    #: Freeze the guest's file systems: True, False or "try" (fall back without).
    quiesce: Union[bool, str] = False          # True, False or "try"
    #: Take external disk-only snapshots (``CREATE_DISK_ONLY``).
    disk_only: bool = False
    #: Command run before the snapshot; a non-zero exit skips the domain.
    pre_hook: Optional[Tuple[str, ...]] = None
    #: Command run after the snapshot whenever the pre_hook succeeded.
    post_hook: Optional[Tuple[str, ...]] = None
    #: Seconds before a hook's process group is killed.
    hook_timeout: float = 60.0
    #: The zone in which hours, days, weeks, months and years are counted.
    timezone: str = "UTC"
    #: Free space each disk needs for a snapshot to be taken: ``"10%"`` or ``"20GiB"``.
    min_free: Optional[str] = None
    #: Take the selected domains of each URI as one group (one point in time).
    group: bool = False

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
        """:attr:`timezone` as a ``zoneinfo.ZoneInfo``."""
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

    #: The ``[[policy]]`` tables, in the file's order.
    policies: Tuple[Policy, ...]
    #: The file it was read from, for messages.
    filename: str = "<config>"
    #: ``[defaults] lock_dir``: where the per-domain lock files go.
    lock_dir: Optional[str] = None


@dataclass(frozen=True)
class OwnedSnapshot:
    """A snapshot owned by a label, with its time from libvirt's creationTime."""

    #: The snapshot's name.
    name: str
    #: Its ``creationTime``, aware, in UTC.
    time: datetime
    #: Whether it is the domain's current snapshot.
    is_current: bool = False


@dataclass
class Plan:
    """What a run does for one domain and label.

    ``keep`` maps each kept name to its reasons ("last", "hourly", ...,
    "all" when no option is set, "current" when only being current keeps
    it, "new" for the snapshot to create); ``delete`` is oldest first.
    """

    #: The policy's label.
    label: str
    #: The name of the snapshot to take, or None when none is due.
    create: Optional[str]
    #: Each kept name with its reasons.
    keep: Dict[str, Tuple[str, ...]]
    #: The names to delete, oldest first.
    delete: List[str]
    #: The names dated after now + CLOCK_SKEW (a clock ahead or stepped back), newest first.
    future: List[str] = field(default_factory=list)


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


def group_history(histories: Sequence[Sequence[OwnedSnapshot]]) -> List[OwnedSnapshot]:
    """A group's points in time from its members' histories: retention counts each once.

    One snapshot per name found on any member, at the earliest of its
    members' times, current when it is current on any member.
    """
    points: Dict[str, OwnedSnapshot] = {}
    for history in histories:
        for snap in history:
            known = points.get(snap.name)
            if known is None:
                points[snap.name] = snap
            else:
                points[snap.name] = OwnedSnapshot(snap.name, min(known.time, snap.time),
                                                  known.is_current or snap.is_current)
    return list(points.values())


def _newest_first(snapshots: Sequence[OwnedSnapshot]) -> List[OwnedSnapshot]:
    return sorted(snapshots, key=lambda snap: (snap.time, snap.name), reverse=True)


def retain(snapshots: Sequence[OwnedSnapshot], retention: Retention,
           tz: tzinfo = timezone.utc) -> Dict[str, Tuple[str, ...]]:
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
    timer firing a little early does not skip a whole period. Snapshots dated
    in the future (beyond :data:`CLOCK_SKEW`) do not count: the schedule runs
    on ``now``.
    """
    if interval is None:
        return False
    times = [snap.time for snap in snapshots if snap.time <= now + CLOCK_SKEW]
    if not times:
        return True
    return now - max(times) >= interval - interval / DUE_EARLY


def future_snapshots(snapshots: Sequence[OwnedSnapshot], now: datetime) -> List[str]:
    """Names of the snapshots dated after ``now`` + :data:`CLOCK_SKEW`, newest first."""
    return [snap.name for snap in _newest_first(snapshots) if snap.time > now + CLOCK_SKEW]


def plan(snapshots: Sequence[OwnedSnapshot], policy: Policy, now: datetime) -> Plan:
    """What to create and delete for one domain under ``policy`` at ``now``.

    ``snapshots`` are the label's owned snapshots. When one is due, the new
    snapshot joins the history as the current one before the rules apply; it
    is kept (reason "new") even when a snapshot dated in the future, which
    the rules place as the newest, would leave it out.
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
        keep[create] = keep.get(create, ()) + (NEW,)
    delete = [snap.name for snap in reversed(_newest_first(history)) if snap.name not in keep]
    return Plan(policy.label, create, keep, delete, future_snapshots(snapshots, now))
