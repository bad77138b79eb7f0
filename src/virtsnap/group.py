"""Group snapshots: several guests, one consistent point in time, all or nothing.

libvirt has no group API. :func:`group_create` takes one snapshot of each
member under the same name while all of them are stopped together:

1. it checks every member first (reachable, name free) and changes nothing
   when a check fails;
2. it pauses every running member at once (``virDomainSuspend``), or with
   ``quiesce=True`` freezes their filesystems through the guest agent
   (``virDomainFSFreeze``) instead;
3. it takes every member's snapshot, in parallel, with a description that
   records the group, its members and the state each member had before;
4. it resumes (or thaws) every member it stopped, in the reverse order.

If any member fails, every member it stopped is resumed and the snapshots
this call took are deleted (never a snapshot that was there before), then
:class:`GroupError` names the member and libvirt's error. The clean-up runs
in ``finally`` and waits for calls still in flight, so KeyboardInterrupt, or
any exception a signal handler raises, cannot leave a member paused or
frozen. :func:`group_revert` and :func:`group_delete` act on every member,
in order, after checking that each has the group's snapshot.

Members are :class:`~virtsnap.Domain` handles, on one connection or several.
:func:`open_members` turns ``URI/NAME`` strings (see :func:`parse_member`)
into handles, with one connection per URI::

    with open_members(["qemu:///system/db", "qemu+ssh://app1/system/app"]) as members:
        result = group_create(members, "before-upgrade")
        for member in result.members:
            print(member.member, member.stopped_for)
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, TypedDict, Union

import virtsnap
from virtsnap.errors import LibvirtError

if TYPE_CHECKING:
    from typing_extensions import TypeGuard

    from virtsnap import Connection, Domain, DomainSnapshot, DomainState

__all__ = [
    "GroupError",
    "GroupMember",
    "GroupMemberDict",
    "GroupPoint",
    "GroupPointDict",
    "GroupRecord",
    "GroupResult",
    "GroupResultDict",
    "MemberSpec",
    "Members",
    "StepCallback",
    "delete_snapshot",
    "group_create",
    "group_delete",
    "group_description",
    "group_list",
    "group_record",
    "group_revert",
    "member_label",
    "open_members",
    "parse_member",
    "revert_snapshot",
]

RECORD_PREFIX = "virtsnap-group: "
MAX_PARALLEL = 16

# Callback of group_create: (step, member label), from a worker thread right
# after the step; steps are "paused", "frozen", "snapshot", "resumed", "thawed".
StepCallback = Callable[[str, str], None]


# ---------------------------------------------------------------- members


@dataclass(frozen=True)
class MemberSpec:
    """A member as written on the command line: a URI (None: the default) and a name."""

    uri: Optional[str]
    name: str

    def __str__(self) -> str:
        return self.name if self.uri is None else f"{self.uri}/{self.name}"


def parse_member(text: str) -> MemberSpec:
    """``NAME``, or ``URI/NAME`` such as ``qemu+ssh://db1/system/db``.

    The rule: a member containing ``://`` is a URI followed by ``/`` and the
    domain name, split at the member's last ``/``, which must come after the
    first ``/`` of the URI's path (``qemu:///system/db`` gives
    ``qemu:///system`` and ``db``; ``qemu:///system`` alone is refused). A
    query string may hold ``/`` (``test+unix:///default?socket=/run/s/db``
    gives the socket ``/run/s`` and ``db``): the name is always what follows
    the last ``/``, so a domain whose name holds ``/`` can only be given by
    plain name on the default URI. Anything else is a plain domain name.
    """
    if not isinstance(text, str):
        raise TypeError(f"a member is a string, not {type(text).__name__}")
    if "\0" in text:
        raise ValueError(f"member {text!r} holds a NUL character")
    scheme_end = text.find("://")
    if scheme_end < 0:
        if not text:
            raise ValueError("a member name must not be empty")
        return MemberSpec(None, text)
    path_start = text.find("/", scheme_end + 3)
    split = text.rfind("/")
    if path_start < 0 or split <= path_start or split == len(text) - 1:
        raise ValueError(f"member {text!r} is not URI/NAME (e.g. qemu:///system/db): "
                         "the name after the URI's path is missing")
    return MemberSpec(text[:split], text[split + 1:])


def member_label(dom: Domain) -> str:
    """How a member is named in records and reports: ``<connection URI>/<domain name>``."""
    return f"{dom.get_connect().uri}/{dom.name}"


class Members(List["Domain"]):
    """The member domains, in the order given; a context manager closing its connections."""

    def __init__(self, domains: Sequence[Domain], connections: Sequence[Connection]) -> None:
        super().__init__(domains)
        self.connections = list(connections)

    def close(self) -> None:
        for conn in self.connections:
            conn.close()
        self.connections = []

    def __enter__(self) -> "Members":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_members(members: Sequence[str], default_uri: Optional[str] = None, *,
                 conn: Optional[Connection] = None,
                 lookup: Optional[Callable[[Connection, str], Domain]] = None,
                 readonly: bool = False) -> Members:
    """Open one connection per URI and look up every member (see :func:`parse_member`).

    Plain names live on ``conn`` when given (it is not closed), else on
    ``default_uri`` (None: libvirt's default). ``lookup(conn, name)`` finds a
    domain (default: by name). ``readonly`` opens read-only connections (enough
    for :func:`group_list`). On failure the connections opened are closed.
    """
    specs = [parse_member(text) for text in members]
    if not specs:
        raise ValueError("a group needs at least one member")
    find = lookup or (lambda connection, name: connection.get_domain_by_name(name))
    opened: Dict[Optional[str], Connection] = {}
    owned: List[Connection] = []
    try:
        domains = []
        for spec in specs:
            uri = default_uri if spec.uri is None else spec.uri
            key = None if spec.uri is None and conn is not None else uri
            try:
                if key not in opened:
                    if key is None and conn is not None:
                        opened[key] = conn
                    else:
                        opened[key] = virtsnap.open(uri, readonly=readonly)
                        owned.append(opened[key])
                domains.append(find(opened[key], spec.name))
            except LibvirtError as exc:  # the same class, naming the member
                raise type(exc)(f"member {spec}: {exc}", exc.code, exc.domain,
                                exc.level) from None
    except BaseException:
        for connection in owned:
            connection.close()
        raise
    return Members(domains, owned)


def _labels(domains: Sequence[Domain]) -> List[str]:
    if isinstance(domains, (str, bytes)) or not isinstance(domains, Sequence):
        raise TypeError(f"members are a sequence of virtsnap.Domain, not "
                        f"{type(domains).__name__}")
    if not domains:
        raise ValueError("a group needs at least one member")
    for dom in domains:
        if not isinstance(dom, virtsnap.Domain):
            raise TypeError(f"a member is a virtsnap.Domain, not {type(dom).__name__}")
    labels = [member_label(dom) for dom in domains]
    seen = set()
    for label in labels:
        if label in seen:
            raise ValueError(f"member {label} is given twice")
        seen.add(label)
    return labels


# ---------------------------------------------------------------- results


class GroupMemberDict(TypedDict):
    """A :class:`GroupMember` as JSON: an item of ``members`` in the ``group-result`` document."""
    member: str
    state: str
    stopped: Optional[str]
    stopped_for: Optional[float]
    frozen_filesystems: Optional[int]


class GroupResultDict(TypedDict):
    """A :class:`GroupResult` as JSON: the ``group-result`` document of virtsnap's --json schema."""
    name: str
    action: str
    members: List[GroupMemberDict]


class GroupPointDict(TypedDict):
    """A :class:`GroupPoint` as JSON: an item of ``groups`` in the ``group-list`` document."""
    name: str
    members: List[str]
    present: List[str]
    complete: bool
    creation_time: Optional[str]
    description: Optional[str]


class _GroupName(TypedDict):
    group: str


class GroupRecord(_GroupName, total=False):
    """The record of a group snapshot's description, as :func:`group_description` writes it.
    :func:`group_record` checks ``group`` alone: a description may be edited by hand."""
    members: List[str]
    state: str
    quiesced: bool


class GroupError(LibvirtError):
    """A group operation failed at ``member`` (its label) with ``error``.

    ``done`` lists the members the operation completed on before it stopped
    (for a failed create: none, since everything was undone). ``problems``
    lists what the clean-up could not undo (a member it could not resume, a
    snapshot it could not delete); empty when the clean-up succeeded.
    """

    def __init__(self, message: str, member: Optional[str], error: Optional[BaseException],
                 done: Sequence[str] = (), problems: Sequence[str] = ()) -> None:
        code = error.code if isinstance(error, LibvirtError) else 0
        domain = error.domain if isinstance(error, LibvirtError) else 0
        super().__init__(message, code, domain)
        self.member = member
        self.error = error
        self.done = list(done)
        self.problems = list(problems)


@dataclass
class GroupMember:
    """What a group operation did to one member.

    ``state`` is the member's state before the group's pause ("running",
    "paused", "shutoff", ...). ``stopped_for`` is how long the member was
    paused or frozen, in seconds, from the start of the pause call to the end
    of the resume call (an upper bound); None when it was not stopped.
    """

    member: str
    state: str
    stopped: Optional[str] = None       # "paused", "frozen" or None
    stopped_for: Optional[float] = None
    frozen_filesystems: Optional[int] = None

    def to_dict(self) -> GroupMemberDict:
        return {"member": self.member, "state": self.state, "stopped": self.stopped,
                "stopped_for": self.stopped_for,
                "frozen_filesystems": self.frozen_filesystems}


@dataclass
class GroupResult:
    """The outcome of :func:`group_create`, :func:`group_revert` or :func:`group_delete`."""

    name: str
    action: str                          # "create", "revert" or "delete"
    members: List[GroupMember] = field(default_factory=list)

    def to_dict(self) -> GroupResultDict:
        return {"name": self.name, "action": self.action,
                "members": [member.to_dict() for member in self.members]}


@dataclass
class GroupPoint:
    """One group snapshot as :func:`group_list` finds it on the given members.

    ``members`` are the members recorded when it was taken; ``present`` those
    of the given members that hold it; ``complete`` is true when every
    recorded member was given and holds it.
    """

    name: str
    members: List[str]
    present: List[str]
    creation_time: Optional[datetime]
    description: Optional[str]

    @property
    def complete(self) -> bool:
        return set(self.members) <= set(self.present)

    def to_dict(self) -> GroupPointDict:
        return {"name": self.name, "members": self.members, "present": self.present,
                "complete": self.complete,
                "creation_time": (None if self.creation_time is None
                                  else self.creation_time.isoformat()),
                "description": self.description}


# ---------------------------------------------------------------- the record in the description


def group_description(name: str, members: Sequence[str], state: str, quiesced: bool,
                      description: Optional[str] = None) -> str:
    """The snapshot description: the user's text, then one line recording the group."""
    record: GroupRecord = {"group": name, "members": list(members), "state": state,
                           "quiesced": quiesced}
    text = json.dumps(record, ensure_ascii=False)
    return (f"{description}\n" if description else "") + RECORD_PREFIX + text


def group_record(description: Optional[str]) -> Optional[Tuple[GroupRecord, Optional[str]]]:
    """The group record of a snapshot description and the user's text, or None."""
    if not description:
        return None
    head, _, last = description.rpartition("\n")
    if not last.startswith(RECORD_PREFIX):
        return None
    try:
        record = json.loads(last[len(RECORD_PREFIX):])
    except ValueError:
        return None
    if not _is_record(record):
        return None
    return record, (head or None)


def _is_record(value: object) -> TypeGuard[GroupRecord]:
    return isinstance(value, dict) and isinstance(value.get("group"), str)


# ---------------------------------------------------------------- single-snapshot steps
# The one place where a group reverts or deletes a member's snapshot, so that
# external snapshots take the same path as a single revert or delete.


def revert_snapshot(snapshot: DomainSnapshot, flags: int = 0) -> None:
    """Revert one member to ``snapshot`` through :func:`virtsnap.external.revert`, the
    path of single reverts (libvirt's call, or virtsnap's where libvirt refuses)."""
    from virtsnap import external

    flag = virtsnap.RevertFlags
    external.revert(snapshot, running=bool(flags & flag.RUNNING),
                    paused=bool(flags & flag.PAUSED), force=bool(flags & flag.FORCE))


def delete_snapshot(snapshot: DomainSnapshot) -> None:
    """Delete one member's ``snapshot`` through :func:`virtsnap.external.delete`."""
    from virtsnap import external

    external.delete(snapshot)


# ---------------------------------------------------------------- running calls


class _Calls:
    """Runs libvirt calls in worker threads; the calling thread only waits.

    A call returns nothing: what it does, it records (see :class:`_Creation`).

    A signal handler's exception (KeyboardInterrupt, the CLI's termination)
    reaches the waiting thread between two waits, never in the middle of a
    libvirt call, and :meth:`settle` waits for every call still in flight.
    """

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(workers, MAX_PARALLEL)),
                                       thread_name_prefix="virtsnap-group")
        self.futures: List["Future[None]"] = []

    def submit(self, call: Callable[..., None], *args: object) -> "Future[None]":
        future = self.pool.submit(call, *args)
        self.futures.append(future)
        return future

    def wait(self, futures: Sequence["Future[None]"]) -> None:
        """Wait for ``futures``; an interruption propagates (the calls go on)."""
        wait_all(futures)

    def settle(self) -> Optional[BaseException]:
        """Wait for every call submitted, whatever interrupts; the first interruption."""
        interrupted: Optional[BaseException] = None
        while True:
            try:
                wait_all(self.futures)
                return interrupted
            except BaseException as exc:  # noqa: BLE001 - kept, re-raised by the caller
                interrupted = interrupted or exc

    def shielded(self, call: Callable[..., None], *args: object
                 ) -> Tuple["Future[None]", Optional[BaseException]]:
        """``call(*args)`` in a worker, waited for whatever interrupts: (future, interruption)."""
        future = self.submit(call, *args)
        interrupted: Optional[BaseException] = None
        while True:
            try:
                wait_all([future])
                return future, interrupted
            except BaseException as exc:  # noqa: BLE001 - kept, re-raised by the caller
                interrupted = interrupted or exc

    def close(self) -> None:
        self.pool.shutdown(wait=False)


def _state_name(state: Union[DomainState, int]) -> str:
    return state.name.lower() if isinstance(state, virtsnap.DomainState) else str(int(state))


def _error_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------- create


class _Creation:
    """The state of one group_create: what is stopped, what is taken."""

    def __init__(self, domains: Sequence[Domain], labels: Sequence[str], quiesce: bool,
                 on_step: Optional[StepCallback]) -> None:
        self.domains = list(domains)
        self.labels = list(labels)
        self.quiesce = quiesce
        self.on_step = on_step
        self.lock = threading.Lock()
        self.reports = [GroupMember(label, "") for label in labels]
        self.started: Dict[int, float] = {}
        self.stopped: Dict[int, str] = {}       # index -> "paused" or "frozen"
        self.taken: Dict[int, DomainSnapshot] = {}
        self.failures: List[Tuple[int, BaseException]] = []
        self.lost: List[int] = []               # connection lost during the pause call

    def step(self, name: str, index: int) -> None:
        if self.on_step is not None:
            self.on_step(name, self.labels[index])

    def guarded(self, call: Callable[[int], None]) -> Callable[[int], None]:
        def run(index: int) -> None:
            try:
                call(index)
            except BaseException as exc:  # noqa: BLE001 - collected, reported by member
                with self.lock:
                    self.failures.append((index, exc))
        return run

    def stop(self, index: int) -> None:
        dom = self.domains[index]
        if self.reports[index].state != "running":
            return
        self.started[index] = time.monotonic()
        try:
            if self.quiesce:
                count = dom.fs_freeze()
            else:
                dom.suspend()
        except virtsnap.LibvirtConnectionError:
            with self.lock:       # the host may still carry the request out
                self.lost.append(index)
            raise
        if self.quiesce:
            with self.lock:
                self.stopped[index] = "frozen"
            self.reports[index].frozen_filesystems = count
            self.step("frozen", index)
        else:
            with self.lock:
                self.stopped[index] = "paused"
            self.step("paused", index)

    def take(self, index: int, name: str, description: str, flags: int) -> None:
        snapshot = self.domains[index].create_snapshot(name=name, description=description,
                                                       flags=flags)
        with self.lock:
            self.taken[index] = snapshot
        self.step("snapshot", index)

    def release(self, index: int) -> None:
        """Resume or thaw one member; the step callback cannot stop that."""
        with self.lock:
            how = self.stopped.pop(index)     # tried once, whatever the outcome
        dom = self.domains[index]
        if how == "frozen":
            dom.fs_thaw()
        else:
            dom.resume()
        report = self.reports[index]
        report.stopped = how
        report.stopped_for = time.monotonic() - self.started[index]
        try:
            self.step("thawed" if how == "frozen" else "resumed", index)
        except Exception:  # noqa: BLE001 - the member runs again; nothing to undo
            pass


def group_create(domains: Sequence[Domain], name: str, *, description: Optional[str] = None,
                 quiesce: bool = False, disk_only: bool = False,
                 on_step: Optional[StepCallback] = None) -> GroupResult:
    """Take snapshot ``name`` of every member at one point in time, or of none.

    ``quiesce`` freezes the running members' filesystems through the guest
    agent instead of pausing them; ``disk_only`` takes disk-only snapshots.
    ``on_step(step, member)`` is called from a worker thread after each step
    (see ``StepCallback``); an exception it raises fails that member.
    Raises :class:`GroupError` when a member fails, after undoing everything.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("a group snapshot needs a non-empty name")
    if description is not None and not isinstance(description, str):
        raise TypeError(f"description must be a str, not {type(description).__name__}")
    labels = _labels(domains)
    run = _Creation(domains, labels, quiesce, on_step)
    calls = _Calls(len(domains))
    try:
        _check_members(run, calls, name)
        flags = int(virtsnap.CreateFlags.DISK_ONLY) if disk_only else 0
        return _create(run, calls, name, description, flags)
    finally:
        calls.close()


def _check_members(run: _Creation, calls: _Calls, name: str) -> None:
    """Every member reachable, its state known and ``name`` free; nothing changed yet."""

    def check(index: int) -> None:
        dom = run.domains[index]
        run.reports[index].state = _state_name(dom.state())
        try:
            dom.get_snapshot_by_name(name)
        except virtsnap.SnapshotNotFoundError:
            return
        raise virtsnap.OperationInvalidError(
            f"domain '{dom.name}' already has a snapshot named '{name}'")

    calls.wait([calls.submit(run.guarded(check), index) for index in range(len(run.domains))])
    interrupted = calls.settle()
    if interrupted is not None:
        raise interrupted
    if run.failures:
        index, exc = min(run.failures, key=lambda failure: failure[0])
        raise GroupError(f"group snapshot '{name}': member {run.labels[index]}: "
                         f"{_error_text(exc)}; nothing was changed",
                         run.labels[index], exc) from exc


def _create(run: _Creation, calls: _Calls, name: str, description: Optional[str],
            flags: int) -> GroupResult:
    members = range(len(run.domains))
    interrupted: Optional[BaseException] = None
    try:
        calls.wait([calls.submit(run.guarded(run.stop), index) for index in members])
        if not run.failures:
            texts = {index: group_description(name, run.labels, run.reports[index].state,
                                              run.quiesce, description) for index in members}
            calls.wait([calls.submit(run.guarded(lambda i: run.take(i, name, texts[i], flags)),
                                     index) for index in members])
    except BaseException as exc:  # noqa: BLE001 - undone below, then re-raised
        interrupted = exc
    # Whatever happened: resume every member stopped, wait for the calls still
    # in flight (a pause may yet succeed), then resume the members they stopped.
    unreleased, stopped_by = _release_all(run, calls)
    interrupted = calls.settle() or stopped_by or interrupted
    more, stopped_by = _release_all(run, calls)
    unreleased += more
    interrupted = interrupted or stopped_by
    problems = [problem for _, problem in unreleased]
    how = "freeze" if run.quiesce else "pause"
    problems += [f"member {run.labels[index]}: the connection was lost during its {how} "
                 f"call, which its host may still carry out: check that guest"
                 for index in sorted(run.lost)]
    if interrupted is not None or run.failures:
        undone, stopped_by = _undo(run, calls)
        interrupted = interrupted or stopped_by
        problems += undone
    outcome = ("the snapshots taken were deleted and every member stopped was resumed"
               if not problems else "NOT fully undone: " + "; ".join(problems))
    if interrupted is not None:
        if not problems:
            raise interrupted
        raise GroupError(f"group snapshot '{name}' interrupted; {outcome}", None, interrupted,
                         problems=problems) from interrupted
    if run.failures:
        index, failure = min(run.failures, key=lambda found: found[0])
        raise GroupError(f"group snapshot '{name}': member {run.labels[index]}: "
                         f"{_error_text(failure)}; {outcome}", run.labels[index], failure,
                         problems=problems) from failure
    if unreleased:  # every snapshot is taken and kept; a member could not run again
        label = unreleased[0][0]
        raise GroupError(f"group snapshot '{name}' taken on every member, but "
                         + "; ".join(problems), label, None, done=run.labels,
                         problems=problems)
    return GroupResult(name, "create", run.reports)


def _release_all(run: _Creation, calls: _Calls
                 ) -> Tuple[List[Tuple[str, str]], Optional[BaseException]]:
    """Resume or thaw every stopped member, in the reverse order.

    The members that could not be, as (label, problem), and an interruption
    that came meanwhile.
    """
    unreleased = []
    interrupted = None
    for index in sorted(run.stopped, reverse=True):
        how = "thawed" if run.stopped[index] == "frozen" else "resumed"
        future, stopped_by = calls.shielded(run.release, index)
        interrupted = interrupted or stopped_by
        failure = future.exception()
        if failure is not None:
            unreleased.append((run.labels[index], f"member {run.labels[index]} could not be "
                               f"{how}: {_error_text(failure)}"))
    return unreleased, interrupted


def _undo(run: _Creation, calls: _Calls) -> Tuple[List[str], Optional[BaseException]]:
    """Delete the snapshots this run took: what could not be, and an interruption."""
    problems = []
    interrupted = None
    for index in sorted(run.taken):
        future, stopped_by = calls.shielded(delete_snapshot, run.taken[index])
        interrupted = interrupted or stopped_by
        failure = future.exception()
        if failure is not None:
            problems.append(f"snapshot '{run.taken[index].name}' of member "
                            f"{run.labels[index]} could not be deleted: "
                            f"{_error_text(failure)}")
    return problems, interrupted


# ---------------------------------------------------------------- list, revert, delete


def group_list(domains: Sequence[Domain]) -> List[GroupPoint]:
    """The group snapshots found on ``domains``, oldest first."""
    labels = _labels(domains)
    points: Dict[str, GroupPoint] = {}
    for dom, label in zip(domains, labels):
        for info in dom.snapshot_infos():
            found = group_record(info.description)
            if found is None or found[0]["group"] != info.name:
                continue
            record, text = found
            point = points.get(info.name)
            if point is None:
                point = points[info.name] = GroupPoint(
                    info.name, [str(m) for m in record.get("members", [])], [],
                    info.creation_time, text)
            point.present.append(label)
            if point.creation_time is None or info.creation_time < point.creation_time:
                point.creation_time = info.creation_time
    return sorted(points.values(), key=lambda p: (p.creation_time or datetime.min, p.name))


def _group_snapshots(domains: Sequence[Domain], labels: Sequence[str], name: str,
                     action: str) -> List[Tuple[DomainSnapshot, GroupRecord]]:
    """Each member's snapshot ``name`` and its record; GroupError before any change."""
    found = []
    for dom, label in zip(domains, labels):
        try:
            snapshot = dom.get_snapshot_by_name(name)
            info = snapshot.info()
        except LibvirtError as exc:
            raise GroupError(f"cannot {action} group snapshot '{name}': member {label}: {exc}; "
                             "nothing was changed", label, exc) from exc
        record = group_record(info.description)
        if record is None or record[0]["group"] != name:
            raise GroupError(f"cannot {action} group snapshot '{name}': member {label}: its "
                             f"snapshot '{name}' was not taken by a group; nothing was changed",
                             label, None)
        found.append((snapshot, record[0]))
    return found


def _revert_flags(record: GroupRecord) -> int:
    """Back to the state before the group's pause: running runs, paused stays paused."""
    if record.get("state") == "running":
        return int(virtsnap.RevertFlags.RUNNING)
    if record.get("state") == "paused":
        return int(virtsnap.RevertFlags.PAUSED)
    return 0


def _one_by_one(domains: Sequence[Domain], name: str, action: str,
                call: Callable[[DomainSnapshot, GroupRecord], None]) -> GroupResult:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    labels = _labels(domains)
    snapshots = _group_snapshots(domains, labels, name, action)
    result = GroupResult(name, action)
    calls = _Calls(1)
    try:
        for label, (snapshot, record) in zip(labels, snapshots):
            future, interrupted = calls.shielded(call, snapshot, record)
            exc = future.exception()
            if exc is None:
                result.members.append(GroupMember(label, str(record.get("state", ""))))
            past = "reverted" if action == "revert" else "deleted"
            if interrupted is not None:
                done = [member.member for member in result.members]
                raise GroupError(
                    f"group {action} of '{name}' interrupted after member {label}; "
                    f"{past}: {', '.join(done) if done else 'none'}", label, interrupted,
                    done) from interrupted
            if exc is not None:
                done = [member.member for member in result.members]
                raise GroupError(
                    f"group {action} of '{name}' stopped at member {label}: {_error_text(exc)}; "
                    f"{past}: {', '.join(done) if done else 'none'}", label, exc, done) from exc
    finally:
        calls.close()
    return result


def group_revert(domains: Sequence[Domain], name: str) -> GroupResult:
    """Revert every member to group snapshot ``name``, in order.

    Each member comes back in the state recorded before the group's pause.
    Stops at the first member that fails; :class:`GroupError` ``.done`` lists
    the members already reverted. An interruption (KeyboardInterrupt) stops
    after the member in progress, with a GroupError whose ``error`` it is.
    """
    return _one_by_one(domains, name, "revert", _revert_member)


def _revert_member(snapshot: DomainSnapshot, record: GroupRecord) -> None:
    revert_snapshot(snapshot, _revert_flags(record))
    dom = snapshot.get_domain()
    # libvirt 7.0's test driver leaves a paused domain paused despite REVERT_RUNNING
    if record.get("state") == "running" and dom.state() == virtsnap.DomainState.PAUSED:
        dom.resume()


def group_delete(domains: Sequence[Domain], name: str) -> GroupResult:
    """Delete group snapshot ``name`` from every member, in order.

    Stops at the first member that fails; :class:`GroupError` ``.done`` lists
    the members whose snapshot is already deleted.
    """
    return _one_by_one(domains, name, "delete", lambda snapshot, record: delete_snapshot(snapshot))
