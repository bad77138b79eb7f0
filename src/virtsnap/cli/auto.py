"""``virtsnap auto`` and ``virtsnap prune``: the command-line side of snapshot policies.

Their options are in :data:`virtsnap.cli.grammar.COMMANDS`; both run without
the connection that ``virtsnap.cli.main`` would open (``auto`` opens one per
URI of its policies, ``prune`` its own), read-only with ``-r``, where libvirt
refuses every change and the exit status says so.

Output goes through the :class:`virtsnap.cli.output.Output` of every command:
``--json`` prints the report (:data:`virtsnap.policy.run.REPORT_SCHEMA`);
``--dry-run`` prints the plan. Otherwise, on a terminal a progress display
runs on stderr and a summary follows on stdout; on a pipe (cron, systemd)
only warnings and errors are printed, on stderr, unless ``--verbose``.
Exit status: 0 when everything planned succeeded, 1 otherwise (also for a
configuration error, printed as ``error: FILE:LINE: key 'KEY': ...``, and for
a file others could change, ``error: FILE: ...``: see
:mod:`virtsnap.policy.trust` and :mod:`virtsnap.policy.locks`), or a usage error.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import virtsnap
from virtsnap._files import UnsafeFileError
from virtsnap.cli.errors import CommandError
from virtsnap.cli.output import Output
from virtsnap.policy.config import MAX_COUNT, ConfigError, load_config
from virtsnap.policy.locks import default_lock_dir, prepare_lock_dir
from virtsnap.policy.plan import Policy, Retention
from virtsnap.policy.run import (DomainReport, Event, HostReport, Report, check_run_options, run,
                                 run_domain)
from virtsnap.policy.trust import load_trusted_config

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from virtsnap.cli.grammar import Arguments

__all__ = ["cmd_auto", "cmd_prune", "run_auto", "run_prune"]

DEFAULT_WORKERS = 4


def run_auto(args: "Arguments", conn: None, out: Output) -> int:
    """``virtsnap auto``: one run of a policy file (it opens one connection per URI)."""
    return cmd_auto(args, out)


def run_prune(args: "Arguments", conn: None, out: Output) -> int:
    """``virtsnap prune``: it opens its connection itself, read-only with -r."""
    return cmd_prune(args, out)


# ---------------------------------------------------------------- output


class Display:
    """Progress on a terminal; warnings and errors on stderr; thread-safe."""

    def __init__(self, out: Output, enabled: bool) -> None:
        self.lock = threading.Lock()
        self.out = out
        self.progress: "Optional[Progress]" = None
        self.tasks: "Dict[Tuple[Optional[str], str], TaskID]" = {}
        self.overall: "Optional[TaskID]" = None
        self.done = 0
        self.enabled = enabled

    def __enter__(self) -> "Display":
        if self.enabled:
            try:
                from rich.console import Console
                from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
            except ImportError:
                return self
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     TimeElapsedColumn(), console=Console(stderr=True),
                                     transient=True)
            self.progress.__enter__()
            self.overall = self.progress.add_task("0 domains done", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(None, None, None)
            self.progress = None

    def message(self, text: str) -> None:
        with self.lock:
            if self.progress is not None:
                from virtsnap.cli.output import escape_message

                self.progress.console.print(escape_message(text), markup=False,
                                            highlight=False)
            else:
                self.out.warning(text)

    def __call__(self, event: Event) -> None:
        where = " ".join(part for part in (event.uri or "(default URI)", event.domain,
                                           f"[{event.label}]" if event.label else "") if part)
        if event.kind in ("warning", "error"):
            self.message(f"{event.kind}: {where}: {event.text}")
            return
        if self.progress is None:
            return
        key = (event.uri, event.domain)
        with self.lock:
            if event.kind == "start":
                self.tasks[key] = self.progress.add_task(where, total=None)
            elif event.kind == "done" and key in self.tasks:
                self.progress.remove_task(self.tasks.pop(key))
                self.done += 1
                if self.overall is not None:
                    self.progress.update(self.overall, description=f"{self.done} domains done")
            elif key in self.tasks:
                verb = "creating" if event.kind == "create" else "deleted"
                self.progress.update(self.tasks[key], description=f"{where}: {verb} {event.text}")


def _names(names: List[str]) -> str:
    return f"{len(names)}" + (f" ({', '.join(names)})" if names else "")


def summary_lines(report: Report) -> List[str]:
    """One line per host error, domain and label: what was (or would be) done."""
    lines = []
    would = "would " if report.dry_run else ""
    for host in report.hosts:
        uri = host.uri or "(default URI)"
        if host.error:
            lines.append(f"{uri}: failed: {host.error}")
        for domain in host.domains:
            if domain.error:
                lines.append(f"{uri} {domain.name}: {domain.status}: {domain.error}")
            for policy in domain.policies:
                done = policy.planned_create if report.dry_run else policy.created
                deleted = policy.planned_delete if report.dry_run else policy.deleted
                parts = [f"{would}create {done}" if done else "nothing due",
                         f"{would}delete {_names(deleted)}", f"{would}keep {len(policy.kept)}"]
                if policy.refused:
                    parts.append(f"refused {_names([r['name'] for r in policy.refused])}")
                if policy.status != "ok":
                    parts.append(f"{policy.status}: {policy.error}")
                lines.append(f"{uri} {domain.name} [{policy.label}]: " + "; ".join(parts))
    return lines


def _finish(args: "Arguments", out: Output, report: Report) -> int:
    if args.json:
        out.document(report.to_dict())
    elif _shows_summary(args, out):
        out.write("".join(line + "\n" for line in summary_lines(report)))
    return 0 if report.ok else 1


def _shows_summary(args: "Arguments", out: Output) -> bool:
    """Whether :func:`_finish` prints the summary (which has every error in it)."""
    return not args.json and bool(args.dry_run or args.verbose or out.stream.isatty())


def _run_options(args: "Arguments", workers: object = 1) -> None:
    """The engine's own check of ``--workers`` and ``--lock-wait``, as one error line."""
    try:
        check_run_options(workers, float(args.lock_wait))
    except (TypeError, ValueError) as exc:
        raise CommandError(f"--{exc}".replace("_", "-", 1)) from None


def _lookup_domain(conn: "virtsnap.Connection", text: str) -> "virtsnap.Domain":
    """The domain named ``text``, else the one with that UUID or id (as virsh looks)."""
    import re

    try:
        return conn.get_domain_by_name(text)
    except virtsnap.DomainNotFoundError:
        if re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", text):
            return conn.get_domain_by_uuid(text)
        if text.isdigit() and len(text) < 10:
            return conn.get_domain_by_id(int(text))
        raise


def _write_metrics(path: str, report: Report, out: Output) -> int:
    from virtsnap.metrics import render, snapshot_sizes, write_atomically

    try:
        write_atomically(path, render(report, snapshot_sizes(report)))
    except OSError as exc:
        out.error(f"cannot write the metrics file {path}: {exc.strerror or exc}")
        return 1
    return 0


def _display(args: "Arguments", out: Output) -> Display:
    import sys

    return Display(out, enabled=sys.stderr.isatty() and not args.quiet)


# ---------------------------------------------------------------- commands


def cmd_auto(args: "Arguments", out: Output) -> int:
    """``virtsnap auto``: one run of a policy file."""
    try:
        config = load_trusted_config(str(args.config))
    except (ConfigError, UnsafeFileError) as exc:
        raise CommandError(str(exc)) from None
    labels: "Optional[List[str]]" = list(args.label) or None
    if labels:
        unknown = sorted(set(labels) - {policy.label for policy in config.policies})
        if unknown:
            raise CommandError(f"{args.config}: no policy with label {', '.join(unknown)}")
    _run_options(args, args.workers)
    try:
        with _display(args, out) as display:
            report = run(config, labels=labels, domains=args.domain,
                         dry_run=bool(args.dry_run), workers=int(args.workers),
                         lock_wait=float(args.lock_wait),
                         on_event=display, default_uri=args.connect,
                         readonly=bool(args.readonly))
    except UnsafeFileError as exc:
        raise CommandError(str(exc)) from None
    status = _finish(args, out, report)
    if args.metrics_file and not args.dry_run:
        status = max(status, _write_metrics(str(args.metrics_file), report, out))
    return status


def cmd_prune(args: "Arguments", out: Output) -> int:
    """``virtsnap prune DOMAIN --label L --keep-...``: the rules without a config file."""
    _run_options(args)
    for key in Retention().counts():
        if getattr(args, key) > MAX_COUNT:
            raise CommandError(f"--{key.replace('_', '-')}: must be at most {MAX_COUNT}")
    try:
        retention = Retention(**{key: getattr(args, key) for key in Retention().counts()})
        policy = Policy(str(args.label), retention, timezone=str(args.timezone))
    except (ValueError, LookupError) as exc:
        raise CommandError(f"prune: {exc}") from None
    lock_dir = default_lock_dir()
    if args.config:
        try:
            lock_dir = load_config(str(args.config)).lock_dir or lock_dir
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
    if not args.dry_run:
        try:
            prepare_lock_dir(lock_dir)
        except UnsafeFileError as exc:
            raise CommandError(str(exc)) from None
    uri: "Optional[str]" = args.connect
    report = Report(bool(args.dry_run), datetime.now(timezone.utc))
    host = HostReport(uri)
    report.hosts.append(host)
    domain = str(args.domain)
    try:
        with ExitStack() as stack:
            conn = stack.enter_context(virtsnap.open(uri, readonly=bool(args.readonly)))
            host.uri = uri or conn.uri
            dom = _lookup_domain(conn, domain)
            display = stack.enter_context(_display(args, out))
            host.domains.append(run_domain(dom, [policy], uri=host.uri, dry_run=bool(args.dry_run),
                                           lock_dir=lock_dir,
                                           lock_wait=float(args.lock_wait),
                                           on_event=display))
    except virtsnap.DomainNotFoundError as exc:
        host.domains.append(DomainReport(domain, "failed", f"no domain: {exc}"))
        if not _shows_summary(args, out):
            out.error(f"{host.uri or '(default URI)'} {domain}: {exc}")
    except virtsnap.LibvirtError as exc:
        host.error = str(exc)
        if not _shows_summary(args, out):
            out.error(f"{host.uri or '(default URI)'}: {exc}")
    report.finished = datetime.now(timezone.utc)
    return _finish(args, out, report)
