"""Applying snapshot policies through libvirt: the executor behind ``virtsnap auto``.

:mod:`virtsnap.policy` plans; this module reads the snapshots, takes the
due one (hooks, quiesce), prunes, and reports. Hosts and domains run on a
bounded pool of threads, one connection per URI; a lock file per (URI,
domain) keeps two runs off the same domain.

API::

    run(config, *, labels=None, domains=(), dry_run=False, workers=4,
        lock_wait=60.0, now=None, on_event=None) -> Report
    run_domain(dom, policies, *, uri, dry_run=False, now=None, lock_dir=None,
               lock_wait=60.0, on_event=None) -> DomainReport
    run_group(doms, policy, *, uri, ...same options) -> list[DomainReport]  # group = true
    check_run_options(workers=1, lock_wait=0.0) -> None       # TypeError/ValueError
    owned_snapshots(dom, label) -> list[OwnedSnapshot]
    take_snapshot(dom, policy, name, *, uri, report) -> bool
    delete_snapshots(dom, names, report) -> None
    Report.to_dict() -> dict                 # validates against REPORT_SCHEMA

A failing host or domain never stops the others; ``Report.ok`` is true only
when everything planned succeeded.
"""

from __future__ import annotations

import math
import os
import select as select_io  # virtsnap.policy.plan has a select() of its own
import signal
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, TypedDict

import virtsnap
from virtsnap.info import parse_snapshot_xml
from virtsnap.policy.locks import DomainLock, LockBusy, default_lock_dir, prepare_lock_dir
from virtsnap.policy.plan import (Config, OwnedSnapshot, Policy, group_history, owned_time, plan,
                                  select)
from virtsnap.policy.trust import check_hooks
from virtsnap.space import space_guard

if TYPE_CHECKING:
    from virtsnap import Connection, Domain

__all__ = [
    "REPORT_SCHEMA",
    "DomainLock",
    "DomainReport",
    "Event",
    "HookReport",
    "HostReport",
    "LockBusy",
    "PolicyReport",
    "Report",
    "default_lock_dir",
    "delete_snapshots",
    "owned_snapshots",
    "run",
    "check_run_options",
    "run_domain",
    "run_group",
    "take_snapshot",
]

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
MAX_LOCK_WAIT = 86400.0  # seconds


def check_run_options(workers: object = 1, lock_wait: object = 0.0) -> None:
    """TypeError or ValueError, naming the option, for a bad ``workers`` or ``lock_wait``."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers: must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise ValueError(f"workers: must be at least 1, not {workers}")
    if isinstance(lock_wait, bool) or not isinstance(lock_wait, (int, float)):
        raise TypeError(f"lock_wait: must be a number of seconds, not {type(lock_wait).__name__}")
    if not (math.isfinite(lock_wait) and 0 <= lock_wait <= MAX_LOCK_WAIT):
        raise ValueError(f"lock_wait: must be a number of seconds from 0 to {MAX_LOCK_WAIT:g}, "
                         f"not {lock_wait!r}")


# ---------------------------------------------------------------- the report


class HookDict(TypedDict):
    """A hook in the JSON report."""

    phase: str
    argv: List[str]
    returncode: Optional[int]
    error: Optional[str]


class PlannedDict(TypedDict):
    create: Optional[str]
    delete: List[str]


class KeptDict(TypedDict):
    name: str
    reasons: List[str]


class RefusedDict(TypedDict):
    """A deletion libvirt refused."""

    name: str
    error: str


class PolicyDict(TypedDict):
    """One policy's outcome on one domain in the JSON report."""

    label: str
    status: str
    error: Optional[str]
    due: bool
    planned: PlannedDict
    created: Optional[str]
    deleted: List[str]
    kept: List[KeptDict]
    refused: List[RefusedDict]
    warnings: List[str]
    hooks: List[HookDict]


class DomainDict(TypedDict):
    name: str
    ok: bool
    status: str
    error: Optional[str]
    policies: List[PolicyDict]


class HostDict(TypedDict):
    uri: Optional[str]
    ok: bool
    error: Optional[str]
    domains: List[DomainDict]


class ReportDict(TypedDict):
    """The JSON report of ``virtsnap auto`` and ``prune`` (:data:`REPORT_SCHEMA`)."""

    schema_version: int
    dry_run: bool
    ok: bool
    started: str
    finished: Optional[str]
    hosts: List[HostDict]


@dataclass
class Event:
    """Progress of a run, handed to ``on_event`` from the worker threads.

    ``kind`` is "start", "create", "delete", "warning", "error" or "done".
    """

    #: "start", "create", "delete", "warning", "error" or "done".
    kind: str
    #: The host's URI (None: libvirt's default).
    uri: Optional[str]
    #: The domain's name.
    domain: str
    #: The policy's label, when the event concerns one.
    label: Optional[str] = None
    #: What to show.
    text: str = ""


@dataclass
class HookReport:
    """One hook's run."""

    #: "pre" or "post".
    phase: str
    #: The command that ran.
    argv: List[str]
    #: Its exit status; None when it could not run or timed out.
    returncode: Optional[int] = None
    #: Why it failed, or None.
    error: Optional[str] = None
    #: The last HOOK_OUTPUT_KEPT bytes of its stderr (not in the JSON report).
    stderr: str = ""
    #: How many bytes of stderr came before those.
    stderr_dropped: int = 0

    def to_dict(self) -> HookDict:
        """The report's ``hooks`` entry (see :data:`REPORT_SCHEMA`)."""
        return {"phase": self.phase, "argv": self.argv, "returncode": self.returncode,
                "error": self.error}


@dataclass
class PolicyReport:
    """What happened to one domain under one label."""

    #: The policy's label.
    label: str
    #: "ok", "failed" or "skipped".
    status: str = OK
    #: What failed, or None.
    error: Optional[str] = None
    #: Whether a new snapshot was due.
    due: bool = False
    #: The snapshot the plan takes, or None.
    planned_create: Optional[str] = None
    #: The snapshots the plan deletes (re-planned after a creation).
    planned_delete: List[str] = field(default_factory=list)
    #: The snapshot taken; None in a dry run.
    created: Optional[str] = None
    #: The snapshots deleted, oldest first; empty in a dry run.
    deleted: List[str] = field(default_factory=list)
    #: Each kept name with its reasons.
    kept: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    #: Deletions libvirt refused: ``{"name", "error"}``.
    refused: List[RefusedDict] = field(default_factory=list)
    #: Warnings, such as the quiesce fallback.
    warnings: List[str] = field(default_factory=list)
    #: The hooks that ran.
    hooks: List[HookReport] = field(default_factory=list)
    #: The ``min_free`` guard's verdict: ``"ok"``, ``"short"``, or None when not checked.
    space: Optional[str] = None
    #                               (not in to_dict: the README documents the JSON keys)

    def fail(self, message: str) -> None:
        """Mark it failed, adding ``message`` to :attr:`error`."""
        self.status = FAILED
        self.error = message if self.error is None else f"{self.error}; {message}"

    def to_dict(self) -> PolicyDict:
        """The report's ``policies`` entry (see :data:`REPORT_SCHEMA`)."""
        return {"label": self.label, "status": self.status, "error": self.error,
                "due": self.due,
                "planned": {"create": self.planned_create, "delete": self.planned_delete},
                "created": self.created, "deleted": self.deleted,
                "kept": [{"name": name, "reasons": list(reasons)}
                         for name, reasons in self.kept.items()],
                "refused": self.refused, "warnings": self.warnings,
                "hooks": [hook.to_dict() for hook in self.hooks]}


@dataclass
class DomainReport:
    """What happened to one domain, under every policy that selects it."""

    #: The domain's name.
    name: str
    #: "ok", "failed" or "skipped" (another run holds its lock).
    status: str = OK
    #: What failed, or None.
    error: Optional[str] = None
    #: One report per policy that selects the domain.
    policies: List[PolicyReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the domain and every policy on it succeeded."""
        return self.status == OK and all(p.status == OK for p in self.policies)

    def to_dict(self) -> DomainDict:
        """The report's ``domains`` entry (see :data:`REPORT_SCHEMA`)."""
        return {"name": self.name, "ok": self.ok, "status": self.status, "error": self.error,
                "policies": [policy.to_dict() for policy in self.policies]}


@dataclass
class HostReport:
    """What happened on one host."""

    #: The host's URI (None: libvirt's default).
    uri: Optional[str]
    #: Why the host failed ("cannot connect: ..."), or None.
    error: Optional[str] = None
    #: The domains some policy selects, by name.
    domains: List[DomainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the host and all its domains succeeded."""
        return self.error is None and all(domain.ok for domain in self.domains)

    def to_dict(self) -> HostDict:
        """The report's ``hosts`` entry (see :data:`REPORT_SCHEMA`)."""
        return {"uri": self.uri, "ok": self.ok, "error": self.error,
                "domains": [domain.to_dict() for domain in self.domains]}


@dataclass
class Report:
    """The outcome of a run, per host and domain (``--json`` prints ``to_dict()``)."""

    #: Whether this was a dry run (nothing changed).
    dry_run: bool
    #: When the run started (UTC).
    started: datetime
    #: When it finished, or None while it runs.
    finished: Optional[datetime] = None
    #: One report per host.
    hosts: List[HostReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything planned succeeded (exit status 0)."""
        return all(host.ok for host in self.hosts)

    def to_dict(self) -> ReportDict:
        """The JSON report, valid against :data:`REPORT_SCHEMA`."""
        return {"schema_version": 1, "dry_run": self.dry_run, "ok": self.ok,
                "started": self.started.isoformat(),
                "finished": None if self.finished is None else self.finished.isoformat(),
                "hosts": [host.to_dict() for host in self.hosts]}


_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_STATUS = {"enum": [OK, FAILED, SKIPPED]}
_NAMES = {"type": "array", "items": _TEXT}


def _object(**properties: object) -> Dict[str, object]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


#: JSON Schema (draft 2020-12) of ``virtsnap auto --json`` and ``virtsnap prune --json``.
REPORT_SCHEMA: Dict[str, object] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "virtsnap policy report, schema version 1",
    **_object(
        schema_version={"const": 1},
        dry_run={"type": "boolean"},
        ok={"type": "boolean"},
        started=_TEXT,
        finished=_TEXT_OR_NULL,
        hosts={"type": "array", "items": _object(
            uri=_TEXT_OR_NULL,
            ok={"type": "boolean"},
            error=_TEXT_OR_NULL,
            domains={"type": "array", "items": _object(
                name=_TEXT,
                ok={"type": "boolean"},
                status=_STATUS,
                error=_TEXT_OR_NULL,
                policies={"type": "array", "items": _object(
                    label=_TEXT,
                    status=_STATUS,
                    error=_TEXT_OR_NULL,
                    due={"type": "boolean"},
                    planned=_object(create=_TEXT_OR_NULL, delete=_NAMES),
                    created=_TEXT_OR_NULL,
                    deleted=_NAMES,
                    kept={"type": "array", "items": _object(
                        name=_TEXT,
                        reasons={"type": "array", "items": {"enum": [
                            "all", "last", "hourly", "daily", "weekly", "monthly",
                            "yearly", "current", "new"]}})},
                    refused={"type": "array", "items": _object(name=_TEXT, error=_TEXT)},
                    warnings=_NAMES,
                    hooks={"type": "array", "items": _object(
                        phase={"enum": ["pre", "post"]},
                        argv=_NAMES,
                        returncode={"type": ["integer", "null"]},
                        error=_TEXT_OR_NULL)},
                )},
            )},
        )},
    ),
}


# ---------------------------------------------------------------- one domain


def owned_snapshots(dom: Domain, label: str) -> List[OwnedSnapshot]:
    """The snapshots ``label`` owns on ``dom``, with libvirt's creationTime.

    One bulk XML fetch and one current-snapshot lookup.
    """
    documents = dom.snapshot_xml_descriptions()
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    owned = []
    for name, xml in documents.items():
        if owned_time(label, name) is None:
            continue
        info = parse_snapshot_xml(xml, dom.name)
        owned.append(OwnedSnapshot(name, info.creation_time, name == current))
    return owned


HOOK_OUTPUT_KEPT = 4096  # bytes of a hook's stderr kept for the report: the last ones
_HOOK_POLL = 0.05        # seconds between looks at a hook's exit status


class _Tail:
    """The last ``size`` bytes written to a pipe, and how many came before them."""

    def __init__(self, size: int) -> None:
        self.size, self.data, self.dropped = size, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > self.size:
            excess = len(self.data) - self.size
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> str:
        return self.data.decode(errors="replace")


def _read_available(fd: int, tail: _Tail) -> bool:
    """Read what ``fd`` (non-blocking) holds now into ``tail``; False at end of file."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        tail.add(chunk)


def _run_hook(argv: Sequence[str], phase: str, env: Dict[str, str],
              timeout: float) -> HookReport:
    """Run a hook without a shell in its own process group; killed at ``timeout``.

    Its exit status decides: a child it leaves behind (a daemon it started)
    may keep its stderr open, and is never waited for. Only the last
    :data:`HOOK_OUTPUT_KEPT` bytes of stderr are kept. At the timeout the
    hook's whole process group is killed.
    """
    report = HookReport(phase, list(argv))
    try:
        process = subprocess.Popen(list(argv), env={**os.environ, **env, "VIRTSNAP_PHASE": phase},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        report.error = f"{phase}_hook {argv[0]!r} could not start: {exc.strerror or exc}"
        return report
    tail = _Tail(HOOK_OUTPUT_KEPT)
    assert process.stderr is not None
    fd = process.stderr.fileno()
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    open_pipe = True
    try:
        while process.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
                report.error = (f"{phase}_hook {argv[0]!r} timed out after {timeout:g}s; "
                                "its process group was killed")
                break
            if open_pipe:
                readable, _, _ = select_io.select([fd], [], [], min(left, _HOOK_POLL))
                if readable:
                    open_pipe = _read_available(fd, tail)
            else:
                time.sleep(min(left, _HOOK_POLL))
        if open_pipe:
            _read_available(fd, tail)  # what it wrote before it ended; no wait for EOF
    finally:
        process.stderr.close()
    report.stderr, report.stderr_dropped = tail.text(), tail.dropped
    if report.error is None:
        report.returncode = process.returncode
        if process.returncode != 0:
            last = report.stderr.strip().splitlines()[-1:] or [""]
            report.error = (f"{phase}_hook {argv[0]!r} exited with status {process.returncode}"
                            + (f": {last[0][-_LAST_LINE:]}" if last[0] else ""))
    if report.error is not None and tail.dropped:
        report.error += f" ({tail.dropped} earlier bytes of stderr dropped)"
    return report


_LAST_LINE = 512  # characters of a failing hook's last stderr line in its error


def take_snapshot(dom: Domain, policy: Policy, name: str, *, uri: Optional[str],
                  report: PolicyReport) -> bool:
    """Create ``name`` on ``dom`` with the policy's hooks and quiesce rule.

    A failing pre_hook skips the snapshot; the post_hook runs whenever the
    pre_hook succeeded (``VIRTSNAP_STATUS`` says whether the snapshot was
    taken). Returns whether the snapshot exists; failures go to ``report``.
    """
    env = {"VIRTSNAP_URI": uri or "", "VIRTSNAP_DOMAIN": dom.name,
           "VIRTSNAP_LABEL": policy.label, "VIRTSNAP_SNAPSHOT": name}
    if policy.pre_hook:
        hook = _run_hook(policy.pre_hook, "pre", env, policy.hook_timeout)
        report.hooks.append(hook)
        if hook.error:
            report.fail(f"{hook.error}; no snapshot taken")
            return False
    from virtsnap import external  # keeps an NVRAM copy beside an external snapshot

    flags = virtsnap.CreateFlags.DISK_ONLY if policy.disk_only else virtsnap.CreateFlags(0)
    description = f"taken by virtsnap auto, policy {policy.label}"
    created = False
    try:
        try:
            quiesce = virtsnap.CreateFlags.QUIESCE if policy.quiesce else 0
            external.create(dom, name=name, description=description, flags=flags | quiesce)
        except virtsnap.LibvirtError as exc:
            if policy.quiesce != "try":
                raise
            report.warnings.append(f"quiesce failed ({exc}); snapshot {name} taken without "
                                   "quiesce: its file systems may not be consistent")
            external.create(dom, name=name, description=description, flags=flags)
        created = True
        report.created = name
    except virtsnap.LibvirtError as exc:
        report.fail(f"cannot create snapshot {name}: {exc}")
    if policy.post_hook:
        hook = _run_hook(policy.post_hook, "post", {**env, "VIRTSNAP_STATUS":
                                                    "ok" if created else "failed"},
                         policy.hook_timeout)
        report.hooks.append(hook)
        if hook.error:
            report.fail(hook.error)
    return created


def delete_snapshots(dom: Domain, names: Sequence[str], report: PolicyReport,
                     on_event: Optional[Callable[[Event], None]] = None,
                     uri: Optional[str] = None) -> None:
    """Delete ``names`` with libvirt's normal delete (children are re-parented),
    through :func:`virtsnap.external.delete`, which also deletes the external
    snapshots this libvirt refuses to (libvirt 7.0 deletes none).

    A deletion refused anyway is recorded in ``report.refused``, never
    forced; the others go on.
    """
    from virtsnap import external

    for name in names:
        try:
            external.delete(dom.get_snapshot_by_name(name))
        except virtsnap.SnapshotNotFoundError:
            report.warnings.append(f"snapshot {name} was already gone")
            continue
        except virtsnap.LibvirtError as exc:
            report.refused.append({"name": name, "error": str(exc)})
            report.fail(f"libvirt refused to delete {name}")
            continue
        report.deleted.append(name)
        if on_event:
            on_event(Event("delete", uri, dom.name, report.label, name))


def _apply_policy(dom: Domain, policy: Policy, uri: Optional[str], dry_run: bool,
                  now: datetime, on_event: Optional[Callable[[Event], None]]) -> PolicyReport:
    report = PolicyReport(policy.label)
    history = owned_snapshots(dom, policy.label)
    first = plan(history, policy, now)
    report.due, report.planned_create = first.create is not None, first.create
    report.planned_delete, report.kept = first.delete, first.keep
    for name in first.future:
        snap = next(snap for snap in history if snap.name == name)
        report.warnings.append(
            f"snapshot {name} is dated {snap.time.isoformat()}, after now "
            f"({now.isoformat(timespec='seconds')}): a clock was ahead or was stepped back; "
            "the schedule runs on now and retention counts it as the newest")
    if dry_run:
        return report
    short = space_guard(dom, policy.min_free) if (
        first.create is not None and policy.min_free is not None) else None
    if policy.min_free is not None and first.create is not None:
        report.space = "ok" if short is None else "short"
    if short is not None:
        report.fail(f"{short}; no snapshot taken")
        # Pruning still frees space, by the rules applied to what exists (the
        # first plan counted the snapshot not taken among those kept).
        final = plan(history, replace(policy, interval=None), now)
        report.planned_delete, report.kept = final.delete, final.keep
    elif first.create is not None:
        if on_event:
            on_event(Event("create", uri, dom.name, policy.label, first.create))
        if not take_snapshot(dom, policy, first.create, uri=uri, report=report):
            return report  # no pruning when the new snapshot could not be taken
        # The rules apply to the history plus the new snapshot, with its real time
        # (the lock keeps other runs away meanwhile, so only the new one is read).
        xml = dom.get_snapshot_by_name(first.create).get_xml_description()
        history = [OwnedSnapshot(snap.name, snap.time) for snap in history]
        history.append(OwnedSnapshot(first.create, parse_snapshot_xml(xml, dom.name).creation_time,
                                     dom.current_snapshot().name == first.create))
        final = plan(history, replace(policy, interval=None), now)
        # Never prune what this run just took (a snapshot dated in the future is newer).
        final.keep[first.create] = final.keep.get(first.create, ()) + ("new",)
        final.delete = [name for name in final.delete if name != first.create]
        report.planned_delete, report.kept = final.delete, final.keep
    delete_snapshots(dom, report.planned_delete, report, on_event, uri)
    return report


def run_domain(dom: Domain, policies: Sequence[Policy], *, uri: Optional[str],
               dry_run: bool = False, now: Optional[datetime] = None,
               lock_dir: Optional[str] = None, lock_wait: float = 60.0,
               on_event: Optional[Callable[[Event], None]] = None) -> DomainReport:
    """Apply ``policies`` to one domain under its lock (none in a dry run)."""
    check_run_options(lock_wait=lock_wait)
    report = DomainReport(dom.name)
    if on_event:
        on_event(Event("start", uri, dom.name))
    lock: AbstractContextManager[object] = (
        DomainLock(lock_dir or default_lock_dir(), uri, dom.name, lock_wait)
        if not dry_run else nullcontext())
    try:
        with lock:
            for policy in policies:
                try:
                    result = _apply_policy(dom, policy, uri, dry_run,
                                           now or datetime.now(timezone.utc), on_event)
                except (virtsnap.LibvirtError, ValueError) as exc:
                    result = PolicyReport(policy.label)
                    result.fail(str(exc))
                report.policies.append(result)
                if on_event:
                    for text in result.warnings:
                        on_event(Event("warning", uri, dom.name, policy.label, text))
                    if result.error:
                        on_event(Event("error", uri, dom.name, policy.label, result.error))
    except LockBusy as exc:
        report.status, report.error = SKIPPED, str(exc)
    except OSError as exc:
        report.status, report.error = FAILED, f"lock: {exc}"
    if on_event:
        if report.error:
            on_event(Event("error", uri, dom.name, None, report.error))
        on_event(Event("done", uri, dom.name))
    return report


class _Options(TypedDict):
    """The keyword options of :func:`run_domain` and :func:`run_group`."""

    uri: Optional[str]
    dry_run: bool
    now: Optional[datetime]
    lock_dir: Optional[str]
    lock_wait: float
    on_event: Optional[Callable[[Event], None]]


def _guarded_run_domain(dom: Domain, policies: Sequence[Policy],
                        options: _Options) -> List[DomainReport]:
    """:func:`run_domain`, with any other failure reported so that the others go on."""
    try:
        return [run_domain(dom, policies, **options)]
    except Exception as exc:  # noqa: BLE001 - one domain's bug must not end the run
        return [DomainReport(dom.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")]


# ---------------------------------------------------------------- a group (group = true)


def run_group(doms: Sequence[Domain], policy: Policy, *, uri: Optional[str],
              dry_run: bool = False, now: Optional[datetime] = None,
              lock_dir: Optional[str] = None, lock_wait: float = 60.0,
              on_event: Optional[Callable[[Event], None]] = None) -> List[DomainReport]:
    """Apply a ``group = true`` policy to ``doms`` as one group (virtsnap.group).

    The plan counts each point in time once (:func:`~virtsnap.policy.plan.group_history`); the due
    snapshot is one group snapshot of every member, or of none; pruning
    deletes a point in time from every member that holds it. The members'
    locks are taken in name order. One DomainReport per member.
    """
    from virtsnap.group import GroupError, group_create

    reports = [DomainReport(dom.name, policies=[PolicyReport(policy.label)]) for dom in doms]
    results = [report.policies[0] for report in reports]
    when = now or datetime.now(timezone.utc)

    def fail(message: str) -> None:
        for result in results:
            result.fail(message)

    with ExitStack() as held:
        try:
            if not dry_run:
                for dom in sorted(doms, key=lambda d: d.name):
                    held.enter_context(DomainLock(lock_dir or default_lock_dir(), uri, dom.name,
                                                  lock_wait))
        except LockBusy as exc:
            for report in reports:
                report.status, report.error = SKIPPED, str(exc)
            return reports
        except OSError as exc:
            for report in reports:
                report.status, report.error = FAILED, f"lock: {exc}"
            return reports
        try:
            histories = [owned_snapshots(dom, policy.label) for dom in doms]
            first = plan(group_history(histories), policy, when)
            for result in results:
                result.due, result.planned_create = first.create is not None, first.create
                result.planned_delete, result.kept = list(first.delete), dict(first.keep)
            if dry_run:
                return reports
            if first.create is not None:
                if on_event:
                    for dom in doms:
                        on_event(Event("create", uri, dom.name, policy.label, first.create))
                description = f"taken by virtsnap auto, policy {policy.label}"
                try:
                    try:
                        group_create(doms, first.create, description=description,
                                     quiesce=bool(policy.quiesce), disk_only=policy.disk_only)
                    except GroupError as exc:
                        if policy.quiesce != "try":
                            raise
                        for result in results:
                            result.warnings.append(
                                f"quiesce failed ({exc}); group snapshot {first.create} taken "
                                "without quiesce: its file systems may not be consistent")
                        group_create(doms, first.create, description=description,
                                     disk_only=policy.disk_only)
                except GroupError as exc:
                    fail(f"cannot create group snapshot {first.create}: {exc}")
                    return reports  # no pruning when the new snapshot could not be taken
                histories = [owned_snapshots(dom, policy.label) for dom in doms]
                final = plan(group_history(histories), replace(policy, interval=None), when)
                if first.create in final.keep:
                    final.keep[first.create] += ("new",)
                for result in results:
                    result.created = first.create
                    result.planned_delete, result.kept = list(final.delete), dict(final.keep)
            for dom, history, result in zip(doms, histories, results):
                held_names = {snap.name for snap in history}
                delete_snapshots(dom, [name for name in result.planned_delete
                                       if name in held_names], result, on_event, uri)
        except (virtsnap.LibvirtError, ValueError) as exc:
            fail(str(exc))
    if on_event:
        for dom, result in zip(doms, results):
            if result.error:
                on_event(Event("error", uri, dom.name, policy.label, result.error))
            on_event(Event("done", uri, dom.name))
    return reports


def _guarded_run_group(doms: Sequence[Domain], policy: Policy,
                       options: _Options) -> List[DomainReport]:
    """:func:`run_group`, with any other failure reported so that the others go on."""
    try:
        return run_group(doms, policy, **options)
    except Exception as exc:  # noqa: BLE001 - one group's bug must not end the run
        return [DomainReport(dom.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")
                for dom in doms]


def _add_domain(host: HostReport, report: DomainReport) -> None:
    """One entry per domain: a group policy's report joins the domain's other policies."""
    for known in host.domains:
        if known.name == report.name:
            known.policies.extend(report.policies)
            if known.status == OK and report.status != OK:
                known.status, known.error = report.status, report.error
            return
    host.domains.append(report)


# ---------------------------------------------------------------- a whole run


def _hosts(config: Config, labels: Optional[Sequence[str]]) -> Dict[Optional[str], List[Policy]]:
    hosts: Dict[Optional[str], List[Policy]] = {}
    for policy in config.policies:
        if labels is None or policy.label in labels:
            for uri in policy.uris:
                hosts.setdefault(uri, []).append(policy)
    return hosts


def run(config: Config, *, labels: Optional[Sequence[str]] = None,
        domains: Sequence[str] = (), dry_run: bool = False, workers: int = 4,
        lock_wait: float = 60.0, now: Optional[datetime] = None,
        on_event: Optional[Callable[[Event], None]] = None,
        default_uri: Optional[str] = None, readonly: bool = False) -> Report:
    """One run of every policy (or those of ``labels``) on the domains they select.

    ``domains`` further restricts the domains (globs, "!" excludes).
    ``default_uri`` stands for policies without a URI; ``readonly`` opens every
    connection read-only (libvirt then refuses each change, and the report says so). At most ``workers``
    threads connect and work at once; each URI has one connection.
    Raises :class:`virtsnap._files.UnsafeFileError` ("PATH: reason"), before
    connecting, for a lock directory others could write or, as root, for a
    hook executable others could change (:mod:`virtsnap.policy.trust`).
    """
    check_run_options(workers, lock_wait)
    lock_dir = config.lock_dir or default_lock_dir()
    check_hooks(config)  # as root; raises UnsafeFileError before anything is touched
    if not dry_run:
        prepare_lock_dir(lock_dir)
    report = Report(dry_run, datetime.now(timezone.utc))
    hosts = _hosts(config, labels)
    lock = threading.Lock()
    connections: List[Connection] = []

    def connect(uri: Optional[str]) -> Tuple[HostReport, List[Domain]]:
        host = HostReport(uri if uri is not None else default_uri)
        try:
            conn = virtsnap.open(host.uri, readonly=readonly)
            with lock:
                connections.append(conn)
            return host, conn.list_all_domains()
        except virtsnap.LibvirtError as exc:
            host.error = f"cannot connect: {exc}"
            if on_event:
                on_event(Event("error", host.uri, "", None, host.error))
            return host, []

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="virtsnap-auto") as pool:
            opened = list(pool.map(connect, hosts))
            jobs: List[Tuple[HostReport, Future[List[DomainReport]]]] = []
            for (host, listed), policies in zip(opened, hosts.values()):
                report.hosts.append(host)
                options = _Options(uri=host.uri, dry_run=dry_run, now=now, lock_dir=lock_dir,
                                   lock_wait=lock_wait, on_event=on_event)
                ordered = [dom for dom in sorted(listed, key=lambda d: d.name)
                           if select(domains, dom.name)]
                for dom in ordered:
                    chosen = [p for p in policies if p.selects(dom.name) and not p.group]
                    if chosen:
                        jobs.append((host, pool.submit(_guarded_run_domain, dom, chosen,
                                                       options)))
                for policy in policies:
                    members = [dom for dom in ordered if policy.group and policy.selects(dom.name)]
                    if members:
                        jobs.append((host, pool.submit(_guarded_run_group, members, policy,
                                                       options)))
            for host, job in jobs:
                for domain_report in job.result():
                    _add_domain(host, domain_report)
    finally:
        for conn in connections:
            conn.close()
    report.finished = datetime.now(timezone.utc)
    return report

