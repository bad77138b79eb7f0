"""virtsnap for asyncio: the same API, every blocking call a coroutine.

    >>> async with await virtsnap.aio.open("test:///default") as conn:
    ...     dom = await conn.get_domain_by_name("test")
    ...     snap = await dom.create_snapshot(name="before-upgrade")

Blocking calls run on a bounded pool of native threads (:func:`set_max_workers`,
default :data:`DEFAULT_MAX_WORKERS`) with the GIL released, never on the loop.
libvirt's event implementation (file watches, timeouts: keep-alive, domain
events) runs on the asyncio loop that the latest coroutine here ran on; it
needs a selector loop (asyncio's default on Linux).

Cancelling a task that awaits a call lets the call finish first: the task
ends with CancelledError only once libvirt has returned, so no handle is
freed under a running call. For ``create_snapshot`` and ``revert_to`` the
cancellation first calls ``abort_job()`` on the domain, which stops a job
that libvirt can abort (a QEMU snapshot with memory or disk copy). See the
guide docs/guides/asyncio-and-events.md for what is left behind in each case.
"""

import asyncio
import builtins
import inspect
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, Dict, List, Literal, Optional, Type, TypeVar, Union
from types import TracebackType

import virtsnap
from virtsnap import events as _events
from virtsnap._snapshot import (
    Connection,
    Domain,
    DomainSnapshot,
    DomainState,
    attach_asyncio_loop,
)
from virtsnap._types import StorageVolume, TypedParameters
from virtsnap.errors import OperationInvalidError, OperationUnsupportedError
from virtsnap.events import DomainEvent, DomainEventType
from virtsnap.info import SnapshotInfo
from virtsnap.tree import SnapshotTree

if TYPE_CHECKING:  # ParamSpec is new in 3.10; the external module loads on first use
    import sys

    if sys.version_info >= (3, 10):
        from typing import ParamSpec
    else:  # mypy's own stubs: typing_extensions is not needed at run time
        from typing_extensions import ParamSpec

    from virtsnap.external import Outcome, Report, StepHook

    P = ParamSpec("P")

__all__ = [
    "AsyncConnection", "AsyncDomain", "AsyncDomainSnapshot", "AsyncDomainEventStream",
    "DomainEvent", "DomainEventType", "DEFAULT_MAX_WORKERS", "max_workers", "open",
    "set_max_workers", "wrap", "external_revert", "external_delete", "external_check",
]

# libvirtd serves 5 calls of one client at once (max_client_requests); a few
# more threads keep its queue full and cover a second connection.
#: The size of the thread pool that runs blocking calls, unless :func:`set_max_workers` changes it.
DEFAULT_MAX_WORKERS = 8

T = TypeVar("T")

_pool: Optional[ThreadPoolExecutor] = None
_pool_size = DEFAULT_MAX_WORKERS
_pool_lock = threading.Lock()
_attached: Optional[asyncio.AbstractEventLoop] = None


def set_max_workers(n: int) -> None:
    """Bound the native threads that run virtsnap.aio's blocking calls to ``n``.

    Calls beyond ``n`` wait their turn on the loop (no thread is blocked).
    Calls already running finish on the old pool.
    """
    global _pool, _pool_size
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError(f"n must be int, not {type(n).__name__}")
    if n < 1:
        raise ValueError("n must be at least 1")
    with _pool_lock:
        old, _pool, _pool_size = _pool, None, n
    if old is not None:
        old.shutdown(wait=False)


def max_workers() -> int:
    """The current bound on virtsnap.aio's threads."""
    return _pool_size


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_pool_size, thread_name_prefix="virtsnap-aio")
        return _pool


def _attach_loop() -> asyncio.AbstractEventLoop:
    """The running loop, with libvirt's event implementation on it."""
    global _attached
    loop = asyncio.get_running_loop()
    if loop is not _attached:
        attach_asyncio_loop(loop)
        _attached = loop
    return loop


def _abort_quietly(domain: Domain) -> bool:
    """abort_job() if a job runs; False where there is none, or it cannot be aborted."""
    try:
        domain.abort_job()
    except (OperationInvalidError, OperationUnsupportedError):
        return False
    return True


async def _settle(future: "Future[T]") -> None:
    """Wait for ``future`` (a pool job) to finish, whatever cancellations arrive meanwhile."""
    while not future.done():
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            continue
        except BaseException:
            return


async def _call(abort: Optional[Domain], function: "Callable[P, T]", *args: "P.args",
                **kwargs: "P.kwargs") -> T:
    """``function(*args, **kwargs)`` on the pool; on cancellation see the module doc."""
    loop = _attach_loop()
    job = _executor().submit(function, *args, **kwargs)
    try:
        return await asyncio.wrap_future(job)
    except asyncio.CancelledError as cancel:
        # A job that has not started yet is dropped unrun.
        if job.cancel() or job.cancelled():
            cancel.args = ("cancelled before libvirt was called",)
            raise
        aborted = False
        if abort is not None and not job.done():
            # The default executor: an abort must not queue behind the call it stops.
            aborter = loop.run_in_executor(None, _abort_quietly, abort)
            while not aborter.done():
                try:
                    await asyncio.wait([aborter])
                except asyncio.CancelledError:
                    continue
            aborted = aborter.exception() is None and aborter.result()
        await _settle(job)
        if job.exception() is not None:
            outcome = f"libvirt failed: {job.exception()}"
        else:
            outcome = "libvirt completed the call"
        cancel.args = (f"cancelled; abort_job() {'stopped a job' if aborted else 'had no job to stop'}; "
                       f"{outcome}",)
        raise


async def open(uri: Optional[str] = None, readonly: bool = False) -> "AsyncConnection":
    """Open a connection, with libvirt's events on the running loop."""
    _attach_loop()
    return AsyncConnection(await _call(None, virtsnap.open, uri, readonly))


def wrap(connection: Connection) -> "AsyncConnection":
    """An async handle on a sync :class:`virtsnap.Connection` (both stay usable).

    libvirt watches a remote connection's socket only if an event implementation
    was registered when it was opened: keep-alive and events need
    :func:`open`, or a connection opened after it.
    """
    if not isinstance(connection, Connection):
        raise TypeError(f"expected a virtsnap.Connection, not {type(connection).__name__}")
    return AsyncConnection(connection)


class AsyncConnection:
    """:class:`virtsnap.Connection` for asyncio; ``.sync`` is the sync handle."""

    __slots__ = ("_sync",)

    def __init__(self, sync: Connection) -> None:
        self._sync = sync

    @property
    def sync(self) -> Connection:
        """The sync :class:`virtsnap.Connection` this wraps (the same C connection)."""
        return self._sync

    @property
    def closed(self) -> bool:
        return self._sync.closed

    @property
    def readonly(self) -> bool:
        return self._sync.readonly

    @property
    def uri(self) -> str:
        return self._sync.uri

    def is_alive(self) -> bool:
        return self._sync.is_alive()

    async def close(self) -> None:
        await _call(None, self._sync.close)

    async def __aenter__(self) -> "AsyncConnection":
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.close()

    async def get_lib_version(self) -> "tuple[int, int, int]":
        return await _call(None, self._sync.get_lib_version)

    async def set_keepalive(self, interval: int, count: int) -> bool:
        """Keep-alive probes, sent by the asyncio loop: no thread needed."""
        return await _call(None, self._sync.set_keepalive, interval, count)

    async def get_domain_by_name(self, name: str) -> "AsyncDomain":
        return AsyncDomain(self, await _call(None, self._sync.get_domain_by_name, name))

    async def get_domain_by_uuid(self, uuid: str) -> "AsyncDomain":
        return AsyncDomain(self, await _call(None, self._sync.get_domain_by_uuid, uuid))

    async def get_domain_by_id(self, id: int) -> "AsyncDomain":
        return AsyncDomain(self, await _call(None, self._sync.get_domain_by_id, id))

    async def storage_volume(self, path: str,
                             refresh_pool: bool = False) -> Optional[StorageVolume]:
        return await _call(None, self._sync.storage_volume, path, refresh_pool)

    async def create_storage_volume(self, pool: str, xml: str) -> str:
        return await _call(None, self._sync.create_storage_volume, pool, xml)

    async def delete_storage_volume(self, path: str) -> None:
        await _call(None, self._sync.delete_storage_volume, path)

    async def restore(self, path: str, xml: Optional[str] = None, flags: int = 0) -> None:
        await _call(None, self._sync.restore, path, xml, flags)

    async def list_all_domains(self, flags: int = 0) -> "List[AsyncDomain]":
        domains = await _call(None, self._sync.list_all_domains, flags)
        return [AsyncDomain(self, d) for d in domains]

    def domain_events(self, domain: "Optional[AsyncDomain]" = None) -> "AsyncDomainEventStream":
        """An async iterator of :class:`~virtsnap.DomainEvent`, of every domain or of
        ``domain``: an :class:`AsyncDomainEventStream`."""
        return AsyncDomainEventStream(self, domain)

    def __repr__(self) -> str:
        return f"<virtsnap.aio.AsyncConnection of {self._sync!r}>"


class AsyncDomain:
    """:class:`virtsnap.Domain` for asyncio; ``.sync`` is the sync handle."""

    __slots__ = ("_conn", "_sync")

    def __init__(self, conn: AsyncConnection, sync: Domain) -> None:
        self._conn = conn
        self._sync = sync

    @property
    def sync(self) -> Domain:
        """The sync :class:`virtsnap.Domain` this wraps."""
        return self._sync

    @property
    def name(self) -> str:
        return self._sync.name

    @property
    def uuid(self) -> str:
        return self._sync.uuid

    @property
    def id(self) -> int:
        return self._sync.id

    def get_connect(self) -> AsyncConnection:
        return self._conn

    def _snapshot(self, snap: DomainSnapshot) -> "AsyncDomainSnapshot":
        return AsyncDomainSnapshot(self, snap)

    async def state(self) -> Union[DomainState, int]:
        return await _call(None, self._sync.state)

    async def get_xml_description(self, flags: int = 0) -> str:
        return await _call(None, self._sync.get_xml_description, flags)

    async def define_xml(self, xml: str) -> None:
        await _call(None, self._sync.define_xml, xml)

    async def start(self, flags: int = 0) -> None:
        await _call(None, self._sync.start, flags)

    async def destroy(self, flags: int = 0) -> None:
        await _call(None, self._sync.destroy, flags)

    async def set_metadata(self, metadata: Optional[str], key: Optional[str], uri: str,
                           flags: int = 0) -> None:
        await _call(None, self._sync.set_metadata, metadata, key, uri, flags)

    async def get_metadata(self, uri: str, flags: int = 0) -> Optional[str]:
        return await _call(None, self._sync.get_metadata, uri, flags)

    async def block_commit(self, disk: str, base: Optional[str] = None,
                           top: Optional[str] = None, bandwidth: int = 0,
                           flags: int = 0) -> None:
        await _call(None, self._sync.block_commit, disk, base, top, bandwidth, flags)

    async def block_job_info(self, disk: str, flags: int = 0) -> Optional[Dict[str, int]]:
        return await _call(None, self._sync.block_job_info, disk, flags)

    async def block_job_abort(self, disk: str, flags: int = 0) -> None:
        await _call(None, self._sync.block_job_abort, disk, flags)

    async def get_job_stats(self, flags: int = 0) -> TypedParameters:
        return await _call(None, self._sync.get_job_stats, flags)

    async def get_block_stats(self, backing: bool = True) -> TypedParameters:
        return await _call(None, self._sync.get_block_stats, backing)

    async def abort_job(self) -> None:
        await _call(None, self._sync.abort_job)

    async def suspend(self) -> None:
        await _call(None, self._sync.suspend)

    async def resume(self) -> None:
        await _call(None, self._sync.resume)

    async def fs_freeze(self) -> int:
        return await _call(None, self._sync.fs_freeze)

    async def fs_thaw(self) -> int:
        return await _call(None, self._sync.fs_thaw)

    async def create_snapshot(self, xml: Optional[str] = None, flags: int = 0, *,
                              name: Optional[str] = None,
                              description: Optional[str] = None) -> "AsyncDomainSnapshot":
        """Cancelling it calls abort_job() first (module doc)."""
        return self._snapshot(await _call(self._sync, self._sync.create_snapshot, xml, flags,
                                          name=name, description=description))

    async def num_of_snapshots(self, flags: int = 0) -> int:
        return await _call(None, self._sync.num_of_snapshots, flags)

    async def list_snapshot_names(self, flags: int = 0) -> List[str]:
        return await _call(None, self._sync.list_snapshot_names, flags)

    async def list_all_snapshots(self, flags: int = 0) -> "List[AsyncDomainSnapshot]":
        return [self._snapshot(s) for s in
                await _call(None, self._sync.list_all_snapshots, flags)]

    async def get_snapshot_by_name(self, name: str, flags: int = 0) -> "AsyncDomainSnapshot":
        return self._snapshot(await _call(None, self._sync.get_snapshot_by_name, name, flags))

    async def has_current_snapshot(self, flags: int = 0) -> bool:
        return await _call(None, self._sync.has_current_snapshot, flags)

    async def current_snapshot(self, flags: int = 0) -> "AsyncDomainSnapshot":
        return self._snapshot(await _call(None, self._sync.current_snapshot, flags))

    async def snapshot_xml_descriptions(self, flags: int = 0, list_flags: int = 0,
                                        workers: int = 1) -> Dict[str, str]:
        return await _call(None, self._sync.snapshot_xml_descriptions, flags, list_flags,
                           workers)

    async def snapshot_parents(
            self, list_flags: int = 0, workers: int = 1, *,
            via: Optional[Literal["parent", "children"]] = None) -> Dict[str, Optional[str]]:
        return await _call(None, self._sync.snapshot_parents, list_flags, workers, via=via)

    async def snapshot_children(self, flags: int = 0, list_flags: int = 0,
                                workers: int = 1) -> Dict[str, List[str]]:
        return await _call(None, self._sync.snapshot_children, flags, list_flags, workers)

    async def snapshot_infos(self, list_flags: int = 0,
                             workers: Optional[int] = None) -> List[SnapshotInfo]:
        return await _call(None, self._sync.snapshot_infos, list_flags, workers)

    async def snapshot_tree(self, list_flags: int = 0) -> SnapshotTree:
        return await _call(None, self._sync.snapshot_tree, list_flags)

    async def export_snapshots(self, directory: "Union[str, os.PathLike[str]]", *,
                               secure: bool = False) -> List[str]:
        return await _call(None, self._sync.export_snapshots, directory, secure=secure)

    async def import_snapshots(self, directory: "Union[str, os.PathLike[str]]", *,
                               replace: bool = False) -> List[str]:
        return await _call(None, self._sync.import_snapshots, directory, replace=replace)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AsyncDomain):
            return NotImplemented
        return self._sync == other._sync

    def __hash__(self) -> int:
        return hash(self._sync)

    def __repr__(self) -> str:
        return f"<virtsnap.aio.AsyncDomain {self.name!r}>"


class AsyncDomainSnapshot:
    """:class:`virtsnap.DomainSnapshot` for asyncio; ``.sync`` is the sync handle."""

    __slots__ = ("_domain", "_sync")

    def __init__(self, domain: AsyncDomain, sync: DomainSnapshot) -> None:
        self._domain = domain
        self._sync = sync

    @property
    def sync(self) -> DomainSnapshot:
        """The sync :class:`virtsnap.DomainSnapshot` this wraps."""
        return self._sync

    @property
    def name(self) -> str:
        return self._sync.name

    def get_name(self) -> str:
        return self._sync.get_name()

    def get_domain(self) -> AsyncDomain:
        return self._domain

    def get_connect(self) -> AsyncConnection:
        return self._domain.get_connect()

    def _wrap(self, snap: DomainSnapshot) -> "AsyncDomainSnapshot":
        return AsyncDomainSnapshot(self._domain, snap)

    async def get_xml_description(self, flags: int = 0) -> str:
        return await _call(None, self._sync.get_xml_description, flags)

    async def delete(self, flags: int = 0) -> None:
        await _call(None, self._sync.delete, flags)

    async def revert_to(self, flags: int = 0) -> None:
        """Cancelling it calls abort_job() first (module doc)."""
        await _call(self._domain.sync, self._sync.revert_to, flags)

    async def get_parent(self, flags: int = 0) -> "Optional[AsyncDomainSnapshot]":
        parent = await _call(None, self._sync.get_parent, flags)
        return None if parent is None else self._wrap(parent)

    async def is_current(self, flags: int = 0) -> bool:
        return await _call(None, self._sync.is_current, flags)

    async def has_metadata(self, flags: int = 0) -> bool:
        return await _call(None, self._sync.has_metadata, flags)

    async def num_of_child_snapshots(self, flags: int = 0) -> int:
        return await _call(None, self._sync.num_of_child_snapshots, flags)

    async def list_child_snapshot_names(self, flags: int = 0) -> List[str]:
        return await _call(None, self._sync.list_child_snapshot_names, flags)

    async def list_all_children(self, flags: int = 0) -> "List[AsyncDomainSnapshot]":
        return [self._wrap(s) for s in await _call(None, self._sync.list_all_children, flags)]

    async def list_child_snapshots(self, flags: int = 0) -> "List[AsyncDomainSnapshot]":
        return await self.list_all_children(flags)

    async def info(self) -> SnapshotInfo:
        return await _call(None, self._sync.info)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AsyncDomainSnapshot):
            return NotImplemented
        return self._sync == other._sync

    def __hash__(self) -> int:
        return hash(self._sync)

    def __repr__(self) -> str:
        return f"<virtsnap.aio.AsyncDomainSnapshot {self.name!r} of {self._domain.name!r}>"


# ---------------------------------------------------------------- virtsnap.external

async def external_revert(snapshot: AsyncDomainSnapshot, *, running: bool = False,
                          paused: bool = False, force: bool = False, reset_nvram: bool = False,
                          on_step: "Optional[StepHook]" = None) -> "Outcome":
    """:func:`virtsnap.external.revert` on the pool (same keyword options). A
    cancellation waits for the whole operation, which is never left half done."""
    from virtsnap import external

    return await _call(None, external.revert, snapshot.sync, running=running, paused=paused,
                       force=force, reset_nvram=reset_nvram, on_step=on_step)


async def external_delete(snapshot: AsyncDomainSnapshot, *, children: bool = False,
                          children_only: bool = False, metadata_only: bool = False,
                          on_step: "Optional[StepHook]" = None) -> "Outcome":
    """:func:`virtsnap.external.delete` on the pool (same keyword options)."""
    from virtsnap import external

    return await _call(None, external.delete, snapshot.sync, children=children,
                       children_only=children_only, metadata_only=metadata_only,
                       on_step=on_step)


async def external_check(domain: AsyncDomain, repair: bool = False) -> "Report":
    """:func:`virtsnap.external.check` on the pool."""
    from virtsnap import external

    return await _call(None, external.check, domain.sync, repair=repair)


class AsyncDomainEventStream:
    """Lifecycle events as an async iterator, from :meth:`start` until :meth:`aclose`.

    ``async with conn.domain_events() as events:`` starts it on entry; a bare
    ``async for`` starts it at the first step. Every event from the start is
    kept, in libvirt's order, in an unbounded queue until read. Leaving it
    (``break``, cancellation, ``aclose()``) detaches it at once; the last
    stream of a connection to leave deregisters libvirt's callback.

    When the connection ends (``await conn.close()``, or its daemon gone) the
    reader gets the events received before, then LibvirtConnectionError once,
    then the end of the iteration.
    """

    _hub: "Optional[_events.Hub]" = None      # also while __init__ has not set it

    def __init__(self, conn: AsyncConnection, domain: Optional[AsyncDomain] = None) -> None:
        if domain is not None and not isinstance(domain, AsyncDomain):
            raise TypeError(f"domain must be an AsyncDomain or None, not {type(domain).__name__}")
        self._conn = conn
        self.uuid = None if domain is None else domain.uuid
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread = 0
        self._queue: "Optional[asyncio.Queue[Optional[DomainEvent]]]" = None
        self._done = False
        self._sentinel_queued = False
        self._error: Optional[BaseException] = None   # raised once, after the events

    async def start(self) -> None:
        """Attach to the connection's events (registering with libvirt if first)."""
        if self._loop is not None:
            return
        self._loop = _attach_loop()
        self._thread = threading.get_ident()
        self._queue = asyncio.Queue()
        self._hub = _events.attach(self._conn.sync, self)
        try:
            await _call(None, _events.ensure_registered, self._hub)
        except BaseException:
            await self.aclose()
            raise

    def push(self, event: DomainEvent) -> None:
        """Called on the event loop's thread, in libvirt's order."""
        if self._queue is None:
            return
        if threading.get_ident() == self._thread:
            self._queue.put_nowait(event)
        elif self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
            except RuntimeError:              # that loop is closed
                pass

    def end(self, error: BaseException) -> None:
        """The connection ended (any thread): the hub has dropped this stream."""
        self._hub = None
        if threading.get_ident() == self._thread:
            self._finish(error)
        elif self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._finish, error)
            except RuntimeError:              # that loop is closed
                pass

    def _finish(self, error: BaseException) -> None:
        if not self._done and self._queue is not None:
            self._done, self._error = True, error
            self._queue.put_nowait(None)
            self._sentinel_queued = True

    def _stop(self) -> "DomainEvent":
        error, self._error = self._error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    @property
    def pending(self) -> int:
        """Events received and not read yet."""
        if self._queue is None:
            return 0
        return self._queue.qsize() - (1 if self._done and self._sentinel_queued else 0)

    def __aiter__(self) -> "AsyncDomainEventStream":
        return self

    async def __anext__(self) -> DomainEvent:
        if self._loop is None:
            await self.start()
        if self._queue is None:
            raise StopAsyncIteration
        if self._done and self._queue.empty():
            return self._stop()
        event = await self._queue.get()
        if event is None:
            self._sentinel_queued = False
            return self._stop()
        return event

    def _detach(self) -> Optional["_events.Hub"]:
        """Stop receiving now; the hub if it is left unused."""
        hub, self._hub = self._hub, None
        if not self._done:
            self._done = True
            if self._queue is not None:
                self._queue.put_nowait(None)
                self._sentinel_queued = True      # wakes a reader waiting for an event
        if hub is not None and _events.detach(hub, self):
            return hub
        return None

    async def aclose(self) -> None:
        """Stop the stream: events after this are not queued; safe to call twice.

        The last stream of a connection to close deregisters libvirt's callback.
        """
        hub = self._detach()
        if hub is not None:
            await _call(None, _events.release, hub)

    async def __aenter__(self) -> "AsyncDomainEventStream":
        await self.start()
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Left by break without aclose(): detach now, deregister in the background.
        if self._hub is not None:
            hub = self._detach()
            if hub is not None:
                try:
                    _executor().submit(_events.release, hub)
                except RuntimeError:          # interpreter exit: the process ends anyway
                    pass


# Members whose async form behaves otherwise, documented on their own.
_OWN_SEMANTICS = frozenset({"sync", "domain_events", "set_keepalive"})
_SIGNATURE_LINE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?\n")
_RELATIVE_ROLE = re.compile(r":(class|meth|func|attr|exc|data):`([A-Za-z_][\w.]*)`")


def _document_from_sync() -> None:
    """Each async member's docstring starts with its sync twin's, so the two
    APIs share one text; references in it are made absolute for this module."""
    for twin, sync in ((AsyncConnection, Connection), (AsyncDomain, Domain),
                       (AsyncDomainSnapshot, DomainSnapshot)):
        def absolute(match: "re.Match[str]", sync: type = sync) -> str:
            role, target = match.groups()
            if target.startswith("virtsnap.") or hasattr(builtins, target):
                return match.group(0)
            if "." not in target and hasattr(sync, target):
                target = f"{sync.__name__}.{target}"
            return f":{role}:`~virtsnap.{target}`"

        for name, member in list(vars(twin).items()):
            source = getattr(sync, name, None)
            if name.startswith("_") or name in _OWN_SEMANTICS or source is None:
                continue
            text = _RELATIVE_ROLE.sub(absolute, _SIGNATURE_LINE.sub("", source.__doc__ or "", 1))
            text = inspect.cleandoc(text)
            function = member.fget if isinstance(member, property) else member
            own = inspect.cleandoc(function.__doc__ or "")
            lead = (f"Awaitable :meth:`virtsnap.{sync.__name__}.{name}`, run on the thread pool; "
                    "handles come back as async handles.\n\n"
                    if inspect.iscoroutinefunction(function) else "")
            doc = lead + text + ("\n\n" + own if own else "")
            if isinstance(member, property):
                setattr(twin, name, property(member.fget, member.fset, member.fdel, doc))
            else:
                function.__doc__ = doc


_document_from_sync()
