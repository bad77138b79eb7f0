# Events (virtsnap.aio, virtsnap.events): libvirt's event implementation on an
# asyncio loop, and lifecycle events. Included at the end of snapshot.pyx, whose
# helpers (_decode, _conn_acquire, _conn_release, ...) and libvirt declarations
# it uses. It lives in the core because libvirt hands it C callbacks, and those
# must be called with the GIL released: libvirt may hold its own locks around them.

from cpython.ref cimport Py_DECREF

from virtsnap.errors import EventLoopConflictError


cdef dict _detail_table():
    cdef dict out = {}
    cdef const virtsnap_event_detail *entry = virtsnap_event_details
    while entry.name != NULL:
        out[(entry.event, entry.value)] = _decode(entry.name)
        entry += 1
    return out


# {(event, detail): detail name}, from libvirt's virDomainEvent*DetailType enums.
event_detail_names = _detail_table()

cdef enum:
    _IMPL_NONE = 0
    _IMPL_DEFAULT = 1     # start_event_loop(): libvirt's poll loop in a thread
    _IMPL_ASYNCIO = 2     # _AsyncioEvents on an asyncio loop

cdef int _event_impl = _IMPL_NONE


cdef void _noop_timeout(int timer, void *opaque) noexcept nogil:
    pass


cdef bint _foreign_event_impl():
    """Has someone else (libvirt-python) registered an event implementation?"""
    cdef int timer
    if virInitialize() < 0:         # sets up the thread-local error read below
        _raise_last_error()
    with nogil:
        # Adding a timeout fails only while no implementation is registered.
        timer = virEventAddTimeout(-1, _noop_timeout, NULL, NULL)
        if timer >= 0:
            virEventRemoveTimeout(timer)
    virResetLastError()
    return timer >= 0


_IMPL_NAMES = {_IMPL_DEFAULT: "virtsnap.start_event_loop()",
               _IMPL_ASYNCIO: "virtsnap.aio (on an asyncio loop)"}


cdef int _claim_event_impl(int kind) except -1:
    """Take the process's one event implementation for ``kind``, or raise."""
    global _event_impl
    if _event_impl == kind:
        return 0
    if _event_impl != _IMPL_NONE:
        raise EventLoopConflictError(
            f"{_IMPL_NAMES[_event_impl]} already registered libvirt's event "
            f"implementation in this process; {_IMPL_NAMES[kind]} cannot register another")
    if _foreign_event_impl():
        raise EventLoopConflictError(
            "another libvirt event implementation (libvirt-python's libvirtaio or "
            "virEventRegisterDefaultImpl) is already registered in this process; "
            f"{_IMPL_NAMES[kind]} cannot register another")
    _event_impl = kind
    return 0


cdef void _callback_failed(str where) noexcept:
    # Nothing may propagate into libvirt; the error goes to logging instead.
    try:
        import logging
        logging.getLogger("virtsnap.events").exception("error in %s", where)
    except BaseException:
        pass


@cython.final
@cython.internal
cdef class _Watch:
    cdef int id
    cdef int fd
    cdef int events
    cdef virEventHandleCallback cb
    cdef void *opaque
    cdef virFreeCallback ff


@cython.final
@cython.internal
cdef class _Timer:
    cdef int id
    cdef int interval              # ms; -1 disabled, 0 every loop iteration
    cdef virEventTimeoutCallback cb
    cdef void *opaque
    cdef virFreeCallback ff
    cdef object handle             # the asyncio TimerHandle while scheduled


@cython.final
@cython.internal
cdef class _AsyncioEvents:
    """libvirt's file watches and timeouts on one asyncio selector loop.

    libvirt calls in from any thread (with the GIL released); watches are
    applied to the loop's selector at once, timers on the loop thread. Every
    libvirt callback runs on the loop thread, without the GIL.
    """

    cdef object loop
    cdef object loop_thread
    cdef object get_ident
    cdef dict watches              # id -> _Watch
    cdef dict timers               # id -> _Timer
    cdef dict registered           # fd -> (reading, writing) as set on the loop
    cdef list pending              # (function, argument) waiting for a loop
    cdef int next_watch
    cdef int next_timer
    cdef bint wake_after_change
    cdef object lock               # watches and the selector: one thread at a time

    def __cinit__(self):
        import threading
        self.get_ident = threading.get_ident
        # asyncio code can let the GIL go mid-update; it never calls libvirt.
        self.lock = threading.RLock()
        self.watches = {}
        self.timers = {}
        self.registered = {}
        self.pending = []

    cdef bint usable(self):
        return self.loop is not None and not self.loop.is_closed()

    cdef on_loop_thread(self):
        return self.usable() and self.get_ident() == self.loop_thread

    cdef later(self, function, argument):
        """``function(argument)`` on the loop thread, soon (or once a loop attaches)."""
        if self.usable():
            try:
                self.loop.call_soon_threadsafe(function, argument)
                return
            except RuntimeError:       # closed meanwhile
                pass
        self.pending.append((function, argument))

    def attach(self, loop):
        """Move every watch and timer onto ``loop``, run by the calling thread."""
        with self.lock:
            self.attach_locked(loop)

    cdef attach_locked(self, loop):
        import asyncio.selector_events
        if loop is self.loop and self.loop_thread == self.get_ident():
            return
        if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
            raise TypeError(f"virtsnap.aio needs an asyncio selector event loop, "
                            f"not {type(loop).__name__}")
        old = self.loop
        if old is not None and not old.is_closed():
            if old.is_running() and self.loop_thread != self.get_ident():
                raise RuntimeError("virtsnap.aio's events already run on an asyncio "
                                   "loop in another thread")
            for fd in list(self.registered):
                _quietly(old.remove_reader, fd)
                _quietly(old.remove_writer, fd)
        for timer in self.timers.values():
            if (<_Timer>timer).handle is not None:
                (<_Timer>timer).handle.cancel()
                (<_Timer>timer).handle = None
        self.loop = loop
        self.loop_thread = self.get_ident()
        # epoll sees a change made from another thread at once; select() and
        # poll() only at their next call, so the loop is woken for them.
        import selectors
        self.wake_after_change = not isinstance(getattr(loop, "_selector", None),
                                                selectors.EpollSelector)
        self.registered = {}
        for fd in {(<_Watch>w).fd for w in self.watches.values()}:
            self.apply_fd(fd, False)
        for timer in list(self.timers.values()):
            self.apply_timer(timer)
        pending, self.pending = self.pending, []
        for function, argument in pending:
            function(argument)

    # -- file watches

    cdef int add_handle(self, int fd, int events, virEventHandleCallback cb, void *opaque,
                        virFreeCallback ff) except -1:
        cdef _Watch w = _Watch.__new__(_Watch)
        with self.lock:
            self.next_watch += 1
            w.id, w.fd, w.events, w.cb, w.opaque, w.ff = self.next_watch, fd, events, cb, opaque, ff
            self.watches[w.id] = w
            self.apply_fd(fd, False)
        return w.id

    cdef update_handle(self, int watch, int events):
        cdef _Watch w
        with self.lock:
            w = self.watches.get(watch)
            if w is not None:
                w.events = events
                self.apply_fd(w.fd, True)

    cdef int remove_handle(self, int watch) except -2:
        cdef _Watch w
        with self.lock:
            w = self.watches.pop(watch, None)
            if w is None:
                return -1
            self.apply_fd(w.fd, False)
        # libvirt wants ff called later, never from inside removeHandle.
        self.later(self._free_watch, w)
        return 0

    cdef apply_fd(self, int fd, bint lazy):
        """Make the loop's reader/writer on ``fd`` match the watches on it.

        Called from any thread: libvirt closes the fd right after removeHandle,
        so the selector must forget it now, not later on the loop thread.
        ``lazy`` (a watch only disabled, its fd still open) leaves a reader or
        writer that is no longer wanted until it fires: libvirt disables and
        re-enables its socket's watch around every call.
        """
        cdef bint reading = False, writing = False
        cdef _Watch w
        for w in self.watches.values():
            if w.fd == fd:
                reading = reading or (w.events & VIR_EVENT_HANDLE_READABLE) != 0
                writing = writing or (w.events & VIR_EVENT_HANDLE_WRITABLE) != 0
        if not self.usable():
            return
        was_reading, was_writing = self.registered.pop(fd, (False, False))
        loop = self.loop
        if was_reading and not reading:
            if lazy:
                reading = True
            else:
                _quietly(loop.remove_reader, fd)
        if was_writing and not writing:
            if lazy:
                writing = True
            else:
                _quietly(loop.remove_writer, fd)
        try:
            if reading and not was_reading:
                loop.add_reader(fd, self._ready, fd, VIR_EVENT_HANDLE_READABLE)
            if writing and not was_writing:
                loop.add_writer(fd, self._ready, fd, VIR_EVENT_HANDLE_WRITABLE)
        except (OSError, ValueError):
            # Already closed by libvirt: its removeHandle follows.
            _quietly(loop.remove_reader, fd)
            _quietly(loop.remove_writer, fd)
            return
        if reading or writing:
            self.registered[fd] = (reading, writing)
        if self.wake_after_change and not self.on_loop_thread():
            try:
                loop.call_soon_threadsafe(_noop)
            except RuntimeError:
                pass

    def _ready(self, int fd, int event):
        cdef _Watch w
        cdef virEventHandleCallback cb
        cdef void *opaque
        cdef int watch
        cdef bint wanted = False
        with self.lock:
            candidates = list(self.watches.values())
        for w in candidates:
            with self.lock:
                if w.fd != fd or not (w.events & event) or self.watches.get(w.id) is not w:
                    continue
                cb, opaque, watch = w.cb, w.opaque, w.id
            wanted = True
            with nogil:
                cb(watch, fd, event, opaque)
        if not wanted:
            with self.lock:               # a lazily kept reader/writer: drop it now
                self.apply_fd(fd, False)

    def _free_watch(self, _Watch w):
        cdef virFreeCallback ff = w.ff
        cdef void *opaque = w.opaque
        w.ff = NULL
        if ff != NULL:
            with nogil:
                ff(opaque)

    # -- timeouts

    cdef int add_timeout(self, int interval, virEventTimeoutCallback cb, void *opaque,
                         virFreeCallback ff) except -1:
        cdef _Timer t = _Timer.__new__(_Timer)
        self.next_timer += 1
        t.id, t.interval, t.cb, t.opaque, t.ff = self.next_timer, interval, cb, opaque, ff
        self.timers[t.id] = t
        self.touch_timer(t)
        return t.id

    cdef update_timeout(self, int timer, int interval):
        cdef _Timer t = self.timers.get(timer)
        if t is not None:
            t.interval = interval
            self.touch_timer(t)

    cdef int remove_timeout(self, int timer) except -2:
        cdef _Timer t = self.timers.pop(timer, None)
        if t is None:
            return -1
        self.touch_timer(t)
        self.later(self._free_timer, t)
        return 0

    cdef touch_timer(self, _Timer t):
        if self.on_loop_thread():
            self.apply_timer(t)
        else:
            self.later(self._apply_timer, t)

    def _apply_timer(self, _Timer t):
        self.apply_timer(t)

    cdef apply_timer(self, _Timer t):
        if t.handle is not None:
            t.handle.cancel()
            t.handle = None
        if self.timers.get(t.id) is t and t.interval >= 0 and self.usable():
            t.handle = self.loop.call_later(t.interval / 1000.0, self._fire, t)

    def _fire(self, _Timer t):
        cdef virEventTimeoutCallback cb = t.cb
        cdef void *opaque = t.opaque
        cdef int timer = t.id
        t.handle = None
        if self.timers.get(timer) is not t:
            return
        with nogil:
            cb(timer, opaque)
        # Periodic unless the callback changed or removed it.
        if t.handle is None:
            self.apply_timer(t)

    def _free_timer(self, _Timer t):
        cdef virFreeCallback ff = t.ff
        cdef void *opaque = t.opaque
        t.ff = NULL
        if ff != NULL:
            with nogil:
                ff(opaque)


def _noop():
    pass


cdef _quietly(function, int fd):
    try:
        function(fd)
    except (OSError, ValueError, RuntimeError):
        pass


cdef _AsyncioEvents _asyncio_events = None


# The C side of the implementation: each enters Python and never lets an
# exception out (libvirt gets -1 where it can take an error).

cdef int _add_handle(int fd, int events, virEventHandleCallback cb, void *opaque,
                     virFreeCallback ff) noexcept with gil:
    try:
        return _asyncio_events.add_handle(fd, events, cb, opaque, ff)
    except BaseException:
        _callback_failed("addHandle")
        return -1


cdef void _update_handle(int watch, int events) noexcept with gil:
    try:
        _asyncio_events.update_handle(watch, events)
    except BaseException:
        _callback_failed("updateHandle")


cdef int _remove_handle(int watch) noexcept with gil:
    try:
        return _asyncio_events.remove_handle(watch)
    except BaseException:
        _callback_failed("removeHandle")
        return -1


cdef int _add_timeout(int interval, virEventTimeoutCallback cb, void *opaque,
                      virFreeCallback ff) noexcept with gil:
    try:
        return _asyncio_events.add_timeout(interval, cb, opaque, ff)
    except BaseException:
        _callback_failed("addTimeout")
        return -1


cdef void _update_timeout(int timer, int interval) noexcept with gil:
    try:
        _asyncio_events.update_timeout(timer, interval)
    except BaseException:
        _callback_failed("updateTimeout")


cdef int _remove_timeout(int timer) noexcept with gil:
    try:
        return _asyncio_events.remove_timeout(timer)
    except BaseException:
        _callback_failed("removeTimeout")
        return -1


def attach_asyncio_loop(loop):
    """Register virtsnap's asyncio event implementation (once per process) on ``loop``.

    Later calls move every libvirt watch and timer onto the given loop.
    """
    global _asyncio_events, _event_impl
    if _event_impl != _IMPL_ASYNCIO:
        _claim_event_impl(_IMPL_ASYNCIO)
        _asyncio_events = _AsyncioEvents.__new__(_AsyncioEvents)
        try:
            _asyncio_events.attach(loop)
        except BaseException:
            _event_impl = _IMPL_NONE
            raise
        virEventRegisterImpl(_add_handle, _update_handle, _remove_handle,
                             _add_timeout, _update_timeout, _remove_timeout)
        return
    _asyncio_events.attach(loop)


def event_implementation():
    """Which event implementation virtsnap registered: None, "thread" or "asyncio"."""
    return {_IMPL_NONE: None, _IMPL_DEFAULT: "thread", _IMPL_ASYNCIO: "asyncio"}[_event_impl]


# ---------------------------------------------------------------- lifecycle events

cdef int _lifecycle_event(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                          void *opaque) noexcept with gil:
    cdef char uuid[VIR_UUID_STRING_BUFLEN]
    try:
        if virDomainGetUUIDString(dom, uuid) < 0:
            virResetLastError()
            uuid[0] = 0
        (<object>opaque)(_decode(virDomainGetName(dom)), _decode(uuid), event, detail)
    except BaseException:
        _callback_failed("a domain event callback")
    return 0


cdef void _release_callback(void *opaque) noexcept with gil:
    Py_DECREF(<object>opaque)


def domain_event_register(Connection conn, callback):
    """Call ``callback(name, uuid, event, detail)`` for every domain's lifecycle
    events on the event loop's thread; the libvirt callback id."""
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    cdef virConnectPtr ptr = _conn_acquire(conn)
    cdef int callback_id
    Py_INCREF(callback)             # libvirt's reference, dropped by _release_callback
    with nogil:
        callback_id = virConnectDomainEventRegisterAny(
            ptr, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            <virConnectDomainEventGenericCallback>_lifecycle_event,
            <void *>callback, _release_callback)
    try:
        _conn_release(ptr, callback_id < 0)
    except BaseException:
        Py_DECREF(callback)         # libvirt does not call the free callback on failure
        raise
    return callback_id


def domain_event_deregister(Connection conn, int callback_id):
    cdef virConnectPtr ptr = _conn_acquire(conn)
    cdef int rc
    with nogil:
        rc = virConnectDomainEventDeregisterAny(ptr, callback_id)
    _conn_release(ptr, rc < 0)


# ---------------------------------------------------------------- end of a connection

cdef void _connection_lost(virConnectPtr conn, int reason, void *opaque) noexcept with gil:
    try:
        (<object>opaque)(reason)
    except BaseException:
        _callback_failed("a connection close callback")


def close_callback_register(Connection conn, callback):
    """Call ``callback(reason)`` on the event loop's thread when the connection ends
    by itself (the daemon died, keep-alive failed); only the remote driver does.

    libvirt borrows ``callback``: the caller keeps it alive until
    :func:`close_callback_deregister` has returned. (A driver without close
    notices accepts the registration and never frees it, so libvirt cannot own
    a reference.)
    """
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    cdef virConnectPtr ptr = _conn_acquire(conn)
    cdef int rc
    with nogil:
        rc = virConnectRegisterCloseCallback(ptr, _connection_lost, <void *>callback, NULL)
    _conn_release(ptr, rc < 0)


def close_callback_deregister(Connection conn):
    cdef virConnectPtr ptr = _conn_acquire(conn)
    cdef int rc
    with nogil:
        rc = virConnectUnregisterCloseCallback(ptr, _connection_lost)
    _conn_release(ptr, rc < 0)


_connection_closing = None          # set by virtsnap.events: ends a connection's streams


def on_connection_close(listener):
    """``listener(conn)`` runs in Connection.close() while the connection still works
    (virtsnap.events sets it; None unsets it)."""
    global _connection_closing
    if listener is not None and not callable(listener):
        raise TypeError(f"listener must be callable or None, not {type(listener).__name__}")
    _connection_closing = listener


cdef void _notify_close(Connection conn) noexcept:
    if _connection_closing is None or conn.ptr == NULL:
        return
    try:
        _connection_closing(conn)
    except BaseException:
        _callback_failed("ending the event streams of a closed connection")
