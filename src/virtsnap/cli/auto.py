"""``virtsnap auto`` and ``virtsnap prune``: the command-line side of snapshot policies.

:func:`add_auto` and :func:`add_prune` build the two sub-parsers (entries of
:data:`virtsnap.cli.SUBCOMMANDS`); both run without the connection that
``virtsnap.cli.main`` would open (``auto`` opens one per URI of its
policies, ``prune`` its own, read-only with ``-r``).

Output: ``--json`` prints the report (:data:`virtsnap.policy.run.REPORT_SCHEMA`);
``--dry-run`` prints the plan. Otherwise, on a terminal a progress display
runs on stderr and a summary follows on stdout; on a pipe (cron, systemd)
only warnings and errors are printed, on stderr, unless ``--verbose``.
Exit status: 0 when everything planned succeeded, 1 otherwise (also for a
configuration error, printed as ``error: FILE:LINE: key 'KEY': ...``, and for
a file others could change, ``error: FILE: ...``: see
:mod:`virtsnap.policy.trust` and :mod:`virtsnap.policy.locks`), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from contextlib import ExitStack
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

import virtsnap
from virtsnap._files import UnsafeFileError
from virtsnap.policy.config import ConfigError
from virtsnap.policy.plan import Policy, Retention
from virtsnap.policy.locks import default_lock_dir, prepare_lock_dir
from virtsnap.policy.run import DomainReport, Event, HostReport, Report, run, run_domain
from virtsnap.policy.trust import load_trusted_config

__all__ = ["add_auto", "add_prune", "cmd_auto", "cmd_prune", "run_auto", "run_prune"]

DEFAULT_WORKERS = 4


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value
    return parse


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="change nothing, print the plan")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (schema in the README)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print a summary also when stdout is no terminal")
    parser.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                        help="wait this long for another run on the same domain (default 60)")


def add_auto(auto: argparse.ArgumentParser) -> None:
    """Build the ``auto`` sub-parser (a builder of :data:`virtsnap.cli.SUBCOMMANDS`)."""
    auto.description = ("One run of the policies in FILE: take the snapshots that are due, "
                        "then prune what the policies no longer keep.")
    auto.add_argument("--config", required=True, metavar="FILE", help="TOML policy file")
    auto.add_argument("--label", action="append", metavar="LABEL",
                      help="only this policy (repeatable)")
    auto.add_argument("--domain", action="append", default=[], metavar="GLOB",
                      help="only domains matching GLOB; !GLOB excludes (repeatable)")
    auto.add_argument("--workers", type=_positive(int), default=DEFAULT_WORKERS, metavar="N",
                      help=f"hosts and domains handled at once (default {DEFAULT_WORKERS})")
    _common(auto)
    auto.set_defaults(run=run_auto, needs_connection=False)


def add_prune(prune: argparse.ArgumentParser) -> None:
    """Build the ``prune`` sub-parser."""
    prune.description = ("Delete the snapshots auto-LABEL-* of DOMAIN that the keep options "
                         "do not keep (Proxmox Backup Server's rules); with none, keep all.")
    prune.add_argument("domain", metavar="DOMAIN", help="domain name")
    prune.add_argument("--label", required=True, help="the policy label ([a-z0-9_]+)")
    for key in Retention().counts():
        period = {"hourly": "hour", "daily": "day", "weekly": "ISO week", "monthly": "month",
                  "yearly": "year"}.get(key[5:])
        prune.add_argument(f"--{key.replace('_', '-')}", dest=key, type=_count, default=0,
                           metavar="N", help="keep the N newest" if period is None else
                           f"keep the newest of each of the N newest {period}s with one")
    prune.add_argument("--timezone", default="UTC",
                       help="zone of the hours, days, weeks... (default UTC)")
    _common(prune)
    prune.set_defaults(run=run_prune, needs_connection=False)


def run_auto(args: argparse.Namespace, conn: Any = None, out: Any = None) -> int:
    """The ``run`` of ``auto`` (it opens one connection per URI itself)."""
    return cmd_auto(args)


def run_prune(args: argparse.Namespace, conn: Any = None, out: Any = None) -> int:
    """The ``run`` of ``prune`` (it opens its connection itself, read-only with -r)."""
    return cmd_prune(args)


# ---------------------------------------------------------------- output


class Display:
    """Progress on a terminal; warnings and errors on stderr; thread-safe."""

    def __init__(self, enabled: bool) -> None:
        self.lock = threading.Lock()
        self.progress: Any = None
        self.tasks: Dict[Tuple[Optional[str], str], Any] = {}
        self.overall: Any = None
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

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)
            self.progress = None

    def message(self, text: str) -> None:
        with self.lock:
            if self.progress is not None:
                self.progress.console.print(text, markup=False, highlight=False)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

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


def _finish(args: argparse.Namespace, report: Report) -> int:
    if args.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    elif args.dry_run or args.verbose or sys.stdout.isatty():
        sys.stdout.write("".join(line + "\n" for line in summary_lines(report)))
    sys.stdout.flush()
    return 0 if report.ok else 1


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


def _display(args: argparse.Namespace) -> Display:
    return Display(enabled=sys.stderr.isatty() and not getattr(args, "quiet", False))


# ---------------------------------------------------------------- commands


def cmd_auto(args: argparse.Namespace) -> int:
    """``virtsnap auto``: one run of a policy file."""
    try:
        config = load_trusted_config(args.config)
    except (ConfigError, UnsafeFileError) as exc:
        return _error(str(exc))
    if args.label:
        unknown = sorted(set(args.label) - {policy.label for policy in config.policies})
        if unknown:
            return _error(f"{args.config}: no policy with label {', '.join(unknown)}")
    try:
        with _display(args) as display:
            report = run(config, labels=args.label, domains=args.domain, dry_run=args.dry_run,
                         workers=args.workers, lock_wait=args.lock_wait, on_event=display,
                         default_uri=getattr(args, "connect", None))
        return _finish(args, report)
    except UnsafeFileError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        return 130


def cmd_prune(args: argparse.Namespace) -> int:
    """``virtsnap prune DOMAIN --label L --keep-...``: the rules without a config file."""
    try:
        retention = Retention(**{key: getattr(args, key) for key in Retention().counts()})
        policy = Policy(args.label, retention, timezone=args.timezone)
    except (ValueError, LookupError) as exc:
        return _error(f"prune: {exc}")
    uri = getattr(args, "connect", None)
    lock_dir = default_lock_dir()
    if not args.dry_run:
        try:
            prepare_lock_dir(lock_dir)
        except UnsafeFileError as exc:
            return _error(str(exc))
    report = Report(args.dry_run, datetime.now(timezone.utc))
    host = HostReport(uri)
    report.hosts.append(host)
    try:
        with ExitStack() as stack:
            readonly = getattr(args, "readonly", False)
            conn = stack.enter_context(virtsnap.open(uri, readonly=readonly))
            host.uri = uri or conn.uri
            dom = conn.get_domain_by_name(args.domain)
            display = stack.enter_context(_display(args))
            host.domains.append(run_domain(dom, [policy], uri=host.uri, dry_run=args.dry_run,
                                           lock_dir=lock_dir, lock_wait=args.lock_wait,
                                           on_event=display))
    except virtsnap.DomainNotFoundError as exc:
        host.domains.append(DomainReport(args.domain, "failed", f"no domain: {exc}"))
        _error(f"{host.uri or '(default URI)'} {args.domain}: {exc}")
    except virtsnap.LibvirtError as exc:
        host.error = str(exc)
        _error(f"{host.uri or '(default URI)'}: {exc}")
    except KeyboardInterrupt:
        return 130
    report.finished = datetime.now(timezone.utc)
    return _finish(args, report)

