"""Domain lifecycle events, shared by the sync API and virtsnap.aio.

libvirt refuses to register the same C callback twice for one event on one
connection, so each connection has one hub: one libvirt registration shared
by every open stream, made when the first opens and removed when the last
closes. The event loop's thread (virtsnap.aio's asyncio loop, or
:func:`virtsnap.start_event_loop`'s thread) hands each event to every stream
in libvirt's order; each stream buffers what its reader has not taken yet,
without a bound.
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
    _domain_event_deregister,
    _domain_event_register,
    _event_detail_names,
    _event_implementation,
)
from virtsnap.errors import LibvirtError

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


class _Hub:
    """One libvirt lifecycle registration on a connection, fanned out to subscribers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Weak: a stream dropped without close() is detached by its __del__.
        self.subscribers: "List[weakref.ref[_Subscriber]]" = []
        self.callback_id: Optional[int] = None
        self.rpc_lock = threading.Lock()      # one register/deregister at a time

    def deliver(self, name: str, uuid: str, event: int, detail: int) -> None:
        """Called by libvirt on the event loop's thread."""
        try:
            event_type = DomainEventType(event)
        except ValueError:                    # a type newer than our headers
            return
        item = DomainEvent(name, uuid, event_type, detail,
                           _event_detail_names.get((event, detail), str(detail)))
        with _hubs_lock:
            subscribers = [ref() for ref in self.subscribers]
        for subscriber in subscribers:
            if subscriber is not None and (subscriber.uuid is None or subscriber.uuid == uuid):
                subscriber.push(item)


_hubs: Dict[Connection, _Hub] = {}
_hubs_lock = threading.Lock()


def attach(conn: Connection, subscriber: _Subscriber) -> _Hub:
    """Add ``subscriber`` to the connection's hub; it gets every event from now on
    once :func:`ensure_registered` has returned."""
    with _hubs_lock:
        hub = _hubs.get(conn)
        if hub is None:
            hub = _hubs[conn] = _Hub(conn)
        hub.subscribers.append(weakref.ref(subscriber))
    return hub


def ensure_registered(hub: _Hub) -> None:
    """Register the hub with libvirt unless it is already (blocks: an RPC)."""
    with hub.rpc_lock:
        with _hubs_lock:
            needed = hub.callback_id is None and bool(hub.subscribers)
        if needed:
            hub.callback_id = _domain_event_register(hub.conn, hub.deliver)


def detach(hub: _Hub, subscriber: _Subscriber) -> bool:
    """Remove ``subscriber`` at once; True if the hub is now unused (then call
    :func:`release`, which blocks)."""
    with _hubs_lock:
        hub.subscribers = [ref for ref in hub.subscribers
                           if ref() is not subscriber and ref() is not None]
        return not hub.subscribers


def release(hub: _Hub) -> None:
    """Deregister an unused hub from libvirt and forget it (blocks: an RPC)."""
    with hub.rpc_lock:
        with _hubs_lock:
            if hub.subscribers:
                return
            if _hubs.get(hub.conn) is hub:
                del _hubs[hub.conn]
            callback_id, hub.callback_id = hub.callback_id, None
        if callback_id is not None and not hub.conn.closed:
            try:
                _domain_event_deregister(hub.conn, callback_id)
            except LibvirtError:
                pass                          # the connection died: libvirt dropped it


def open_hubs() -> int:
    """How many connections have a registration; for tests."""
    with _hubs_lock:
        return len(_hubs)


def check_event_loop() -> None:
    if _event_implementation() is None:
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
    _hub: Optional[_Hub] = None               # also while __init__ has not set it

    def _subscribe(self, conn: Connection) -> None:
        self._hub = attach(conn, self)
        try:
            ensure_registered(self._hub)
        except BaseException:
            self.close()
            raise

    def push(self, event: DomainEvent) -> None:
        raise NotImplementedError

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


class DomainEventStream(_Subscription):
    """A blocking iterator over lifecycle events, from its creation until :meth:`close`.

    Use it as a context manager, or close it; a ``for`` loop left with
    ``break`` leaves it open until then.
    """

    def __init__(self, conn: Connection, domain: Optional[Domain] = None) -> None:
        self.uuid = _uuid_of(domain)
        check_event_loop()
        self._queue: "queue.SimpleQueue[DomainEvent]" = queue.SimpleQueue()
        self._subscribe(conn)

    def push(self, event: DomainEvent) -> None:
        """Queue ``event`` for :meth:`get` (the event thread calls this)."""
        self._queue.put(event)

    def get(self, timeout: Optional[float] = None) -> DomainEvent:
        """The next event; queue.Empty after ``timeout`` seconds without one."""
        return self._queue.get(timeout=timeout)

    def __iter__(self) -> Iterator[DomainEvent]:
        return self

    def __next__(self) -> DomainEvent:
        if self._hub is None and self._queue.empty():
            raise StopIteration
        return self._queue.get()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run: no new events are queued."""
        return self._hub is None

    def __del__(self) -> None:
        self.close()


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
