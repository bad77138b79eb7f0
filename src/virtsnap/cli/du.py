"""``virtsnap du DOMAIN [--json]``: what each disk's backing chain and each snapshot holds.

The figures come from :func:`virtsnap.space.disk_usage`; the SOURCE column
says which of libvirt's domain statistics, a storage volume or the local
``qemu-img`` told each one. Sizes are in IEC units (``--json``: bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtsnap.cli.commands import find_domain
from virtsnap.cli.output import Output, escape
from virtsnap.space import disk_usage, format_bytes

if TYPE_CHECKING:
    from virtsnap import Connection
    from virtsnap.cli.grammar import Arguments

__all__ = ["cmd_du"]


def cmd_du(args: "Arguments", conn: "Connection", out: Output) -> None:
    """``virtsnap du DOMAIN [--json]`` (options: :data:`virtsnap.cli.grammar.COMMANDS`)."""
    usage = disk_usage(find_domain(conn, args.domain))
    if out.json:
        out.document(usage.to_dict())
        return
    rows = [[disk.target, layer.file, format_bytes(layer.allocation),
             layer.snapshot or "-", layer.source or "unknown"]
            for disk in usage.disks for layer in disk.chain]
    out.table(["Disk", "File", "Size", "Made by", "Source"], rows)
    if usage.snapshots:
        made = usage.bytes_by_snapshot()
        out.table(["Snapshot", "Location", "Holds", "Frees"],
                  [[snap.name, snap.location, format_bytes(made[snap.name]),
                    format_bytes(snap.frees) if snap.frees is not None else
                    ("at least " + format_bytes(snap.frees_at_least)
                     if snap.frees_at_least else "unknown")]
                   for snap in usage.snapshots])
    out.line(f"Total: {format_bytes(usage.total)}"
             + ("" if usage.total is None else f" ({usage.total} bytes)"))
    for note in usage.notes:
        out.line(f"Note: {escape(note)}")
