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
    owned_snapshots(dom, label) -> list[OwnedSnapshot]
    take_snapshot(dom, policy, name, *, uri, report) -> bool
    delete_snapshots(dom, names, report) -> None
    Report.to_dict() -> dict                 # validates against REPORT_SCHEMA

A failing host or domain never stops the others; ``Report.ok`` is true only
when everything planned succeeded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import virtsnap
from virtsnap.info import parse_snapshot_xml
from virtsnap.policy.locks import DomainLock, LockBusy, default_lock_dir, prepare_lock_dir
from virtsnap.policy.plan import Config, OwnedSnapshot, Policy, owned_time, plan, select
from virtsnap.policy.trust import check_hooks

__all__ = [
    "REPORT_SCHEMA",
    "DomainLock",
    "DomainReport",
    "Event",
    "HostReport",
    "LockBusy",
    "PolicyReport",
    "Report",
    "default_lock_dir",
    "delete_snapshots",
    "owned_snapshots",
    "run",
    "run_domain",
    "take_snapshot",
]

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


# ---------------------------------------------------------------- the report


@dataclass
class Event:
    """Progress of a run, handed to ``on_event`` from the worker threads.

    ``kind`` is "start", "create", "delete", "warning", "error" or "done".
    """

    kind: str
    uri: Optional[str]
    domain: str
    label: Optional[str] = None
    text: str = ""


@dataclass
class HookReport:
    phase: str
    argv: List[str]
    returncode: Optional[int] = None
    error: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"phase": self.phase, "argv": self.argv, "returncode": self.returncode,
                "error": self.error}


@dataclass
class PolicyReport:
    """What happened to one domain under one label."""

    label: str
    status: str = OK
    error: Optional[str] = None
    due: bool = False
    planned_create: Optional[str] = None
    planned_delete: List[str] = field(default_factory=list)
    created: Optional[str] = None
    deleted: List[str] = field(default_factory=list)
    kept: Dict[str, Tuple[str, ...]] = field(default_factory=dict)
    refused: List[Dict[str, str]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    hooks: List[HookReport] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.status = FAILED
        self.error = message if self.error is None else f"{self.error}; {message}"

    def to_dict(self) -> Dict[str, Any]:
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
    name: str
    status: str = OK
    error: Optional[str] = None
    policies: List[PolicyReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == OK and all(p.status == OK for p in self.policies)

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "status": self.status, "error": self.error,
                "policies": [policy.to_dict() for policy in self.policies]}


@dataclass
class HostReport:
    uri: Optional[str]
    error: Optional[str] = None
    domains: List[DomainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(domain.ok for domain in self.domains)

    def to_dict(self) -> Dict[str, Any]:
        return {"uri": self.uri, "ok": self.ok, "error": self.error,
                "domains": [domain.to_dict() for domain in self.domains]}


@dataclass
class Report:
    """The outcome of a run, per host and domain (``--json`` prints ``to_dict()``)."""

    dry_run: bool
    started: datetime
    finished: Optional[datetime] = None
    hosts: List[HostReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(host.ok for host in self.hosts)

    def to_dict(self) -> Dict[str, Any]:
        return {"schema_version": 1, "dry_run": self.dry_run, "ok": self.ok,
                "started": self.started.isoformat(),
                "finished": None if self.finished is None else self.finished.isoformat(),
                "hosts": [host.to_dict() for host in self.hosts]}


_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_STATUS = {"enum": [OK, FAILED, SKIPPED]}
_NAMES = {"type": "array", "items": _TEXT}


def _object(**properties: Any) -> Dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


# JSON Schema (draft 2020-12) of ``virtsnap auto --json`` and ``virtsnap prune --json``.
REPORT_SCHEMA: Dict[str, Any] = {
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


def owned_snapshots(dom: Any, label: str) -> List[OwnedSnapshot]:
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


def _run_hook(argv: Sequence[str], phase: str, env: Dict[str, str],
              timeout: float) -> HookReport:
    """Run a hook without a shell in its own process group; killed at ``timeout``."""
    report = HookReport(phase, list(argv))
    try:
        process = subprocess.Popen(list(argv), env={**os.environ, **env, "VIRTSNAP_PHASE": phase},
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        report.error = f"{phase}_hook {argv[0]!r} could not start: {exc.strerror or exc}"
        return report
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        report.error = f"{phase}_hook {argv[0]!r} timed out after {timeout:g}s and was killed"
        return report
    report.returncode = process.returncode
    if process.returncode != 0:
        last = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        report.error = (f"{phase}_hook {argv[0]!r} exited with status {process.returncode}"
                        + (f": {last[0]}" if last[0] else ""))
    return report


def take_snapshot(dom: Any, policy: Policy, name: str, *, uri: Optional[str],
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
    flags = virtsnap.CreateFlags.DISK_ONLY if policy.disk_only else virtsnap.CreateFlags(0)
    description = f"taken by virtsnap auto, policy {policy.label}"
    created = False
    try:
        try:
            quiesce = virtsnap.CreateFlags.QUIESCE if policy.quiesce else 0
            dom.create_snapshot(name=name, description=description, flags=flags | quiesce)
        except virtsnap.LibvirtError as exc:
            if policy.quiesce != "try":
                raise
            report.warnings.append(f"quiesce failed ({exc}); snapshot {name} taken without "
                                   "quiesce: its file systems may not be consistent")
            dom.create_snapshot(name=name, description=description, flags=flags)
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


def delete_snapshots(dom: Any, names: Sequence[str], report: PolicyReport,
                     on_event: Optional[Callable[[Event], None]] = None,
                     uri: Optional[str] = None) -> None:
    """Delete ``names`` with libvirt's normal delete (children are re-parented).

    A deletion libvirt refuses is recorded in ``report.refused``, never
    forced; the others go on.
    """
    for name in names:
        try:
            dom.get_snapshot_by_name(name).delete()
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


def _apply_policy(dom: Any, policy: Policy, uri: Optional[str], dry_run: bool,
                  now: datetime, on_event: Optional[Callable[[Event], None]]) -> PolicyReport:
    report = PolicyReport(policy.label)
    history = owned_snapshots(dom, policy.label)
    first = plan(history, policy, now)
    report.due, report.planned_create = first.create is not None, first.create
    report.planned_delete, report.kept = first.delete, first.keep
    if dry_run:
        return report
    if first.create is not None:
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
        if first.create in final.keep:
            final.keep[first.create] += ("new",)
        report.planned_delete, report.kept = final.delete, final.keep
    delete_snapshots(dom, report.planned_delete, report, on_event, uri)
    return report


def run_domain(dom: Any, policies: Sequence[Policy], *, uri: Optional[str],
               dry_run: bool = False, now: Optional[datetime] = None,
               lock_dir: Optional[str] = None, lock_wait: float = 60.0,
               on_event: Optional[Callable[[Event], None]] = None) -> DomainReport:
    """Apply ``policies`` to one domain under its lock (none in a dry run)."""
    report = DomainReport(dom.name)
    if on_event:
        on_event(Event("start", uri, dom.name))
    lock: Any = (DomainLock(lock_dir or default_lock_dir(), uri, dom.name, lock_wait)
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


def _guarded_run_domain(dom: Any, policies: Sequence[Policy], **options: Any) -> DomainReport:
    """:func:`run_domain`, with any other failure reported so that the others go on."""
    try:
        return run_domain(dom, policies, **options)
    except Exception as exc:  # noqa: BLE001 - one domain's bug must not end the run
        return DomainReport(dom.name, FAILED, f"internal error: {type(exc).__name__}: {exc}")


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
        default_uri: Optional[str] = None) -> Report:
    """One run of every policy (or those of ``labels``) on the domains they select.

    ``domains`` further restricts the domains (globs, "!" excludes).
    ``default_uri`` stands for policies without a URI. At most ``workers``
    threads connect and work at once; each URI has one connection.
    Raises :class:`virtsnap._files.UnsafeFileError` ("PATH: reason"), before
    connecting, for a lock directory others could write or, as root, for a
    hook executable others could change (:mod:`virtsnap.policy.trust`).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1: {workers}")
    lock_dir = config.lock_dir or default_lock_dir()
    check_hooks(config)  # as root; raises UnsafeFileError before anything is touched
    if not dry_run:
        prepare_lock_dir(lock_dir)
    report = Report(dry_run, datetime.now(timezone.utc))
    hosts = _hosts(config, labels)
    lock = threading.Lock()
    connections: List[Any] = []

    def connect(uri: Optional[str]) -> Tuple[HostReport, Any, List[Any]]:
        host = HostReport(uri if uri is not None else default_uri)
        try:
            conn = virtsnap.open(host.uri)
            with lock:
                connections.append(conn)
            return host, conn, conn.list_all_domains()
        except virtsnap.LibvirtError as exc:
            host.error = f"cannot connect: {exc}"
            if on_event:
                on_event(Event("error", host.uri, "", None, host.error))
            return host, None, []

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="virtsnap-auto") as pool:
            opened = list(pool.map(connect, hosts))
            jobs = []
            for (host, conn, listed), policies in zip(opened, hosts.values()):
                report.hosts.append(host)
                for dom in sorted(listed, key=lambda d: d.name):
                    chosen = [p for p in policies if p.selects(dom.name)]
                    if chosen and select(domains, dom.name):
                        jobs.append((host, pool.submit(
                            _guarded_run_domain, dom, chosen, uri=host.uri, dry_run=dry_run,
                            now=now, lock_dir=lock_dir, lock_wait=lock_wait,
                            on_event=on_event)))
            for host, job in jobs:
                host.domains.append(job.result())
    finally:
        for conn in connections:
            conn.close()
    report.finished = datetime.now(timezone.utc)
    return report

