"""``virtsnap group create|list|revert|delete``: snapshots of several guests at once.

The logic is :mod:`virtsnap.group`'s. A member is a domain name, ID or UUID
on the ``-c`` URI, or ``URI/NAME`` (see :func:`virtsnap.group.parse_member`),
with one connection per URI, kept alive with libvirt's keep-alive probes (a
host that stops answering fails its calls after 30 seconds, and the
clean-up goes on). While ``create``, ``revert`` or ``delete``
runs, SIGTERM is turned into an exception as Ctrl-C is, so that the library's
clean-up resumes every member it paused before the process exits (status
143 after SIGTERM, 130 after Ctrl-C).
"""

from __future__ import annotations

import signal

from virtsnap.cli.errors import CommandError, UsageError
from virtsnap.cli.output import Output, escape

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from types import FrameType
    from typing import Iterator, Optional, Sequence

    from virtsnap import Connection
    from virtsnap.cli.grammar import Arguments
    from virtsnap.cli.schema import GroupListDocument
    from virtsnap.group import Members

__all__ = ["cmd_group"]

ACTIONS = ("create", "list", "revert", "delete")

TERMINATED_STATUS = 128 + signal.SIGTERM
INTERRUPTED_STATUS = 130
# A host silent for KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1) seconds counts as lost.
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 5


class Terminated(BaseException):
    """SIGTERM arrived during a group operation (a BaseException, as KeyboardInterrupt)."""


def cmd_group(args: "Arguments", conn: None, out: Output) -> int:
    """``virtsnap group ACTION ...`` (options: :data:`virtsnap.cli.grammar.COMMANDS`):
    ``create --name NAME DOMAIN...``, ``list DOMAIN...``, ``revert NAME DOMAIN...``,
    ``delete NAME DOMAIN...`` (or ``--name NAME``)."""
    from virtsnap.cli.commands import find_domain
    from virtsnap.errors import LibvirtError
    from virtsnap.group import open_members

    if args.action not in ACTIONS:
        raise UsageError(f"unknown group action '{args.action}' (use {', '.join(ACTIONS)})")
    names = list(args.members)
    if args.action in ("revert", "delete") and args.name is None and names:
        setattr(args, "name", names.pop(0))  # the grammar's table decides the attributes
    if args.action != "list" and args.name is None:
        raise UsageError(f"group {args.action} needs the group snapshot's name")
    if not names:
        raise UsageError(f"group {args.action} needs at least one domain")
    watched = _start_event_loop()
    try:
        members = open_members(names, args.connect, lookup=find_domain,
                               readonly=args.readonly)
    except ValueError as exc:  # a member that is not NAME or URI/NAME
        if isinstance(exc, LibvirtError):
            raise
        raise UsageError(str(exc)) from None
    with members:
        if watched:
            _keep_alive(members.connections)
        if args.action == "list":
            return _list(members, out)
        with _terminable():
            try:
                return _change(args, members, out)
            except (Terminated, KeyboardInterrupt) as exc:  # create, fully undone
                return _stopped(exc, f"group snapshot '{escape(args.name)}' was not taken; "
                                "every member paused was resumed", out)


def _start_event_loop() -> bool:
    """libvirt's event loop, so that keep-alive notices a host that stops answering
    (its calls then fail and the clean-up goes on); False if another loop runs."""
    import virtsnap

    try:
        virtsnap.start_event_loop()
    except virtsnap.EventLoopConflictError:
        return False
    return True


def _keep_alive(connections: "Sequence[Connection]") -> None:
    import virtsnap

    for connection in connections:
        try:
            connection.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT)
        except virtsnap.OperationUnsupportedError:  # a driver in this process
            pass


def _stopped(signal_exc: BaseException, what: str, out: Output) -> int:
    if isinstance(signal_exc, Terminated):
        out.error(f"terminated by SIGTERM: {what}")
        return TERMINATED_STATUS
    out.error(f"interrupted: {what}")
    return INTERRUPTED_STATUS


def _change(args: "Arguments", members: "Members", out: Output) -> int:
    from virtsnap.group import GroupError, group_create, group_delete, group_revert

    try:
        if args.action == "create":
            if args.name == "":
                raise UsageError("--name must not be empty")
            result = group_create(members, args.name, description=args.description,
                                  quiesce=args.quiesce, disk_only=args.disk_only)
        elif args.action == "revert":
            result = group_revert(members, args.name)
        else:
            result = group_delete(members, args.name)
    except GroupError as exc:
        if isinstance(exc.error, (Terminated, KeyboardInterrupt)):
            return _stopped(exc.error, escape(str(exc)), out)
        raise CommandError(escape(str(exc))) from None
    except ValueError as exc:  # a member given twice
        raise UsageError(str(exc)) from None
    if out.json:
        out.document(result.to_dict())
        return 0
    past = {"create": "created", "revert": "reverted", "delete": "deleted"}[args.action]
    out.say(f"Group snapshot {escape(result.name)} {past} on {len(result.members)} member(s)")
    if args.action == "create" and not out.quiet:
        rows = [[member.member, member.state, member.stopped or "-",
                 "-" if member.stopped_for is None else f"{member.stopped_for * 1000:.1f} ms"]
                for member in result.members]
        out.table(["Member", "State", "Stopped", "For"], rows)
    return 0


def _list(members: "Members", out: Output) -> int:
    from virtsnap.group import group_list

    points = group_list(members)
    if out.json:
        document: GroupListDocument = {"members": list(_labels(members)),
                                       "groups": [point.to_dict() for point in points]}
        out.document(document)
        return 0
    rows = [[point.name,
             "" if point.creation_time is None else point.creation_time.isoformat(),
             f"{len(point.present)}/{len(point.members)}",
             "yes" if point.complete else "no"] for point in points]
    out.table(["Name", "Creation Time", "Members", "Complete"], rows)
    return 0


def _labels(members: "Members") -> "Iterator[str]":
    from virtsnap.group import member_label

    return (member_label(dom) for dom in members)


class _terminable:
    """SIGTERM raises :class:`Terminated` in the main thread while the block runs."""

    def __enter__(self) -> None:
        def terminate(signum: int, frame: "Optional[FrameType]") -> None:
            raise Terminated()

        self.previous = signal.signal(signal.SIGTERM, terminate)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)

