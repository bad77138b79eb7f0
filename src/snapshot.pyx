# cython: language_level=3, embedsignature=True
"""virtsnap's compiled core: libvirt connections, domains and domain snapshots.

Every call that can reach a driver or a daemon runs with the GIL released.
Each wrapper owns one libvirt reference and keeps its parent wrapper alive
(snapshot -> domain -> connection), so a handle stays valid however the
caller drops the others.
"""

cimport cython
from cpython.object cimport PyObject
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from cpython.pythread cimport (
    NOWAIT_LOCK, WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock, PyThread_free_lock,
    PyThread_release_lock, PyThread_start_new_thread, PyThread_type_lock,
)
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, strcmp, strlen

from libvirt cimport *

import sys as _sys

from virtsnap.errors import (
    DomainNotFoundError,
    InvalidArgumentError,
    LibvirtConnectionError,
    LibvirtError,
    OperationDeniedError,
    OperationInvalidError,
    OperationUnsupportedError,
    SnapshotNotFoundError,
    XMLError,
)

cdef extern from "Python.h":
    ctypedef struct _TypeObject "PyTypeObject":
        PyObject *tp_dict
    void PyType_Modified(_TypeObject *type)


# ---------------------------------------------------------------- errors

cdef void _discard_error(void *user_data, virErrorPtr error) noexcept nogil:
    pass

# libvirt's default handler prints every error to stderr; we raise instead.
# Each connection virtsnap opens gets a handler of its own (open()), so a
# handler that libvirt-python registers never sees virtsnap's failures. The
# process-wide one, which serves failures with no connection yet (a failing
# open()), is libvirt-python's once it is loaded: leave it alone then.
if "libvirt" not in _sys.modules:
    virSetErrorFunc(NULL, _discard_error)

cdef dict _ERROR_CLASSES = {
    VIR_ERR_NO_DOMAIN_SNAPSHOT: SnapshotNotFoundError,
    VIR_ERR_NO_DOMAIN: DomainNotFoundError,
    VIR_ERR_INVALID_ARG: InvalidArgumentError,
    VIR_ERR_XML_ERROR: XMLError,
    VIR_ERR_XML_DETAIL: XMLError,
    VIR_ERR_XML_INVALID_SCHEMA: XMLError,
    VIR_ERR_OPERATION_INVALID: OperationInvalidError,
    VIR_ERR_NO_SUPPORT: OperationUnsupportedError,
    VIR_ERR_OPERATION_UNSUPPORTED: OperationUnsupportedError,
    VIR_ERR_CONFIG_UNSUPPORTED: OperationUnsupportedError,
    VIR_ERR_ARGUMENT_UNSUPPORTED: OperationUnsupportedError,
    VIR_ERR_OPERATION_DENIED: OperationDeniedError,
    VIR_ERR_NO_CONNECT: LibvirtConnectionError,
}


cdef object _last_error():
    """The exception for the libvirt error set on this thread, which it resets."""
    try:
        return _error_from(virGetLastError())
    finally:
        virResetLastError()


cdef object _error_from(virErrorPtr err):
    """The exception for a libvirt error; a generic one for NULL."""
    if err == NULL:
        return LibvirtError("libvirt call failed without reporting an error",
                            VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE, VIR_ERR_ERROR)
    message = _decode_lossy(err.message) if err.message != NULL else "unknown libvirt error"
    if err.domain == VIR_FROM_RPC and err.code != VIR_ERR_RPC:
        # The RPC layer failed to connect or lost the connection. VIR_ERR_RPC
        # is also its code for a message over the protocol's limits, on a
        # connection that is still alive: that one stays a plain LibvirtError.
        cls = LibvirtConnectionError
    else:
        cls = _ERROR_CLASSES.get(err.code, LibvirtError)
    return cls(message, err.code, err.domain, err.level)


cdef int _raise_last_error() except -1:
    raise _last_error()


cdef int _raise_closed() except -1:
    raise LibvirtConnectionError("the connection is closed", VIR_ERR_NO_CONNECT,
                                 VIR_FROM_NONE, VIR_ERR_ERROR)


# ---------------------------------------------------------------- strings

cdef inline object _checked_int(object value, str what):
    """``value`` if it is an int; C conversion then raises OverflowError out of range."""
    if not isinstance(value, int):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    return value


cdef inline str _decode(const char *s):
    return s[:strlen(s)].decode("utf-8")


cdef inline str _decode_lossy(const char *s):
    """Text that libvirt does not promise to be UTF-8 (messages, paths, parameters)."""
    return s[:strlen(s)].decode("utf-8", "replace")


cdef const char *_utf8(object value, str what) except NULL:
    """The UTF-8 text of a str argument, checked before any C call.

    The buffer belongs to ``value`` (CPython caches it there), so it lives as
    long as the caller holds ``value``.
    """
    cdef Py_ssize_t size
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    cdef const char *data = PyUnicode_AsUTF8AndSize(value, &size)
    if strlen(data) != <size_t>size:
        raise ValueError(f"{what} must not contain NUL characters")
    return data


cdef str _take_string(char *s):
    """Decode a string that libvirt allocated for us, and free it."""
    try:
        return _decode(s)
    finally:
        free(s)


cpdef str xml_escape(str text):
    """``text`` for XML element text or a quoted attribute (also the CLI's).

    A raw CR would be normalised away by the XML parser; &#13; keeps it.
    """
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;").replace("\r", "&#13;"))


cdef str _snapshot_xml(object name, object description):
    parts = ["<domainsnapshot>"]
    if name is not None:
        _utf8(name, "name")
        if not name:
            raise ValueError("name must not be empty (libvirt would invent one)")
        parts.append(f"<name>{xml_escape(name)}</name>")
    if description is not None:
        _utf8(description, "description")
        parts.append(f"<description>{xml_escape(description)}</description>")
    parts.append("</domainsnapshot>")
    return "".join(parts)


# ---------------------------------------------------------------- constants

cdef unsigned long _runtime_version = 0
if virGetVersion(&_runtime_version, NULL, NULL) < 0:
    _raise_last_error()
# Members newer than libvirt 7.0, e.g. {"RevertFlags.RESET_NVRAM": (8, 1, 0)}:
# each exists only when the libvirt loaded at run time is that new.
_newer_flags = {}


cdef dict _const_table(const virtsnap_const *entry, str owner=""):
    cdef dict out = {}
    while entry.name != NULL:
        if entry.since:
            _newer_flags[f"{owner}.{_decode(entry.name)}"] = _version_tuple(entry.since)
        if entry.since <= _runtime_version:
            out[_decode(entry.name)] = entry.value
        entry += 1
    return out


# The enum classes are built on first use (the module's __getattr__, PEP 562):
# the enum module and the classes cost more than the rest of the import.
# The member tables are read here, so _newer_flags is complete at import.
cdef dict _FLAG_MEMBERS = {
    "CreateFlags": _const_table(virtsnap_create_flags, "CreateFlags"),
    "DeleteFlags": _const_table(virtsnap_delete_flags, "DeleteFlags"),
    "ListFlags": _const_table(virtsnap_list_flags, "ListFlags"),
    "RevertFlags": _const_table(virtsnap_revert_flags, "RevertFlags"),
    "XMLFlags": _const_table(virtsnap_xml_flags, "XMLFlags"),
    "DomainListFlags": _const_table(virtsnap_domain_list_flags, "DomainListFlags"),
}
_ENUM_DOCS = {
    "CreateFlags": "Flags of :meth:`Domain.create_snapshot` (``VIR_DOMAIN_SNAPSHOT_CREATE_*``).",
    "DeleteFlags": "Flags of :meth:`DomainSnapshot.delete` (``VIR_DOMAIN_SNAPSHOT_DELETE_*``).",
    "ListFlags": "Filters of the snapshot listings and counts (``VIR_DOMAIN_SNAPSHOT_LIST_*``);"
                 " ``DESCENDANTS`` and ``ROOTS`` share one bit.",
    "RevertFlags": "Flags of :meth:`DomainSnapshot.revert_to` (``VIR_DOMAIN_SNAPSHOT_REVERT_*``).",
    "XMLFlags": "Flags of :meth:`DomainSnapshot.get_xml_description` (``VIR_DOMAIN_SNAPSHOT_XML_*``).",
    "DomainListFlags": "Filters of :meth:`Connection.list_all_domains` (``VIR_CONNECT_LIST_DOMAINS_*``).",
    "DomainState": "What :meth:`Domain.state` returns (``VIR_DOMAIN_*`` of ``virDomainState``).",
    "JobType": "The ``type`` of :meth:`Domain.get_job_stats` (``VIR_DOMAIN_JOB_*``).",
    "DomainEventType": "A lifecycle event's kind (``VIR_DOMAIN_EVENT_*``), in :class:`DomainEvent`.",
    "ErrorCode": "A libvirt error's number (``VIR_ERR_*`` of ``virErrorNumber``), the ``code`` of"
                 " every :class:`LibvirtError`.",
}
cdef dict _ENUM_MEMBERS = {
    "DomainState": _const_table(virtsnap_domain_states),
    "JobType": _const_table(virtsnap_job_types),
    "DomainEventType": _const_table(virtsnap_event_types),
    "ErrorCode": _const_table(virtsnap_error_codes),
}


cdef object _enum_class(str name):
    """The IntFlag or IntEnum class ``name``, built once."""
    cdef dict module = globals()
    cls = module.get(name)
    if cls is None:
        import enum
        if name in _FLAG_MEMBERS:
            cls = enum.IntFlag(name, _FLAG_MEMBERS[name], module="virtsnap")
        else:
            cls = enum.IntEnum(name, _ENUM_MEMBERS[name], module="virtsnap")
        cls.__doc__ = _ENUM_DOCS[name]
        module[name] = cls
    return cls


def __getattr__(name):
    if name in _FLAG_MEMBERS or name in _ENUM_MEMBERS:
        return _enum_class(name)
    raise AttributeError(f"module 'virtsnap._snapshot' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FLAG_MEMBERS) | set(_ENUM_MEMBERS))


def flag_value(str flags, str member):
    """The int of ``flags.member`` (``flag_value("ListFlags", "DESCENDANTS")``), without
    building the enum class: for short programs, to which the enum module costs more
    than their work."""
    try:
        return _FLAG_MEMBERS[flags][member]
    except KeyError:
        raise ValueError(f"no flag {flags}.{member}") from None


cdef object _enum_or_int(object cls, int value):
    """The member for ``value``; the plain int for a value newer than our headers."""
    try:
        return cls(value)
    except ValueError:
        return value


def libvirt_version():
    """The version of the libvirt library loaded at run time, as (major, minor, micro)."""
    cdef unsigned long version = 0
    if virGetVersion(&version, NULL, NULL) < 0:
        _raise_last_error()
    return _version_tuple(version)


def libvirt_build_version():
    """The version of the libvirt headers virtsnap was compiled against."""
    return _version_tuple(LIBVIR_VERSION_NUMBER)


cdef tuple _version_tuple(unsigned long version):
    return (version // 1000000, version // 1000 % 1000, version % 1000)


# ---------------------------------------------------------------- interop

cdef void *_capsule_pointer(object obj, str expected, const char *capsule_name) except NULL:
    capsule = getattr(obj, "_o", None)
    if capsule is None or not PyCapsule_IsValid(capsule, capsule_name):
        raise TypeError(f"expected a libvirt-python {expected} object, "
                        f"not {type(obj).__name__}")
    return PyCapsule_GetPointer(capsule, capsule_name)


# ---------------------------------------------------------------- event loop

cdef bint _event_loop_started = False


def start_event_loop():
    """Register libvirt's default event loop and run it in a daemon thread.

    libvirt needs a running event loop for keep-alive messages
    (:meth:`Connection.set_keepalive`) and for noticing a dead daemon while
    idle. Call it once, before opening connections; later calls do nothing.
    """
    global _event_loop_started
    if _event_loop_started:
        return
    _claim_event_impl(_IMPL_DEFAULT)    # EventLoopConflictError if one is registered
    if virEventRegisterDefaultImpl() < 0:
        _raise_last_error()
    import threading
    threading.Thread(target=_EventLoop(), name="virtsnap-event-loop", daemon=True).start()
    _event_loop_started = True


@cython.internal
cdef class _EventLoop:
    """The event thread's target; internal, so Python cannot run a second loop."""

    def __call__(self):
        cdef int rc = 0
        with nogil:
            while rc >= 0:
                rc = virEventRunDefaultImpl()


# ---------------------------------------------------------------- handles

cdef class Connection
cdef class Domain
cdef class DomainSnapshot


# Module-level rather than methods: a cdef method would give every handle a
# vtable pointer, and snapshot handles are made by the ten thousand.

cdef Connection _new_connection(virConnectPtr ptr, bint readonly):
    cdef Connection conn = Connection.__new__(Connection)
    conn.ptr = ptr
    conn.readonly = readonly
    return conn


# The connections virtsnap.open() made, by address, while the wrapper that
# opened them lives, and whether each is read-only: known without the probe,
# which would also drop their silent handler.
cdef dict _opened = {}


cdef bint _is_readonly(virConnectPtr ptr) except -1:
    """Whether a connection is read-only, if need be by probing it."""
    known = _opened.get(<size_t>ptr)
    return _probe_readonly(ptr) if known is None else known


cdef bint _probe_readonly(virConnectPtr ptr) noexcept:
    """Whether a connection someone else opened is read-only.

    libvirt has no getter, but virDomainDefineXML checks read-only before its
    NULL argument, both in the client library: the probe reaches no driver.
    Its error goes to a handler of our own, not to libvirt-python's
    (libvirt-python sets no per-connection handler, so none is lost).
    """
    cdef virDomainPtr dom
    cdef bint readonly
    virConnSetErrorFunc(ptr, NULL, _discard_error)
    dom = virDomainDefineXML(ptr, NULL)
    readonly = dom == NULL and _last_error_is(VIR_ERR_OPERATION_DENIED)
    virConnSetErrorFunc(ptr, NULL, NULL)
    virResetLastError()
    if dom != NULL:
        virDomainFree(dom)
    return readonly


cdef Domain _new_domain(virDomainPtr ptr, Connection conn):
    cdef Domain dom = Domain.__new__(Domain)
    dom.ptr = ptr
    dom.conn = conn
    return dom


cdef DomainSnapshot _new_snapshot(virDomainSnapshotPtr ptr, Domain domain):
    cdef DomainSnapshot snap = DomainSnapshot.__new__(DomainSnapshot)
    snap.ptr = ptr
    snap.domain = domain
    return snap


cdef Domain _adopt_domain(virDomainPtr ptr):
    """Wrap a domain someone else owns (libvirt-python), with references of our own."""
    cdef virConnectPtr conn = virDomainGetConnect(ptr)
    virConnectRef(conn)
    cdef Connection wrapper = _new_connection(conn, _is_readonly(conn))
    virDomainRef(ptr)
    return _new_domain(ptr, wrapper)


cdef DomainSnapshot _checked_snapshot(virDomainSnapshotPtr ptr, Domain domain):
    if ptr == NULL:
        _raise_last_error()
    return _new_snapshot(ptr, domain)


cdef void _close_connection(Connection conn) noexcept:
    cdef virConnectPtr ptr = conn.ptr
    conn.ptr = NULL
    if ptr == NULL:
        return
    if conn.opened and _opened:
        _opened.pop(<size_t>ptr, None)
    with nogil:
        virConnectClose(ptr)


cdef inline virConnectPtr _conn_ptr(Connection conn) except NULL:
    """The connection's pointer; LibvirtConnectionError once it is closed."""
    if conn is None or conn.ptr == NULL:
        _raise_closed()
    return conn.ptr


cdef void _free_storage(virStoragePoolPtr pool, virStorageVolPtr vol) noexcept nogil:
    """Free a pool and a volume handle, either of which may be NULL."""
    if vol != NULL:
        virStorageVolFree(vol)
    if pool != NULL:
        virStoragePoolFree(pool)


cdef virConnectPtr _conn_acquire(Connection conn) except NULL:
    """A reference of the caller's own, so close() on another thread cannot free
    the connection under a running call; give it back with _conn_release()."""
    cdef virConnectPtr ptr = _conn_ptr(conn)
    virConnectRef(ptr)
    return ptr


cdef int _conn_release(virConnectPtr ptr, bint failed) except -1:
    """Give back _conn_acquire()'s reference after one C call (made without the
    GIL in between); raise that call's libvirt error if ``failed``."""
    try:
        error = _last_error() if failed else None   # before the close, which resets it
    finally:
        with nogil:
            virConnectClose(ptr)
    if error is not None:
        raise error
    return 0


cdef int _raise_invalid(str cls) except -1:
    raise TypeError(f"this {cls} has no libvirt handle: it was made with __new__, "
                    f"not by virtsnap")


# A handle's pointer is read only through these, so a handle made with
# __new__ (NULL pointer, no parent) raises instead of reaching libvirt.

cdef inline virDomainPtr _domain_handle(Domain dom) except NULL:
    """The domain's pointer, for accessors that still answer after close()."""
    if dom is None or dom.ptr == NULL:
        _raise_invalid("Domain")
    return dom.ptr


cdef inline virDomainPtr _domain_ptr(Domain dom) except NULL:
    """The domain's pointer; LibvirtConnectionError once its connection is closed."""
    cdef virDomainPtr ptr = _domain_handle(dom)
    _conn_ptr(dom.conn)
    return ptr


cdef inline virDomainSnapshotPtr _snapshot_handle(DomainSnapshot snap) except NULL:
    if snap is None or snap.ptr == NULL:
        _raise_invalid("DomainSnapshot")
    return snap.ptr


cdef inline virDomainSnapshotPtr _snapshot_ptr(DomainSnapshot snap) except NULL:
    cdef virDomainSnapshotPtr ptr = _snapshot_handle(snap)
    _conn_ptr(snap.domain.conn)
    return ptr


ctypedef int (*_DomainCall)(virDomainPtr, unsigned int) noexcept nogil
ctypedef int (*_DomainAction)(virDomainPtr) noexcept nogil
ctypedef int (*_SnapshotCall)(virDomainSnapshotPtr, unsigned int) noexcept nogil


cdef int _domain_call(Domain dom, _DomainCall call, object flags) except -1:
    """``call(dom, flags)`` without the GIL; its result, or the libvirt error raised."""
    cdef unsigned int c_flags = _checked_int(flags, "flags")
    cdef virDomainPtr ptr = _domain_ptr(dom)
    cdef int rc
    with nogil:
        rc = call(ptr, c_flags)
    if rc < 0:
        _raise_last_error()
    return rc


cdef int _domain_action(Domain dom, _DomainAction call) except -1:
    """``call(dom)`` without the GIL; its result, or the libvirt error raised."""
    cdef virDomainPtr ptr = _domain_ptr(dom)
    cdef int rc
    with nogil:
        rc = call(ptr)
    if rc < 0:
        _raise_last_error()
    return rc


cdef int _snapshot_call(DomainSnapshot snap, _SnapshotCall call, object flags) except -1:
    """``call(snapshot, flags)`` without the GIL; its result, or the libvirt error raised."""
    cdef unsigned int c_flags = _checked_int(flags, "flags")
    cdef virDomainSnapshotPtr ptr = _snapshot_ptr(snap)
    cdef int rc
    with nogil:
        rc = call(ptr, c_flags)
    if rc < 0:
        _raise_last_error()
    return rc


ctypedef fused _HandlePtr:
    virDomainPtr
    virDomainSnapshotPtr


cdef str _xml_call(_HandlePtr ptr, char *(*call)(_HandlePtr, unsigned int) noexcept nogil,
                   unsigned int flags):
    """``call(ptr, flags)`` without the GIL: the XML libvirt returns, or its error raised."""
    cdef char *xml
    with nogil:
        xml = call(ptr, flags)
    if xml == NULL:
        _raise_last_error()
    return _take_string(xml)


# ---------------------------------------------------------------- Connection

def open(uri=None, bint readonly=False):
    """Open a connection to libvirt; ``uri=None`` means libvirt's default URI."""
    cdef const char *c_uri = NULL
    cdef virConnectPtr ptr
    if uri is not None:
        c_uri = _utf8(uri, "uri")
    with nogil:
        ptr = virConnectOpenReadOnly(c_uri) if readonly else virConnectOpen(c_uri)
    if ptr == NULL:
        _raise_last_error()
    virConnSetErrorFunc(ptr, NULL, _discard_error)
    cdef Connection conn = _new_connection(ptr, readonly)
    conn.opened = True
    _opened[<size_t>ptr] = readonly
    return conn


@cython.final
cdef class Connection:
    """A connection to a libvirt driver (``virConnectPtr``)."""

    cdef virConnectPtr ptr
    cdef readonly bint readonly
    """Whether the connection is read-only: it can look, never change anything."""
    cdef bint opened            # made by virtsnap.open(), not from_libvirt()

    def __init__(self, *args, **kwargs):
        raise TypeError("Connection cannot be created directly; use virtsnap.open()")

    def __dealloc__(self):
        _close_connection(self)

    def close(self):
        """Close the connection; safe to call more than once. Its event streams end."""
        _notify_close(self)
        _close_connection(self)

    @property
    def closed(self):
        """True once :meth:`close` has run (or for a connection that was never opened)."""
        return self.ptr == NULL

    def __enter__(self):
        _conn_ptr(self)
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def uri(self):
        """The canonical URI of this connection."""
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef char *uri
        with nogil:
            uri = virConnectGetURI(ptr)
        _conn_release(ptr, uri == NULL)
        return _take_string(uri)

    def is_alive(self):
        """False once closed, or once the daemon behind it has gone."""
        cdef int rc
        if self.ptr == NULL:
            return False
        cdef virConnectPtr ptr = _conn_acquire(self)
        with nogil:
            rc = virConnectIsAlive(ptr)
        _conn_release(ptr, False)       # an error here only means "not alive"
        return rc == 1

    def get_lib_version(self):
        """The libvirt version of the driver side (the daemon, when remote)."""
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef unsigned long version = 0
        cdef int rc
        with nogil:
            rc = virConnectGetLibVersion(ptr, &version)
        _conn_release(ptr, rc < 0)
        return _version_tuple(version)

    def set_keepalive(self, interval, count):
        """Send keep-alive probes every ``interval`` seconds; give up after ``count`` misses.

        Needs :func:`start_event_loop` before the connection was opened.
        Returns False when the remote side does not support keep-alive.
        """
        cdef int c_interval = _checked_int(interval, "interval")
        cdef unsigned int c_count = _checked_int(count, "count")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef int rc
        with nogil:
            rc = virConnectSetKeepAlive(ptr, c_interval, c_count)
        _conn_release(ptr, rc < 0)
        return rc == 0

    def get_domain_by_name(self, name):
        """The domain called ``name``.

        Returns a :class:`Domain`. Raises :class:`DomainNotFoundError` when the
        driver has no such domain, :class:`TypeError` or :class:`ValueError` for a
        name that is not text, and :class:`LibvirtConnectionError` once closed.
        """
        cdef const char *c_name = _utf8(name, "name")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virDomainPtr dom
        with nogil:
            dom = virDomainLookupByName(ptr, c_name)
        _conn_release(ptr, dom == NULL)
        return _new_domain(dom, self)

    def storage_volume(self, path, refresh_pool=False):
        """The storage volume at ``path`` and its pool, or None if no pool holds it.

        A dict: ``pool``, ``type``, ``capacity``, ``allocation`` (the volume's, in
        bytes) and ``pool_capacity``, ``pool_allocation``, ``pool_available``.
        ``refresh_pool`` rescans the pool first, so that its free space is current.
        """
        cdef const char *c_path = _utf8(path, "path")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virStorageVolPtr vol = NULL
        cdef virStoragePoolPtr pool = NULL
        cdef virStorageVolInfo vol_info
        cdef virStoragePoolInfo pool_info
        cdef int rc = 0
        cdef bint refresh = refresh_pool
        try:
            with nogil:
                vol = virStorageVolLookupByPath(ptr, c_path)
            if vol == NULL:
                error = _last_error()
                if error.code == VIR_ERR_NO_STORAGE_VOL:
                    return None
                raise error
            with nogil:
                rc = virStorageVolGetInfo(vol, &vol_info)
                if rc == 0:
                    pool = virStoragePoolLookupByVolume(vol)
                    if pool == NULL:
                        rc = -1
                if rc == 0 and refresh:
                    rc = virStoragePoolRefresh(pool, 0)
                if rc == 0:
                    rc = virStoragePoolGetInfo(pool, &pool_info)
            if rc < 0:
                _raise_last_error()
            return {"pool": _decode(virStoragePoolGetName(pool)), "type": vol_info.type,
                    "capacity": vol_info.capacity, "allocation": vol_info.allocation,
                    "pool_capacity": pool_info.capacity,
                    "pool_allocation": pool_info.allocation,
                    "pool_available": pool_info.available}
        finally:
            _free_storage(pool, vol)
            _conn_release(ptr, False)   # any error was raised above, under the reference

    def get_domain_by_uuid(self, uuid):
        """The domain whose UUID is the string ``uuid`` (with or without dashes).

        Returns a :class:`Domain`. Raises :class:`DomainNotFoundError` when no
        domain has it, :class:`InvalidArgumentError` for a malformed UUID.
        """
        cdef const char *c_uuid = _utf8(uuid, "uuid")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virDomainPtr dom
        with nogil:
            dom = virDomainLookupByUUIDString(ptr, c_uuid)
        _conn_release(ptr, dom == NULL)
        return _new_domain(dom, self)

    def get_domain_by_id(self, id):
        """The running domain with ID ``id`` (see :attr:`Domain.id`).

        Returns a :class:`Domain`. Raises :class:`DomainNotFoundError` when no
        running domain has that ID, :class:`OverflowError` outside C's int.
        """
        cdef int c_id = _checked_int(id, "id")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virDomainPtr dom
        with nogil:
            dom = virDomainLookupByID(ptr, c_id)
        _conn_release(ptr, dom == NULL)
        return _new_domain(dom, self)

    def list_all_domains(self, flags=0):
        """Every domain of the connection, filtered by :class:`DomainListFlags`.

        Returns a list of :class:`Domain` (0 means all, active and inactive).
        Raises :class:`InvalidArgumentError` for flags the driver rejects.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virDomainPtr *doms = NULL
        cdef int n, i
        with nogil:
            n = virConnectListAllDomains(ptr, &doms, c_flags)
        _conn_release(ptr, n < 0)
        cdef list out = []
        try:
            for i in range(n):
                domain = _new_domain(doms[i], self)
                doms[i] = NULL
                out.append(domain)
        finally:
            with nogil:
                for i in range(n):
                    if doms[i] != NULL:
                        virDomainFree(doms[i])
                free(doms)
        return out

    # -- restoring a saved memory image (for virtsnap.external)

    def restore(self, path, xml=None, flags=0):
        """Start a domain from the memory image at ``path`` (virDomainRestoreFlags).

        ``xml`` replaces the image's domain definition (it must keep its ABI, e.g.
        point the disks elsewhere); ``flags`` are VIR_DOMAIN_SAVE_*: 1 bypasses the
        page cache, 2 leaves the domain running, 4 paused (neither: as it was saved).
        """
        cdef const char *c_path = _utf8(path, "path")
        cdef const char *c_xml = NULL
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        if xml is not None:
            c_xml = _utf8(xml, "xml")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef int rc
        with nogil:
            rc = virDomainRestoreFlags(ptr, c_path, c_xml, c_flags)
        _conn_release(ptr, rc < 0)

    def create_storage_volume(self, pool, xml):
        """Create a volume in the storage pool called ``pool`` from the volume XML
        ``xml`` (virStorageVolCreateXML); returns the new volume's path."""
        cdef const char *c_pool = _utf8(pool, "pool")
        cdef const char *c_xml = _utf8(xml, "xml")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virStoragePoolPtr c_pool_ptr = NULL
        cdef virStorageVolPtr vol = NULL
        cdef char *path = NULL
        try:
            with nogil:
                c_pool_ptr = virStoragePoolLookupByName(ptr, c_pool)
                if c_pool_ptr != NULL:
                    vol = virStorageVolCreateXML(c_pool_ptr, c_xml, 0)
                if vol != NULL:
                    path = virStorageVolGetPath(vol)
            if path == NULL:
                _raise_last_error()
            return _take_string(path)
        finally:
            _free_storage(c_pool_ptr, vol)
            _conn_release(ptr, False)   # any error was raised above, under the reference

    def delete_storage_volume(self, path):
        """Delete the storage volume at ``path`` and its file (virStorageVolDelete).

        Raises :class:`LibvirtError` (code VIR_ERR_NO_STORAGE_VOL) when no pool holds it.
        """
        cdef const char *c_path = _utf8(path, "path")
        cdef virConnectPtr ptr = _conn_acquire(self)
        cdef virStorageVolPtr vol = NULL
        cdef int rc = -1
        try:
            with nogil:
                vol = virStorageVolLookupByPath(ptr, c_path)
                if vol != NULL:
                    rc = virStorageVolDelete(vol, 0)
            if rc < 0:
                _raise_last_error()
        finally:
            _free_storage(NULL, vol)
            _conn_release(ptr, False)   # any error was raised above, under the reference

    def domain_events(self, domain=None, callback=None):
        """Lifecycle events (:class:`DomainEvent`) of every domain, or of ``domain``:
        a blocking iterator, or ``callback(event)`` on the event loop's thread."""
        _conn_ptr(self)
        from virtsnap.events import domain_events
        return domain_events(self, domain, callback)

    @staticmethod
    def from_libvirt(conn):
        """Wrap a ``libvirt.virConnect``; both share the C connection."""
        cdef virConnectPtr ptr = <virConnectPtr>_capsule_pointer(conn, "virConnect", "virConnectPtr")
        virConnectRef(ptr)
        return _new_connection(ptr, _is_readonly(ptr))

    def to_libvirt(self):
        """A ``libvirt.virConnect`` sharing this C connection (needs libvirt-python)."""
        import libvirt
        cdef virConnectPtr ptr = _conn_ptr(self)
        virConnectRef(ptr)
        try:
            return libvirt.virConnect(_obj=PyCapsule_New(ptr, "virConnectPtr", NULL))
        except BaseException:
            virConnectClose(ptr)
            raise

    def __repr__(self):
        if self.ptr == NULL:
            return "<virtsnap.Connection (closed)>"
        return f"<virtsnap.Connection {self.uri!r}>"


# ---------------------------------------------------------------- Domain

@cython.final
@cython.no_gc
cdef class Domain:
    """A libvirt guest domain (``virDomainPtr``) and its snapshot entry points."""

    cdef virDomainPtr ptr
    cdef Connection conn

    def __init__(self, *args, **kwargs):
        raise TypeError("Domain cannot be created directly; use a Connection lookup")

    def __dealloc__(self):
        if self.ptr != NULL:
            with nogil:
                virDomainFree(self.ptr)

    @property
    def name(self):
        """The domain's name (answers after the connection is closed)."""
        return _decode(virDomainGetName(_domain_handle(self)))

    @property
    def uuid(self):
        """The domain's UUID as a string (answers after the connection is closed)."""
        cdef char buf[VIR_UUID_STRING_BUFLEN]
        if virDomainGetUUIDString(_domain_handle(self), buf) < 0:
            _raise_last_error()
        return _decode(buf)

    @property
    def id(self):
        """The running domain's ID, or -1 when it is not running."""
        return virDomainGetID(_domain_handle(self))

    def state(self):
        """The domain's current state, a :class:`DomainState`."""
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int state = 0, reason = 0, rc
        with nogil:
            rc = virDomainGetState(ptr, &state, &reason, 0)
        if rc < 0:
            _raise_last_error()
        return _enum_or_int(_enum_class("DomainState"), state)

    def get_connect(self):
        """The :class:`Connection` this domain was looked up on."""
        _domain_handle(self)
        return self.conn

    def get_job_stats(self, flags=0):
        """Statistics of the domain's current job, with ``type`` a :class:`JobType`."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int job_type = 0, nparams = 0, rc, i
        cdef virTypedParameterPtr params = NULL
        with nogil:
            rc = virDomainGetJobStats(ptr, &job_type, &params, &nparams, c_flags)
        if rc < 0:
            _raise_last_error()
        cdef dict stats
        try:
            stats = {"type": _enum_or_int(_enum_class("JobType"), job_type)}
            for i in range(nparams):
                stats[_decode_lossy(params[i].field)] = _typed_value(&params[i])
        finally:
            virTypedParamsFree(params, nparams)
        return stats

    def get_xml_description(self, flags=0):
        """The domain's XML (virDomainGetXMLDesc); ``flags`` are libvirt's."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        return _xml_call(_domain_ptr(self), virDomainGetXMLDesc, c_flags)

    def get_block_stats(self, backing=True):
        """The block statistics of virConnectGetAllDomainStats for this domain.

        A dict of libvirt's fields (``block.count``, ``block.<i>.path``,
        ``block.<i>.allocation``, ...); ``backing`` adds the backing chain
        (``block.<i>.backingIndex``), as ``virsh domstats --block --backing``.
        """
        cdef virDomainPtr doms[2]
        cdef virDomainStatsRecordPtr *records = NULL
        cdef unsigned int c_flags = VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING if backing else 0
        cdef int n, i
        doms[0] = _domain_ptr(self)
        doms[1] = NULL
        with nogil:
            n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_BLOCK, &records, c_flags)
        if n < 0:
            _raise_last_error()
        cdef dict stats = {}
        try:
            if n > 0:
                for i in range(records[0].nparams):
                    stats[_decode_lossy(records[0].params[i].field)] = \
                        _typed_value(&records[0].params[i])
        finally:
            virDomainStatsRecordListFree(records)
        return stats

    def abort_job(self):
        """Abort the domain's current job, such as a snapshot being taken."""
        _domain_action(self, virDomainAbortJob)

    # -- pause and freeze (virtsnap.group)

    def suspend(self):
        """Pause the running domain (virDomainSuspend)."""
        _domain_action(self, virDomainSuspend)

    def resume(self):
        """Resume the paused domain (virDomainResume)."""
        _domain_action(self, virDomainResume)

    def fs_freeze(self):
        """Freeze every guest filesystem through the guest agent; the number frozen."""
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int rc
        with nogil:
            rc = virDomainFSFreeze(ptr, NULL, 0, 0)
        if rc < 0:
            _raise_last_error()
        return rc

    def fs_thaw(self):
        """Thaw the guest filesystems frozen by :meth:`fs_freeze`; the number thawed."""
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int rc
        with nogil:
            rc = virDomainFSThaw(ptr, NULL, 0, 0)
        if rc < 0:
            _raise_last_error()
        return rc
    # -- definition, lifecycle and <metadata> (for virtsnap.external)

    def define_xml(self, xml):
        """Replace the domain's persistent definition with ``xml`` (virDomainDefineXML);
        the XML must name this domain."""
        cdef const char *c_xml = _utf8(xml, "xml")
        cdef virConnectPtr cptr = _conn_acquire(self.conn)
        cdef virDomainPtr dom
        try:
            with nogil:
                dom = virDomainDefineXML(cptr, c_xml)
            if dom == NULL:
                _raise_last_error()
            virDomainFree(dom)
        finally:
            _conn_release(cptr, False)   # any error was raised above, under the reference

    def start(self, flags=0):
        """Start the domain (virDomainCreateWithFlags; 1 = paused)."""
        _domain_call(self, virDomainCreateWithFlags, flags)

    def destroy(self, flags=0):
        """Stop the domain at once (virDomainDestroyFlags)."""
        _domain_call(self, virDomainDestroyFlags, flags)

    def set_metadata(self, metadata, key, uri, flags=0):
        """Set (``metadata`` a str) or remove (None) the ``<metadata>`` element of
        namespace ``uri``, written with prefix ``key``."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef const char *c_metadata = NULL
        cdef const char *c_key = NULL
        cdef const char *c_uri = _utf8(uri, "uri")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int rc
        if metadata is not None:
            c_metadata = _utf8(metadata, "metadata")
            c_key = _utf8(key, "key")
        with nogil:
            rc = virDomainSetMetadata(ptr, VIR_DOMAIN_METADATA_ELEMENT, c_metadata, c_key,
                                      c_uri, c_flags)
        if rc < 0:
            _raise_last_error()

    def get_metadata(self, uri, flags=0):
        """The ``<metadata>`` element of namespace ``uri``, or None if there is none."""
        cdef const char *c_uri = _utf8(uri, "uri")
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef char *xml
        with nogil:
            xml = virDomainGetMetadata(ptr, VIR_DOMAIN_METADATA_ELEMENT, c_uri, c_flags)
        if xml == NULL:
            if _last_error_is(VIR_ERR_NO_DOMAIN_METADATA):
                virResetLastError()
                return None
            _raise_last_error()
        return _take_string(xml)

    def block_commit(self, disk, base=None, top=None, bandwidth=0, flags=0):
        """Start committing ``top`` (default the active layer's backing) of ``disk``
        into ``base`` (default its backing); libvirt's ``VIR_DOMAIN_BLOCK_COMMIT_*`` flags."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef unsigned long c_bandwidth = _checked_int(bandwidth, "bandwidth")
        cdef const char *c_disk = _utf8(disk, "disk")
        cdef const char *c_base = NULL
        cdef const char *c_top = NULL
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int rc
        if base is not None:
            c_base = _utf8(base, "base")
        if top is not None:
            c_top = _utf8(top, "top")
        with nogil:
            rc = virDomainBlockCommit(ptr, c_disk, c_base, c_top, c_bandwidth, c_flags)
        if rc < 0:
            _raise_last_error()

    def block_job_info(self, disk, flags=0):
        """``disk``'s block job as a dict (type, bandwidth, cur, end), or None if none runs."""
        cdef const char *c_disk = _utf8(disk, "disk")
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef virDomainBlockJobInfo info
        cdef int rc
        with nogil:
            rc = virDomainGetBlockJobInfo(ptr, c_disk, &info, c_flags)
        if rc < 0:
            _raise_last_error()
        if rc == 0:
            return None
        return {"type": info.type, "bandwidth": info.bandwidth, "cur": info.cur, "end": info.end}

    def block_job_abort(self, disk, flags=0):
        """End ``disk``'s block job (with ``VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT`` = 2: pivot)."""
        cdef const char *c_disk = _utf8(disk, "disk")
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef int rc
        with nogil:
            rc = virDomainBlockJobAbort(ptr, c_disk, c_flags)
        if rc < 0:
            _raise_last_error()

    # -- snapshots

    def create_snapshot(self, xml=None, flags=0, *, name=None, description=None):
        """Take a snapshot described by ``xml``, or by ``name`` and ``description``.

        With neither, libvirt picks the name.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        if xml is None:
            xml = _snapshot_xml(name, description)
        elif name is not None or description is not None:
            raise ValueError("pass either xml or name/description, not both")
        cdef const char *c_xml = _utf8(xml, "xml")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef virDomainSnapshotPtr snap
        with nogil:
            snap = virDomainSnapshotCreateXML(ptr, c_xml, c_flags)
        return _checked_snapshot(snap, self)

    def num_of_snapshots(self, flags=0):
        """How many snapshots match ``flags`` (:class:`ListFlags`), as an int.

        A count taken now may be stale by the next call: to list, use
        :meth:`list_snapshot_names` or :meth:`list_all_snapshots`.
        """
        return _domain_call(self, virDomainSnapshotNum, flags)

    def list_snapshot_names(self, flags=0):
        """The names of the snapshots that match ``flags`` (:class:`ListFlags`).

        Counts, then lists into an array with headroom, and lists again with a
        larger array whenever libvirt reports more names than it had room for
        (past 8,192 snapshots, where a daemon's reply could overrun the array,
        it lists snapshot objects instead), so a snapshot created meanwhile
        never truncates the list or overruns memory.
        Raises :class:`InvalidArgumentError` for contradictory flags.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        return _list_names(_domain_ptr(self), NULL, c_flags)

    def list_all_snapshots(self, flags=0):
        """The snapshots that match ``flags`` (:class:`ListFlags`), as
        :class:`DomainSnapshot` handles, from one libvirt call.

        Raises :class:`InvalidArgumentError` for contradictory flags.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef virDomainSnapshotPtr *snaps = NULL
        cdef int n = _list_snapshots(ptr, NULL, c_flags, &snaps)
        return _take_snapshots(self, snaps, n)

    def get_snapshot_by_name(self, name, flags=0):
        """The snapshot called ``name``, a :class:`DomainSnapshot`.

        Raises :class:`SnapshotNotFoundError` when the domain has none of that
        name, :class:`TypeError` or :class:`ValueError` for a name that is not text.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef const char *c_name = _utf8(name, "name")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef virDomainSnapshotPtr snap
        with nogil:
            snap = virDomainSnapshotLookupByName(ptr, c_name, c_flags)
        return _checked_snapshot(snap, self)

    def has_current_snapshot(self, flags=0):
        """Whether the domain has a current snapshot (a bool).

        Raises :class:`LibvirtConnectionError` once the connection is closed.
        """
        return _domain_call(self, virDomainHasCurrentSnapshot, flags) == 1

    def current_snapshot(self, flags=0):
        """The current snapshot; :class:`SnapshotNotFoundError` when there is none."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainPtr ptr = _domain_ptr(self)
        cdef virDomainSnapshotPtr snap
        with nogil:
            snap = virDomainSnapshotCurrent(ptr, c_flags)
        return _checked_snapshot(snap, self)

    # -- bulk

    def snapshot_xml_descriptions(self, flags=0, list_flags=0, workers=1):
        """Every snapshot's XML, keyed by name, fetched in one C loop.

        Like the other bulk calls, it leaves out a snapshot that another
        client deletes while the call runs.

        ``workers`` > 1 issues the calls from that many native threads at once.
        """
        cdef _SnapshotBatch batch = _run_batch(self, _BATCH_XML, flags, list_flags, workers)
        cdef int i
        return {batch.name(i): _decode(<char *>batch.b.results[i])
                for i in range(batch.b.n) if not batch.b.gone[i]}

    def snapshot_parents(self, list_flags=0, workers=1, *, via=None):
        """The snapshot tree as a child -> parent name map; roots map to None.

        Two routes give the same map: one GetParent call per listed snapshot
        (``via="parent"``), or one ListAllChildren call per snapshot that has
        children (``via="children"``). By default it counts both and takes the
        one with fewer calls, which matters where every call is an RPC.
        """
        if via is None:
            via = "children" if _children_route_is_cheaper(self, list_flags) else "parent"
        elif via not in ("parent", "children"):
            raise ValueError(f"via must be None, 'parent' or 'children', not {via!r}")
        if via == "children":
            return _parents_via_children(self, list_flags, workers)
        cdef _SnapshotBatch batch = _run_batch(self, _BATCH_PARENT, 0, list_flags, workers)
        cdef int i
        cdef virDomainSnapshotPtr parent
        cdef dict out = {}
        for i in range(batch.b.n):
            if batch.b.gone[i]:
                continue
            parent = <virDomainSnapshotPtr>batch.b.results[i]
            out[batch.name(i)] = None if parent == NULL else _decode(virDomainSnapshotGetName(parent))
        return out

    def snapshot_children(self, flags=0, list_flags=0, workers=1):
        """Every snapshot's children names (by ``flags``, e.g. DESCENDANTS), keyed by name."""
        cdef _SnapshotBatch batch = _run_batch(self, _BATCH_CHILDREN, flags, list_flags, workers)
        cdef int i, j
        cdef virDomainSnapshotPtr *children
        cdef dict out = {}
        for i in range(batch.b.n):
            if batch.b.gone[i]:
                continue
            children = <virDomainSnapshotPtr *>batch.b.results[i]
            out[batch.name(i)] = [_decode(virDomainSnapshotGetName(children[j]))
                                  for j in range(batch.b.counts[i])]
        return out

    # -- pure-Python conveniences

    def snapshot_infos(self, list_flags=0, workers=None):
        """A :class:`SnapshotInfo` for every snapshot, from one bulk XML fetch
        (:func:`virtsnap.info.snapshot_infos`)."""
        _domain_ptr(self)
        from virtsnap.info import snapshot_infos
        return snapshot_infos(self, list_flags, workers)

    def snapshot_tree(self, list_flags=0):
        """The snapshots as a :class:`SnapshotTree`."""
        _domain_ptr(self)
        from virtsnap.tree import SnapshotTree
        return SnapshotTree.from_domain(self, list_flags)

    def export_snapshots(self, directory, *, secure=False):
        """Write every snapshot's XML and a topological index into ``directory``
        (``secure=True``: with passwords, ``XMLFlags.SECURE``)."""
        _domain_ptr(self)
        from virtsnap.transfer import export_snapshots
        return export_snapshots(self, directory, secure=secure)

    def import_snapshots(self, directory, *, replace=False):
        """Redefine the snapshots written by :meth:`export_snapshots` on this domain,
        all or nothing (``replace=True``: overwrite snapshots of the same names)."""
        _domain_ptr(self)
        from virtsnap.transfer import import_snapshots
        return import_snapshots(self, directory, replace=replace)

    # -- identity and interop

    def __eq__(self, other):
        if not isinstance(other, Domain):
            return NotImplemented
        return _same_uuid(_domain_handle(self), _domain_handle(<Domain>other))

    def __hash__(self):
        return hash(_uuid_bytes(_domain_handle(self)))

    def __repr__(self):
        return f"<virtsnap.Domain {self.name!r}>"

    @staticmethod
    def from_libvirt(domain):
        """Wrap a ``libvirt.virDomain``; both share the C domain."""
        return _adopt_domain(<virDomainPtr>_capsule_pointer(domain, "virDomain", "virDomainPtr"))

    def to_libvirt(self):
        """A ``libvirt.virDomain`` sharing this C domain (needs libvirt-python)."""
        cdef virDomainPtr ptr = _domain_ptr(self)
        import libvirt
        conn = self.conn.to_libvirt()
        virDomainRef(ptr)
        try:
            return libvirt.virDomain(conn, _obj=PyCapsule_New(ptr, "virDomainPtr", NULL))
        except BaseException:
            virDomainFree(ptr)
            raise


cdef object _typed_value(virTypedParameter *param):
    if param.type == VIR_TYPED_PARAM_INT:
        return param.value.i
    if param.type == VIR_TYPED_PARAM_UINT:
        return param.value.ui
    if param.type == VIR_TYPED_PARAM_LLONG:
        return param.value.l
    if param.type == VIR_TYPED_PARAM_ULLONG:
        return param.value.ul
    if param.type == VIR_TYPED_PARAM_DOUBLE:
        return param.value.d
    if param.type == VIR_TYPED_PARAM_BOOLEAN:
        return param.value.b != 0
    if param.type == VIR_TYPED_PARAM_STRING:
        return _decode_lossy(param.value.s)
    return None


cdef bytes _uuid_bytes(virDomainPtr ptr):
    cdef unsigned char raw[VIR_UUID_BUFLEN]
    if virDomainGetUUID(ptr, raw) < 0:
        _raise_last_error()
    return raw[:VIR_UUID_BUFLEN]


cdef bint _same_uuid(virDomainPtr a, virDomainPtr b) except -1:
    cdef unsigned char ua[VIR_UUID_BUFLEN]
    cdef unsigned char ub[VIR_UUID_BUFLEN]
    if a == b:
        return True
    if virDomainGetUUID(a, ua) < 0 or virDomainGetUUID(b, ub) < 0:
        _raise_last_error()
    return memcmp(ua, ub, VIR_UUID_BUFLEN) == 0


# ---------------------------------------------------------------- DomainSnapshot

@cython.final
@cython.no_gc
@cython.freelist(64)
cdef class DomainSnapshot:
    """A snapshot of a domain (``virDomainSnapshotPtr``); Sys::Virt::DomainSnapshot.

    The CREATE_*, DELETE_*, LIST_*, REVERT_* and XML_* flags are attributes
    of this class, as in Sys::Virt, and members of the flag enums.
    """

    cdef virDomainSnapshotPtr ptr
    cdef Domain domain

    def __init__(self, *args, **kwargs):
        raise TypeError("DomainSnapshot cannot be created directly; "
                        "use Domain.create_snapshot() or a lookup")

    def __dealloc__(self):
        # Only drops references: our Domain still holds the domain, so this
        # never reaches the driver and needs no GIL release.
        if self.ptr != NULL:
            virDomainSnapshotFree(self.ptr)

    @property
    def name(self):
        """The snapshot's name (answers after the connection is closed)."""
        return _decode(virDomainSnapshotGetName(_snapshot_handle(self)))

    def get_name(self):
        """The snapshot's name, as :attr:`name` (Sys::Virt's spelling)."""
        return _decode(virDomainSnapshotGetName(_snapshot_handle(self)))

    def get_xml_description(self, flags=0):
        """The snapshot's XML; secure data only with ``XML_SECURE``."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        return _xml_call(_snapshot_ptr(self), virDomainSnapshotGetXMLDesc, c_flags)

    def delete(self, flags=0):
        """Delete this snapshot (and, by flags, its children or only its metadata)."""
        _snapshot_call(self, virDomainSnapshotDelete, flags)

    def revert_to(self, flags=0):
        """Revert the domain to the state recorded in this snapshot."""
        _snapshot_call(self, virDomainRevertToSnapshot, flags)

    def get_parent(self, flags=0):
        """The parent snapshot, or None for a root snapshot."""
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainSnapshotPtr ptr = _snapshot_ptr(self)
        cdef virDomainSnapshotPtr parent
        cdef int exists
        with nogil:
            parent = virDomainSnapshotGetParent(ptr, c_flags)
            exists = parent == NULL and _is_root_error(ptr)
        if parent != NULL:
            return _new_snapshot(parent, self.domain)
        if exists:
            return None
        _raise_last_error()

    def is_current(self, flags=0):
        """Whether this is the domain's current snapshot (a bool).

        Raises :class:`SnapshotNotFoundError` once the snapshot is deleted.
        """
        return _snapshot_call(self, virDomainSnapshotIsCurrent, flags) == 1

    def has_metadata(self, flags=0):
        """Whether libvirt holds metadata for this snapshot (a bool).

        Raises :class:`SnapshotNotFoundError` once the snapshot is deleted.
        """
        return _snapshot_call(self, virDomainSnapshotHasMetadata, flags) == 1

    def num_of_child_snapshots(self, flags=0):
        """How many children match ``flags`` (``LIST_DESCENDANTS``: all descendants).

        Raises :class:`SnapshotNotFoundError` once the snapshot is deleted.
        """
        return _snapshot_call(self, virDomainSnapshotNumChildren, flags)

    def list_child_snapshot_names(self, flags=0):
        """The children's names (with ``LIST_DESCENDANTS``, every descendant's),
        listed as safely as :meth:`Domain.list_snapshot_names` lists.

        Raises :class:`SnapshotNotFoundError` once the snapshot is deleted.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainSnapshotPtr ptr = _snapshot_ptr(self)
        return _list_names(self.domain.ptr, ptr, c_flags)

    def list_all_children(self, flags=0):
        """The children (with ``LIST_DESCENDANTS``, every descendant) as
        :class:`DomainSnapshot` handles, from one libvirt call.

        Raises :class:`SnapshotNotFoundError` once the snapshot is deleted.
        """
        cdef unsigned int c_flags = _checked_int(flags, "flags")
        cdef virDomainSnapshotPtr ptr = _snapshot_ptr(self)
        cdef virDomainSnapshotPtr *snaps = NULL
        cdef int n = _list_snapshots(self.domain.ptr, ptr, c_flags, &snaps)
        return _take_snapshots(self.domain, snaps, n)

    def list_child_snapshots(self, flags=0):
        """Sys::Virt's name for :meth:`list_all_children`."""
        return self.list_all_children(flags)

    def get_domain(self):
        """The :class:`Domain` this snapshot belongs to."""
        _snapshot_handle(self)
        return self.domain

    def get_connect(self):
        """The :class:`Connection` of this snapshot's domain."""
        _snapshot_handle(self)
        return self.domain.conn

    def info(self):
        """The snapshot's XML parsed into a :class:`SnapshotInfo`."""
        _snapshot_ptr(self)
        from virtsnap.info import snapshot_info
        return snapshot_info(self)

    # -- identity and interop

    def __eq__(self, other):
        if not isinstance(other, DomainSnapshot):
            return NotImplemented
        cdef virDomainSnapshotPtr ptr = _snapshot_handle(self)
        cdef DomainSnapshot that = <DomainSnapshot>other
        cdef virDomainSnapshotPtr that_ptr = _snapshot_handle(that)
        if ptr == that_ptr:
            return True
        return (strcmp(virDomainSnapshotGetName(ptr), virDomainSnapshotGetName(that_ptr)) == 0
                and _same_uuid(self.domain.ptr, that.domain.ptr))

    def __hash__(self):
        _snapshot_handle(self)
        return hash((_uuid_bytes(self.domain.ptr), self.name))

    def __repr__(self):
        return f"<virtsnap.DomainSnapshot {self.name!r} of domain {self.domain.name!r}>"

    @staticmethod
    def from_libvirt(snapshot):
        """Wrap a ``libvirt.virDomainSnapshot``; both share the C snapshot."""
        cdef virDomainSnapshotPtr ptr = <virDomainSnapshotPtr>_capsule_pointer(
            snapshot, "virDomainSnapshot", "virDomainSnapshotPtr")
        cdef Domain domain = _adopt_domain(virDomainSnapshotGetDomain(ptr))
        virDomainSnapshotRef(ptr)
        return _new_snapshot(ptr, domain)

    def to_libvirt(self):
        """A ``libvirt.virDomainSnapshot`` sharing this C snapshot (needs libvirt-python)."""
        cdef virDomainSnapshotPtr ptr = _snapshot_ptr(self)
        import libvirt
        dom = self.domain.to_libvirt()
        virDomainSnapshotRef(ptr)
        try:
            return libvirt.virDomainSnapshot(
                dom, _obj=PyCapsule_New(ptr, "virDomainSnapshotPtr", NULL))
        except BaseException:
            virDomainSnapshotFree(ptr)
            raise


cdef inline bint _last_error_is(int code) noexcept nogil:
    cdef virErrorPtr err = virGetLastError()
    return err != NULL and err.code == code


cdef int _is_root_error(virDomainSnapshotPtr snap) noexcept nogil:
    """After a failed GetParent: 1 if the snapshot exists and is a root."""
    # The same code means "no parent" and "no such snapshot": tell them apart.
    return (_last_error_is(VIR_ERR_NO_DOMAIN_SNAPSHOT)
            and virDomainSnapshotIsCurrent(snap, 0) >= 0)


# ---------------------------------------------------------------- list helpers

cdef list _take_snapshots(Domain domain, virDomainSnapshotPtr *snaps, int n):
    """Wrap an array that libvirt returned; frees what was not wrapped, and the array."""
    if n < 0:
        _raise_last_error()
    cdef list out
    cdef int i
    cdef DomainSnapshot snap
    try:
        out = PyList_New(n)
        for i in range(n):
            snap = _new_snapshot(snaps[i], domain)
            snaps[i] = NULL
            Py_INCREF(snap)
            PyList_SET_ITEM(out, i, snap)
    finally:
        _free_snapshots(snaps, n)
    return out


cdef void _free_snapshots(virDomainSnapshotPtr *snaps, int n) noexcept nogil:
    cdef int i
    if snaps == NULL:
        return
    for i in range(n):
        if snaps[i] != NULL:
            virDomainSnapshotFree(snaps[i])
    free(snaps)


# ---------------------------------------------------------------- paged listing
# Over RPC one list call carries at most REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
# (16,384) snapshots; past that libvirtd answers "Too many domain_snapshots".
# Then the list is gathered per node: the roots, then each node's children,
# each call far under the cap unless one node has 16,384 children.

ctypedef struct _Listing:
    virDomainSnapshotPtr *snaps
    int n
    int capacity


cdef enum:
    _PAGED_ATTEMPTS = 8     # walks restarted because a node vanished meanwhile
    _WALK_VANISHED = -3


cdef inline bint _list_too_long() noexcept nogil:
    """Did libvirtd refuse to send a list longer than its RPC cap?"""
    cdef virErrorPtr err = virGetLastError()
    return err != NULL and err.domain == VIR_FROM_RPC and err.code == VIR_ERR_INTERNAL_ERROR


cdef int _listing_take(_Listing *out, virDomainSnapshotPtr *snaps, int n) noexcept nogil:
    """Move libvirt's array ``snaps`` (``n`` handles) to the end of ``out``; -2
    when out of memory (then ``snaps`` is freed)."""
    cdef int i, capacity
    cdef virDomainSnapshotPtr *grown
    if out.n + n > out.capacity:
        capacity = max(2 * out.capacity, out.n + n, 64)
        grown = <virDomainSnapshotPtr *>realloc(out.snaps, capacity * sizeof(virDomainSnapshotPtr))
        if grown == NULL:
            _free_snapshots(snaps, n)
            return -2
        out.snaps, out.capacity = grown, capacity
    for i in range(n):
        out.snaps[out.n + i] = snaps[i]
    out.n += n
    free(snaps)
    return 0


cdef int _children_into(virDomainPtr dom, virDomainSnapshotPtr node, unsigned int flags,
                        _Listing *out) noexcept nogil:
    """Append the children of ``node`` (the roots when NULL) that match ``flags``:
    0, -1 (libvirt's error is set) or -2 (no memory)."""
    cdef virDomainSnapshotPtr *snaps = NULL
    cdef int n
    if node == NULL:
        n = virDomainListAllSnapshots(dom, &snaps, flags | VIR_DOMAIN_SNAPSHOT_LIST_ROOTS)
    else:
        n = virDomainSnapshotListAllChildren(node, &snaps, flags)
    if n < 0:
        return -1
    return _listing_take(out, snaps, n)


cdef int _walk(virDomainPtr dom, virDomainSnapshotPtr top, unsigned int flags,
               _Listing *out) noexcept nogil:
    """Gather into ``out`` what one list call with ``flags`` would give: the
    domain's snapshots (``top`` NULL) or the descendants of ``top``.

    The nodes that have children, if one call can list them, are each asked
    for their children; otherwise every node is, breadth first. Filters go to
    each children call, with a second, unfiltered call per node where the
    walk must see every node. Parents come before their children, as
    TOPOLOGICAL asks. A node deleted before its children call may have handed
    them to a parent already asked: the walk then stops with _WALK_VANISHED.
    """
    cdef unsigned int filters = flags & ~(<unsigned int>VIR_DOMAIN_SNAPSHOT_LIST_ROOTS
                                          | VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)
    cdef unsigned int order = flags & VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL
    cdef _Listing parents, every
    cdef _Listing *expand
    cdef virDomainSnapshotPtr *snaps = NULL
    cdef virDomainSnapshotPtr node
    cdef int n, i = 0, rc = 0
    parents.snaps, parents.n, parents.capacity = NULL, 0, 0
    every.snaps, every.n, every.capacity = NULL, 0, 0
    if top == NULL:
        n = virDomainListAllSnapshots(dom, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES | order)
    else:
        n = virDomainSnapshotListAllChildren(top, &snaps, VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS
                                             | VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES | order)
    if n >= 0:
        if _listing_take(&parents, snaps, n) < 0:
            return -2
        expand = &parents
    elif _list_too_long():
        virResetLastError()
        expand = out if filters == 0 else &every     # breadth first, over every node
    else:
        return -1
    node = top
    while True:
        rc = _children_into(dom, node, filters, out)
        if rc == 0 and expand == &every:
            rc = _children_into(dom, node, 0, &every)
        if rc == -1 and node != top and _last_error_is(VIR_ERR_NO_DOMAIN_SNAPSHOT):
            rc = _WALK_VANISHED
        if rc < 0 or i >= expand.n:
            break
        node = expand.snaps[i]
        i += 1
    _free_snapshots(parents.snaps, parents.n)
    _free_snapshots(every.snaps, every.n)
    return rc


cdef int _list_snapshots(virDomainPtr dom, virDomainSnapshotPtr top, unsigned int flags,
                         virDomainSnapshotPtr **snaps) except -1:
    """virDomainListAllSnapshots (virDomainSnapshotListAllChildren of ``top``),
    gathered per node by :func:`_walk` when the answer is over the RPC cap.

    A paged walk is restarted when a node vanished meanwhile, so a snapshot
    that exists throughout the call is always listed, as in one call.
    Returns the count; the array is the caller's, as libvirt's is.
    """
    cdef int n, rc, attempt
    cdef _Listing out
    with nogil:
        if top == NULL:
            n = virDomainListAllSnapshots(dom, snaps, flags)
        else:
            n = virDomainSnapshotListAllChildren(top, snaps, flags)
    if n >= 0:
        return n
    # Too many roots, or direct children of one node: no page can be smaller.
    if (not _list_too_long() or (top == NULL and flags & VIR_DOMAIN_SNAPSHOT_LIST_ROOTS)
            or (top != NULL and not flags & VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS)):
        _raise_last_error()
    virResetLastError()
    for attempt in range(_PAGED_ATTEMPTS):
        out.snaps, out.n, out.capacity = NULL, 0, 0
        with nogil:
            rc = _walk(dom, top, flags, &out)
        if rc == 0:
            snaps[0] = out.snaps
            return out.n
        _free_snapshots(out.snaps, out.n)
        if rc == -2:
            raise MemoryError()
        if rc == -1:
            _raise_last_error()
        virResetLastError()
    raise LibvirtError(f"the snapshots changed during each of {_PAGED_ATTEMPTS} paged "
                       "listings (a listing over 16,384 snapshots is made per node); try again")


cdef list _names_of_listed_objects(virDomainPtr dom, virDomainSnapshotPtr snap,
                                   unsigned int flags):
    cdef virDomainSnapshotPtr *snaps = NULL
    cdef int i
    cdef int n = _list_snapshots(dom, snap, flags, &snaps)
    try:
        return [_decode(virDomainSnapshotGetName(snaps[i])) for i in range(n)]
    finally:
        _free_snapshots(snaps, n)


# libvirt's RPC protocol caps a name list at REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
# (remote_protocol.x; not in the public headers).
cdef enum:
    _RPC_NAME_CAP = 16384


cdef int _name_capacity(int count) noexcept nogil:
    """The array size to offer libvirt for ``count`` names counted just before.

    libvirt (9.0 at least) copies at most ``nameslen`` names but returns how
    many matched, so a list that grew since the count comes back larger than
    the array. In-process that is harmless when we retry (below); libvirtd,
    though, encodes that many entries from an array of ``nameslen`` and
    crashes. So up to half the RPC cap we offer the whole cap: the daemon
    could only overrun it if more than 8,192 snapshots were created between
    our two calls. Above that we ask for more than the cap, which the RPC
    client refuses before sending anything; _list_names then lists objects.
    """
    if count <= _RPC_NAME_CAP // 2:
        return _RPC_NAME_CAP
    return 2 * count


cdef list _list_names(virDomainPtr dom, virDomainSnapshotPtr snap, unsigned int flags):
    """Snapshot names (children of ``snap`` when not NULL): count, then list
    with headroom, and list again whenever libvirt says the array was short."""
    cdef int count, capacity, n, i
    cdef char **names
    cdef list out
    with nogil:
        count = (virDomainSnapshotNum(dom, flags) if snap == NULL
                 else virDomainSnapshotNumChildren(snap, flags))
    if count < 0:
        _raise_last_error()
    while True:
        capacity = _name_capacity(count)
        names = <char **>malloc(capacity * sizeof(char *))
        if names == NULL:
            raise MemoryError()
        with nogil:
            n = (virDomainSnapshotListNames(dom, names, capacity, flags) if snap == NULL
                 else virDomainSnapshotListChildrenNames(snap, names, capacity, flags))
        if n < 0:
            free(names)
            if capacity > _RPC_NAME_CAP and _last_error_is(VIR_ERR_RPC):
                virResetLastError()
                return _names_of_listed_objects(dom, snap, flags)
            _raise_last_error()
        if n < capacity:
            break
        # Perhaps short (a libvirt that clamps returns exactly capacity): again, larger.
        with nogil:
            for i in range(capacity):
                free(names[i])
            free(names)
        count = n
    try:
        out = PyList_New(n)
        for i in range(n):
            name = _decode(names[i])
            Py_INCREF(name)
            PyList_SET_ITEM(out, i, name)
    finally:
        with nogil:
            for i in range(n):
                free(names[i])
            free(names)
    return out


# ---------------------------------------------------------------- bulk calls

# More native threads than this only add contention on the one connection:
# docs/guides/threads-and-workers.md has the measurements (`make bench`'s daemon rows).
MAX_WORKERS = 16

cdef enum:
    _BATCH_XML = 1
    _BATCH_PARENT = 2
    _BATCH_CHILDREN = 3


ctypedef struct _Batch:
    virDomainSnapshotPtr *snaps
    int n
    void **results        # per snapshot: XML, parent, or array of children
    int *counts           # per snapshot: number of children
    bint *gone            # per snapshot: deleted by someone else meanwhile
    int kind
    unsigned int flags


ctypedef struct _Chunk:
    _Batch *batch
    int start
    int stop
    int failed                # index whose call failed, or -1
    virErrorPtr error         # that call's error, copied off the worker thread
    PyThread_type_lock done   # held until the chunk has run


cdef int _run_range(_Batch *b, int start, int stop) noexcept nogil:
    """Fill results[start:stop]; the index that failed, or -1.

    A snapshot deleted by someone else since the listing is marked gone.
    """
    cdef int i
    cdef bint failed
    cdef virDomainSnapshotPtr parent
    for i in range(start, stop):
        if b.kind == _BATCH_XML:
            b.results[i] = virDomainSnapshotGetXMLDesc(b.snaps[i], b.flags)
            failed = b.results[i] == NULL
        elif b.kind == _BATCH_PARENT:
            parent = virDomainSnapshotGetParent(b.snaps[i], 0)
            failed = parent == NULL and not _is_root_error(b.snaps[i])
            b.results[i] = parent
        else:
            b.counts[i] = virDomainSnapshotListAllChildren(
                b.snaps[i], <virDomainSnapshotPtr **>&b.results[i], b.flags)
            failed = b.counts[i] < 0
            if failed:
                b.counts[i] = 0
        if failed:
            if not _last_error_is(VIR_ERR_NO_DOMAIN_SNAPSHOT):
                return i
            b.gone[i] = True
    return -1


cdef void _run_chunk(void *arg) noexcept nogil:
    """A worker thread's body: touches no Python object."""
    cdef _Chunk *chunk = <_Chunk *>arg
    chunk.failed = _run_range(chunk.batch, chunk.start, chunk.stop)
    if chunk.failed >= 0:
        chunk.error = virSaveLastError()
    virResetLastError()
    PyThread_release_lock(chunk.done)


@cython.final
@cython.internal
cdef class _SnapshotBatch:
    """One libvirt call per snapshot over a C array, run in chunks without the GIL."""

    cdef _Batch b

    @staticmethod
    cdef _SnapshotBatch listing(Domain domain, unsigned int list_flags):
        cdef virDomainPtr dom = _domain_ptr(domain)
        cdef _SnapshotBatch batch = _SnapshotBatch.__new__(_SnapshotBatch)
        batch.b.n = _list_snapshots(dom, NULL, list_flags, &batch.b.snaps)
        return batch

    def __dealloc__(self):
        cdef int i
        cdef _Batch *b = &self.b
        if b.results != NULL:
            for i in range(b.n):
                if b.results[i] == NULL:
                    continue
                if b.kind == _BATCH_XML:
                    free(b.results[i])
                elif b.kind == _BATCH_PARENT:
                    virDomainSnapshotFree(<virDomainSnapshotPtr>b.results[i])
                else:
                    _free_snapshots(<virDomainSnapshotPtr *>b.results[i], b.counts[i])
            free(b.results)
        free(b.counts)
        free(b.gone)
        _free_snapshots(b.snaps, b.n)

    cdef int prepare(self, int kind, unsigned int flags) except -1:
        self.b.kind = kind
        self.b.flags = flags
        self.b.results = <void **>calloc(self.b.n or 1, sizeof(void *))
        self.b.gone = <bint *>calloc(self.b.n or 1, sizeof(bint))
        if self.b.results == NULL or self.b.gone == NULL:
            raise MemoryError()
        if kind == _BATCH_CHILDREN:
            self.b.counts = <int *>calloc(self.b.n or 1, sizeof(int))
            if self.b.counts == NULL:
                raise MemoryError()
        return 0

    cdef int run(self, int workers) except -1:
        """Make every call, from ``workers`` native threads; raise the first failure."""
        cdef int n = self.b.n
        cdef int k
        cdef int failed
        workers = max(1, min(workers, n))
        if workers == 1:
            with nogil:
                failed = _run_range(&self.b, 0, n)
            if failed >= 0:
                _raise_last_error()
            return 0
        cdef _Chunk *chunks = <_Chunk *>calloc(workers, sizeof(_Chunk))
        if chunks == NULL:
            raise MemoryError()
        try:
            for k in range(workers):
                chunks[k].batch = &self.b
                chunks[k].start = <int>(<long long>n * k // workers)
                chunks[k].stop = <int>(<long long>n * (k + 1) // workers)
                chunks[k].failed = -1
                chunks[k].done = PyThread_allocate_lock()
                if chunks[k].done == NULL:
                    raise MemoryError()
                PyThread_acquire_lock(chunks[k].done, NOWAIT_LOCK)
            for k in range(workers):
                if <long>PyThread_start_new_thread(_run_chunk, &chunks[k]) == -1:
                    with nogil:     # no thread: run that chunk here instead
                        _run_chunk(&chunks[k])
            with nogil:
                for k in range(workers):
                    PyThread_acquire_lock(chunks[k].done, WAIT_LOCK)
            for k in range(workers):
                if chunks[k].failed >= 0:
                    raise _error_from(chunks[k].error)
            return 0
        finally:
            # Only once every started chunk has finished, as above.
            for k in range(workers):
                if chunks[k].error != NULL:
                    virFreeError(chunks[k].error)
                if chunks[k].done != NULL:
                    PyThread_free_lock(chunks[k].done)
            free(chunks)

    cdef str name(self, int i):
        return _decode(virDomainSnapshotGetName(self.b.snaps[i]))


cdef int _checked_workers(object workers) except -1:
    """``workers`` as a thread count: at least 1, capped at MAX_WORKERS."""
    if isinstance(workers, bool):
        raise TypeError("workers must be int, not bool")
    _checked_int(workers, "workers")
    if workers < 1:                 # compared as Python ints: any size is capped, not overflowed
        raise ValueError("workers must be at least 1")
    return min(workers, MAX_WORKERS)


cdef bint _children_route_is_cheaper(Domain domain, object list_flags) except -1:
    """Fewer calls to list children of the snapshots that have any than to ask
    every listed snapshot for its parent?"""
    cdef int listed = _domain_call(domain, virDomainSnapshotNum, list_flags)
    cdef int with_children = _domain_call(domain, virDomainSnapshotNum,
                                          VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES)
    return with_children + 2 < listed


cdef dict _parents_via_children(Domain domain, object list_flags, object workers):
    """snapshot_parents() from one children listing per snapshot that has children.

    The snapshots to report are listed first, so each existed before any
    children call. One that no children listing named (a root, or one whose
    parent changed in between) is asked for its parent itself: every edge
    reported was true at the moment of the call that reported it.
    """
    cdef unsigned int c_list_flags = _checked_int(list_flags, "list_flags")
    cdef int c_workers = _checked_workers(workers)
    cdef _SnapshotBatch listed = _SnapshotBatch.listing(domain, c_list_flags)
    cdef _SnapshotBatch batch = _run_batch(domain, _BATCH_CHILDREN, 0,
                                           VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES, c_workers)
    cdef dict parent_of = {}
    cdef int i, j, failed
    cdef virDomainSnapshotPtr *children
    cdef virDomainSnapshotPtr parent
    cdef str name
    for i in range(batch.b.n):
        if batch.b.gone[i]:
            continue
        name = batch.name(i)
        children = <virDomainSnapshotPtr *>batch.b.results[i]
        for j in range(batch.b.counts[i]):
            parent_of[_decode(virDomainSnapshotGetName(children[j]))] = name
    listed.prepare(_BATCH_PARENT, 0)
    cdef dict out = {}
    for i in range(listed.b.n):
        name = listed.name(i)
        if name in parent_of:
            out[name] = parent_of[name]
            continue
        with nogil:
            failed = _run_range(&listed.b, i, i + 1)
        if failed >= 0:
            _raise_last_error()
        if not listed.b.gone[i]:
            parent = <virDomainSnapshotPtr>listed.b.results[i]
            out[name] = None if parent == NULL else _decode(virDomainSnapshotGetName(parent))
    return out


cdef _SnapshotBatch _run_batch(Domain domain, int kind, object flags, object list_flags,
                               object workers):
    """List the domain's snapshots, then make one ``kind`` call per snapshot."""
    cdef unsigned int c_flags = _checked_int(flags, "flags")
    cdef unsigned int c_list_flags = _checked_int(list_flags, "list_flags")
    cdef int c_workers = _checked_workers(workers)
    cdef _SnapshotBatch batch = _SnapshotBatch.listing(domain, c_list_flags)
    batch.prepare(kind, c_flags)
    batch.run(c_workers)
    return batch


# ---------------------------------------------------------------- flags on DomainSnapshot

@cython.internal
cdef class _FlagMember:
    """DomainSnapshot.CREATE_HALT and the like: the member, its class built on first use."""
    cdef str flags
    cdef str member

    def __get__(self, instance, owner):
        return getattr(_enum_class(self.flags), self.member)


cdef _FlagMember _flag_member(str flags, str member):
    cdef _FlagMember descriptor = _FlagMember.__new__(_FlagMember)
    descriptor.flags = flags
    descriptor.member = member
    return descriptor


cdef dict _snapshot_type_dict = <dict>(<_TypeObject *>DomainSnapshot).tp_dict
for _prefix, _flags in (("CREATE_", "CreateFlags"), ("DELETE_", "DeleteFlags"),
                        ("LIST_", "ListFlags"), ("REVERT_", "RevertFlags"), ("XML_", "XMLFlags")):
    for _name in _FLAG_MEMBERS[_flags]:
        _snapshot_type_dict[_prefix + _name] = _flag_member(_flags, _name)
PyType_Modified(<_TypeObject *>DomainSnapshot)
del _prefix, _flags, _name


include "_events.pxi"
