"""``virtsnap du DOMAIN [--json]``: what each disk's backing chain and each snapshot holds.

The figures come from :func:`virtsnap.space.disk_usage`; the SOURCE column
says which of libvirt's domain statistics, a storage volume or the local
``qemu-img`` told each one. Sizes are in IEC units (``--json``: bytes).
"""

from __future__ import annotations

from typing import Any

from virtsnap.cli.commands import _domain, _domain_argument, _json_option
from virtsnap.cli.output import Output, escape
from virtsnap.space import disk_usage, format_bytes

__all__ = ["add_du", "cmd_du"]


def add_du(parser: Any) -> None:
    """Build the ``du`` sub-parser (an entry of :data:`virtsnap.cli.SUBCOMMANDS`)."""
    _domain_argument(parser)
    _json_option(parser)
    parser.set_defaults(run=cmd_du)


def cmd_du(args: Any, conn: Any, out: Output) -> None:
    usage = disk_usage(_domain(conn, args.domain))
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
