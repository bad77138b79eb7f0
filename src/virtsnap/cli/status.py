"""``virtsnap status --config FILE [--json]``: the check of :mod:`virtsnap.status`.

Exit status in the monitoring-plugin convention: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (a host unreachable, a bad or missing file). The
first line is ``VIRTSNAP STATE - ...``; one line per domain and label follows.
"""

from __future__ import annotations

from typing import Any

from virtsnap.cli.output import Output, escape

__all__ = ["add_status", "cmd_status"]


def add_status(parser: Any) -> None:
    """Build the ``status`` sub-parser (an entry of :data:`virtsnap.cli.SUBCOMMANDS`)."""
    parser.description = ("Check that the policies in FILE are on time, as a monitoring "
                          "plugin: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Read-only.")
    # not required=True: a missing --config must be UNKNOWN (3), not argparse's 2
    parser.add_argument("--config", metavar="FILE", help="TOML policy file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=cmd_status, needs_connection=False)


def cmd_status(args: Any, conn: Any, out: Output) -> int:
    from virtsnap.status import Status, check_file

    if not args.config:
        status = Status(errors=["no policy file: use --config FILE"])
    else:
        try:
            status = check_file(args.config, default_uri=getattr(args, "connect", None))
        except Exception as exc:  # noqa: BLE001 - a monitoring check must answer UNKNOWN
            status = Status(errors=[f"internal error: {type(exc).__name__}: {exc}"])
    if out.json:
        out.document(status.to_dict())
    else:
        for line in status.lines():
            out.line(escape(line))
    return status.exit_code
