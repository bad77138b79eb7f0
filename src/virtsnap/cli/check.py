"""``virtsnap check DOMAIN [--json] [--repair]``: snapshot metadata against the disks' real chains.

The logic is :func:`virtsnap.external.check`; exit 0 when consistent, 1 when not.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from virtsnap import Connection
    from virtsnap.cli.grammar import Arguments
    from virtsnap.cli.output import Output


def cmd_check(args: "Arguments", conn: "Connection", out: "Output") -> int:
    """``virtsnap check DOMAIN [--json] [--repair]`` (options: the grammar's table)."""
    from virtsnap import external
    from virtsnap.cli.commands import find_domain
    from virtsnap.cli.output import escape

    dom = find_domain(conn, args.domain)
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
