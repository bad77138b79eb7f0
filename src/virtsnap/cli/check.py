"""``virtsnap check DOMAIN [--json] [--repair]``: snapshot metadata against the disks' real chains.

The logic is :func:`virtsnap.external.check`; exit 0 when consistent, 1 when not.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from virtsnap.cli.output import Output


def add_check(parser: argparse.ArgumentParser) -> None:
    from virtsnap.cli.commands import _domain_argument, _json_option

    _domain_argument(parser)
    _json_option(parser)
    parser.add_argument("--repair", action="store_true",
                        help="finish or roll back an unfinished revert or delete, nothing else")
    parser.set_defaults(run=cmd_check)


def cmd_check(args: argparse.Namespace, conn: Any, out: Output) -> int:
    from virtsnap import external
    from virtsnap.cli.commands import _domain
    from virtsnap.cli.output import escape

    dom = _domain(conn, args.domain)
    report = external.check(dom, repair=args.repair)
    if out.json:
        out.document(report.to_dict())
    else:
        for step in report.repaired:
            out.line(f"repaired: {escape(step)}")
        for problem in report.problems:
            out.line(f"{problem.kind}: {escape(problem.detail)}")
        out.say(f"Domain {escape(dom.name)}: "
                + ("consistent" if report.consistent
                   else f"{len(report.problems)} problem(s)"))
    return 0 if report.consistent else 1
