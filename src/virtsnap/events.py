"""Domain lifecycle events, shared by the sync API and virtsnap.aio.

libvirt refuses to register the same C callback twice for one event on one
connection, so each connection has one hub: one libvirt registration shared
by every open stream, made when the first opens and removed when the last
closes. The event loop's thread (virtsnap.aio's asyncio loop, or
:func:`virtsnap.start_event_loop`'s thread) hands each event to every stream
in libvirt's order; each stream buffers what its reader has not taken yet,
without a bound.

Every registration and deregistration, of every hub, is made under one lock:
libvirt tells callbacks apart by their C function, so a hub registering while
an old hub of the same connection deregisters would be refused ("event
callback already tracked").

The end of a connection ends its streams: ``Connection.close()`` (through a
listener the core calls before it lets go of the connection) and libvirt's
close callback (the daemon died, keep-alive failed) hand every stream
:class:`~virtsnap.LibvirtConnectionError`; a stream's reader gets the events received
before it, then that error once, then the end of the iteration.
"""

import queue
import threading
import weakref
from typing import (Callable, Dict, Iterator, List, NamedTuple, Optional, Protocol, TypeVar,
                    Union)

from virtsnap._snapshot import (
    Connection,
    Domain,
    DomainEventType,
    close_callback_deregister,
    close_callback_register,
    domain_event_deregister,
    domain_event_register,
    event_detail_names,
    event_implementation,
    on_connection_close,
)
from virtsnap.errors import LibvirtConnectionError, LibvirtError

__all__ = ["DomainEvent", "DomainEventType", "DomainEventStream", "DomainEventCallback"]


class DomainEvent(NamedTuple):
    """One lifecycle event: ``event`` with libvirt's ``detail`` and its name."""

    #: The domain's name.
    domain: str
    #: The domain's UUID, as a string.
    uuid: str
    #: What happened (STARTED, STOPPED, ...).
    event: DomainEventType
    #: libvirt's detail code, whose enum depends on ``event``.
    detail: int
    #: The detail's name in libvirt's enum ("FROM_SNAPSHOT", "DESTROYED", ...).
    detail_name: str


class _Subscriber(Protocol):
    uuid: Optional[str]

    def push(self, event: DomainEvent) -> None: ...

    def end(self, error: LibvirtConnectionError) -> None: ...


# libvirt's virConnectCloseReason
_CLOSE_REASONS = {0: "an error on the connection", 1: "end of file from the daemon",
                  2: "the keep-alive timer ran out", 3: "closed by the client"}


class Hub:
    """One libvirt lifecycle registration on a connection, fanned out to subscribers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Weak: a stream dropped without close() is detached by its __del__.
        self.subscribers: "List[weakref.ref[_Subscriber]]" = []
        self.callback_id: Optional[int] = None
        self.watches_close = False            # libvirt's close callback is ours
        self.close_notice = _close_notice(self)  # lent to libvirt while watches_close

    def deliver(self, name: str, uuid: str, event: int, detail: int) -> None:
        """Called by libvirt on the event loop's thread."""
        try:
            event_type = DomainEventType(event)
        except ValueError:                    # a type newer than our headers
            return
        item = DomainEvent(name, uuid, event_type, detail,
                           event_detail_names.get((event, detail), str(detail)))
        with _hubs_lock:
            subscribers = [ref() for ref in self.subscribers]
        for subscriber in subscribers:
            if subscriber is not None and (subscriber.uuid is None or subscriber.uuid == uuid):
                subscriber.push(item)

    def lost(self, reason: int) -> None:
        """libvirt's close callback, on the event loop's thread: the connection died."""
        why = _CLOSE_REASONS.get(reason, f"reason {reason}")
        subscribers = _forget(self)
        # No RPC on the event loop's thread: the deregistrations (which only free
        # libvirt's records, the daemon being gone) run on a thread of their own.
        threading.Thread(target=_deregister, args=(self,), daemon=True,
                         name="virtsnap-events-lost").start()
        _end(subscribers, LibvirtConnectionError(f"the connection ended: {why}"))


def _close_notice(hub: Hub) -> Callable[[int], None]:
    """``hub.lost`` through a weak reference: the hub holds it without a cycle."""
    ref = weakref.ref(hub)

    def notice(reason: int) -> None:
        live = ref()
        if live is not None:
            live.lost(reason)
    return notice


_hubs: Dict[Connection, Hub] = {}
_hubs_lock = threading.Lock()
_rpc_lock = threading.Lock()                  # every (de)registration of every hub
_orphaned_notices: "List[Callable[[int], None]]" = []  # lent to a connection closed since


def _forget(hub: Hub) -> "List[_Subscriber]":
    """Take ``hub`` out of use; its live subscribers."""
    with _hubs_lock:
        if _hubs.get(hub.conn) is hub:
            del _hubs[hub.conn]
        subscribers = [ref() for ref in hub.subscribers]
        hub.subscribers = []
    return [subscriber for subscriber in subscribers if subscriber is not None]


def _deregister(hub: Hub) -> None:
    """Remove the hub's libvirt callbacks (blocks: RPCs); errors of a dead connection
    are expected, libvirt frees its records first."""
    with _rpc_lock:
        callback_id, hub.callback_id = hub.callback_id, None
        watches_close, hub.watches_close = hub.watches_close, False
        if hub.conn.closed:
            if watches_close:                 # libvirt may still hold the notice: keep it
                _orphaned_notices.append(hub.close_notice)
            return
        if callback_id is not None:
            try:
                domain_event_deregister(hub.conn, callback_id)
            except LibvirtError:
                pass
        if watches_close:
            try:
                close_callback_deregister(hub.conn)
            except LibvirtError:
                pass


def _end(subscribers: "List[_Subscriber]", error: LibvirtConnectionError) -> None:
    for subscriber in subscribers:
        subscriber.end(error)


def _connection_closing(conn: Connection) -> None:
    """Called by ``Connection.close()`` while the connection still works."""
    with _hubs_lock:
        hub = _hubs.get(conn)
    if hub is None:
        return
    subscribers = _forget(hub)
    _deregister(hub)
    _end(subscribers, LibvirtConnectionError("the connection was closed"))


on_connection_close(_connection_closing)


def attach(conn: Connection, subscriber: _Subscriber) -> Hub:
    """Add ``subscriber`` to the connection's hub; it gets every event from now on
    once :func:`ensure_registered` has returned."""
    with _hubs_lock:
        hub = _hubs.get(conn)
        if hub is None:
            hub = _hubs[conn] = Hub(conn)
        hub.subscribers.append(weakref.ref(subscriber))
    return hub


def ensure_registered(hub: Hub) -> None:
    """Register the hub with libvirt unless it is already (blocks: an RPC).

    LibvirtConnectionError if the hub's connection has ended meanwhile.
    """
    with _rpc_lock:
        with _hubs_lock:
            if _hubs.get(hub.conn) is not hub:
                raise LibvirtConnectionError("the connection was closed")
            needed = hub.callback_id is None and bool(hub.subscribers)
        if needed:
            hub.callback_id = domain_event_register(hub.conn, hub.deliver)
            try:
                close_callback_register(hub.conn, hub.close_notice)
                hub.watches_close = True
            except LibvirtError:
                pass                          # a driver without it: the test driver


def detach(hub: Hub, subscriber: _Subscriber) -> bool:
    """Remove ``subscriber`` at once; True if the hub is now unused (then call
    :func:`release`, which blocks)."""
    with _hubs_lock:
        hub.subscribers = [ref for ref in hub.subscribers
                           if ref() is not subscriber and ref() is not None]
        return not hub.subscribers


def release(hub: Hub) -> None:
    """Deregister an unused hub from libvirt and forget it (blocks: an RPC)."""
    with _hubs_lock:
        if hub.subscribers:
            return
        if _hubs.get(hub.conn) is hub:
            del _hubs[hub.conn]
    _deregister(hub)


def open_hubs() -> int:
    """How many connections have a registration; for tests."""
    with _hubs_lock:
        return len(_hubs)


def check_event_loop() -> None:
    if event_implementation() is None:
        raise RuntimeError("domain events need an event loop: call virtsnap.start_event_loop() "
                           "first, or use virtsnap.aio")


def _uuid_of(domain: Optional[Domain]) -> Optional[str]:
    if domain is None:
        return None
    if not isinstance(domain, Domain):
        raise TypeError(f"domain must be a virtsnap.Domain or None, not {type(domain).__name__}")
    return domain.uuid


_Self = TypeVar("_Self", bound="_Subscription")


class _Subscription:
    """What the sync subscribers share: a place on a hub, from _subscribe() to close()."""

    #: The UUID of the one domain it follows, or None for every domain.
    uuid: Optional[str]
    _hub: Optional[Hub] = None                # also while __init__ has not set it

    def _subscribe(self, conn: Connection) -> None:
        self._hub = attach(conn, self)
        try:
            ensure_registered(self._hub)
        except BaseException:
            self.close()
            raise

    def push(self, event: DomainEvent) -> None:
        raise NotImplementedError

    def end(self, error: LibvirtConnectionError) -> None:
        """The connection ended: no more events (the hub has dropped this subscriber)."""
        self._hub = None

    def close(self) -> None:
        """Stop receiving events; safe to call twice. The last subscriber of a
        connection to close deregisters libvirt's callback."""
        hub, self._hub = self._hub, None
        if hub is not None and detach(hub, self):
            release(hub)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Ended(NamedTuple):
    """The last item of a stream's queue: its end, and the error to raise once, if any."""

    error: Optional[LibvirtConnectionError]


class DomainEventStream(_Subscription):
    """A blocking iterator over lifecycle events, from its creation until :meth:`close`.

    Use it as a context manager, or close it; a ``for`` loop left with
    ``break`` leaves it open until then. After :meth:`close` the iteration
    stops once the events already received are read; when the connection
    ends (closed, or its daemon gone) it raises LibvirtConnectionError
    instead, once, after those events.
    """

    def __init__(self, conn: Connection, domain: Optional[Domain] = None) -> None:
        self.uuid = _uuid_of(domain)
        check_event_loop()
        self._queue: "queue.SimpleQueue[Union[DomainEvent, _Ended]]" = queue.SimpleQueue()
        self._over = False                    # the end was read
        self._subscribe(conn)

    def push(self, event: DomainEvent) -> None:
        """Queue ``event`` for :meth:`get` (the event thread calls this)."""
        self._queue.put(event)

    def end(self, error: LibvirtConnectionError) -> None:
        """The connection ended: the reader gets ``error`` after the events received."""
        if self._hub is not None:
            super().end(error)
            self._queue.put(_Ended(error))

    def close(self) -> None:
        """Stop receiving; the iteration stops once the events received are read."""
        if self._hub is not None:
            super().close()
            self._queue.put(_Ended(None))

    def get(self, timeout: Optional[float] = None) -> DomainEvent:
        """The next event; queue.Empty after ``timeout`` seconds without one,
        StopIteration at the end, LibvirtConnectionError when the connection ended."""
        if self._over:
            raise StopIteration
        item = self._queue.get(timeout=timeout)
        if isinstance(item, _Ended):
            self._over = True
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def __iter__(self) -> Iterator[DomainEvent]:
        return self

    def __next__(self) -> DomainEvent:
        return self.get()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run: no new events are queued."""
        return self._hub is None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:                     # at interpreter exit: nothing to report to
            pass


class DomainEventCallback(_Subscription):
    """``callback(event)`` for every lifecycle event, on the event loop's thread, until
    :meth:`close`. Exceptions it raises are logged (logger ``virtsnap.events``)."""

    def __init__(self, conn: Connection, callback: Callable[[DomainEvent], object],
                 domain: Optional[Domain] = None) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        self.uuid = _uuid_of(domain)
        check_event_loop()
        self._callback = callback
        _live_callbacks.add(self)             # until close(), dropped or not
        self._subscribe(conn)

    def push(self, event: DomainEvent) -> None:
        """Call the callback with ``event``, logging what it raises (the event thread calls this)."""
        try:
            self._callback(event)
        except Exception:
            import logging
            logging.getLogger("virtsnap.events").exception("error in a domain event callback")

    def end(self, error: LibvirtConnectionError) -> None:
        """The connection ended: no more calls."""
        _live_callbacks.discard(self)
        super().end(error)

    def close(self) -> None:
        """Stop calling the callback; safe to call twice."""
        _live_callbacks.discard(self)
        super().close()


_live_callbacks: "set[DomainEventCallback]" = set()


def domain_events(
    conn: Connection, domain: Optional[Domain] = None,
    callback: Optional[Callable[[DomainEvent], object]] = None,
) -> Union[DomainEventStream, DomainEventCallback]:
    """:meth:`virtsnap.Connection.domain_events`."""
    if callback is None:
        return DomainEventStream(conn, domain)
    return DomainEventCallback(conn, callback, domain)
