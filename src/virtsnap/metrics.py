"""The Prometheus text format of a ``virtsnap auto`` run, for node_exporter's textfile collector.

API::

    render(report, sizes=None) -> str             # the exposition text
    snapshot_sizes(report) -> {(uri, domain, label): bytes}   # via virtsnap.space
    write_atomically(path, text) -> None          # temp file (O_EXCL|O_NOFOLLOW) + rename

Labels are ``uri``, ``domain`` and ``label``. The newest snapshot's time is
the time in its name (``auto-LABEL-%Y%m%dT%H%M%SZ``), which the run wrote.
"""

from __future__ import annotations

import os
import secrets
from typing import Dict, List, Optional, Tuple

from virtsnap.policy.plan import owned_time
from virtsnap.policy.run import OK, PolicyReport, Report

__all__ = ["GAUGES", "render", "snapshot_sizes", "write_atomically"]

Key = Tuple[str, str, str]

GAUGES = {
    "virtsnap_snapshots": "Snapshots the policy owns after the last run.",
    "virtsnap_newest_snapshot_timestamp_seconds":
        "Unix time of the newest snapshot the policy owns (from its name).",
    "virtsnap_last_run_timestamp_seconds": "Unix time at which the last run ended.",
    "virtsnap_last_run_success": "1 if the last run did everything it planned, else 0.",
    "virtsnap_snapshot_bytes":
        "Bytes of the images, memory files and vm-state the policy's snapshots made "
        "(virtsnap du), where known; disk clusters an internal snapshot pins are not counted.",
    "virtsnap_prune_refused": "Deletions libvirt refused in the last run.",
    "virtsnap_space_short": "1 if the last run took no snapshot because of min_free, else 0.",
    "virtsnap_host_up": "1 if the last run reached the libvirt URI, else 0.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def owned_after(policy: PolicyReport) -> List[str]:
    """The snapshots the policy owns once the run is over, as its report tells."""
    names = set(policy.kept) | set(policy.planned_delete)
    names -= set(policy.deleted)
    if policy.planned_create and policy.created != policy.planned_create:
        names.discard(policy.planned_create)
    return sorted(names)


def snapshot_sizes(report: Report) -> Dict[Key, int]:
    """Bytes held by each policy's snapshots, where :func:`virtsnap.space.disk_usage` knows.

    One read-only connection per host and one ``disk_usage`` per domain.
    """
    import virtsnap
    from virtsnap.space import disk_usage

    sizes: Dict[Key, int] = {}
    for host in report.hosts:
        if host.error:
            continue
        try:
            conn = virtsnap.open(host.uri, readonly=True)
        except virtsnap.LibvirtError:
            continue
        with conn:
            for domain in host.domains:
                try:
                    usage = disk_usage(conn.get_domain_by_name(domain.name))
                except (virtsnap.LibvirtError, ValueError):
                    continue
                made = usage.bytes_by_snapshot()
                for policy in domain.policies:
                    held = [made.get(name) for name in owned_after(policy)]
                    if all(size is not None for size in held):
                        sizes[(host.uri or "", domain.name, policy.label)] = sum(
                            size for size in held if size is not None)
    return sizes


def render(report: Report, sizes: Optional[Dict[Key, int]] = None) -> str:
    """The exposition text (format 0.0.4) of ``report``; ``sizes`` from :func:`snapshot_sizes`."""
    samples: Dict[str, List[str]] = {name: [] for name in GAUGES}
    finished = (report.finished or report.started).timestamp()

    def sample(name: str, value: float, **labels: str) -> None:
        samples[name].append(f"{name}{_labels(**labels)} {value:.17g}")

    for host in report.hosts:
        uri = host.uri or ""
        sample("virtsnap_host_up", 0 if host.error else 1, uri=uri)
        for domain in host.domains:
            if not domain.policies:  # skipped (lock) or failed before any policy ran
                for name in ("virtsnap_last_run_timestamp_seconds", "virtsnap_last_run_success"):
                    sample(name, finished if name.endswith("seconds") else 0,
                           uri=uri, domain=domain.name, label="")
            for policy in domain.policies:
                key = dict(uri=uri, domain=domain.name, label=policy.label)
                names = owned_after(policy)
                sample("virtsnap_snapshots", len(names), **key)
                times = [owned_time(policy.label, name) for name in names]
                known = [time.timestamp() for time in times if time is not None]
                if known:
                    sample("virtsnap_newest_snapshot_timestamp_seconds", max(known), **key)
                sample("virtsnap_last_run_timestamp_seconds", finished, **key)
                sample("virtsnap_last_run_success",
                       1 if policy.status == OK and domain.status == OK else 0, **key)
                if sizes is not None and (uri, domain.name, policy.label) in sizes:
                    sample("virtsnap_snapshot_bytes", sizes[(uri, domain.name, policy.label)],
                           **key)
                sample("virtsnap_prune_refused", len(policy.refused), **key)
                sample("virtsnap_space_short", 1 if policy.space == "short" else 0, **key)
    lines: List[str] = []
    for name, help_text in GAUGES.items():
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples[name]]
    return "".join(line + "\n" for line in lines)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a new temporary file in its directory, renamed over it.

    The temporary file is created with O_EXCL and O_NOFOLLOW, so a symlink
    planted under its name is never followed; the rename replaces ``path``
    itself (a symlink there is replaced, not followed). Mode 0644, so that
    node_exporter can read it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            os.fchmod(stream.fileno(), 0o644)
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

