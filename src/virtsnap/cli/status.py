"""``virtsnap status --config FILE [--json]``: the check of :mod:`virtsnap.status`.

Exit status in the monitoring-plugin convention: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (a host unreachable, a bad or missing file, a
command line the grammar refuses). The
first line is ``VIRTSNAP STATE - ...``; one line per domain and label follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from virtsnap.cli.output import Output, escape

if TYPE_CHECKING:
    from virtsnap.cli.grammar import Arguments

__all__ = ["cmd_status"]


def cmd_status(args: "Arguments", conn: None, out: Output) -> int:
    """``virtsnap status --config FILE [--json]``; --config is not required by the
    grammar, so that its absence is UNKNOWN (3), as a monitoring check answers."""
    from virtsnap.status import Status, check_file

    if args.usage_error:  # a monitoring check answers UNKNOWN, whatever went wrong
        status = Status(errors=[f"usage: {line}" for line in args.usage_error])
    elif not args.config:
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
