# Extern declarations of the parts of libvirt's C API that virtsnap uses.
# libvirt's sub-headers refuse direct inclusion, so every block names
# libvirt/libvirt.h (errors live in libvirt/virterror.h). Enum values come from the headers, never from here.

cdef extern from "libvirt/libvirt.h" nogil:
    # libvirt-common.h / libvirt-host.h
    ctypedef struct virConnect:
        pass
    ctypedef virConnect *virConnectPtr

    int LIBVIR_VERSION_NUMBER
    enum: VIR_UUID_BUFLEN
    enum: VIR_UUID_STRING_BUFLEN

    int virGetVersion(unsigned long *libVer, const char *type, unsigned long *typeVer)
    virConnectPtr virConnectOpen(const char *name)
    virConnectPtr virConnectOpenReadOnly(const char *name)
    int virConnectClose(virConnectPtr conn)
    int virConnectRef(virConnectPtr conn)
    char *virConnectGetURI(virConnectPtr conn)
    int virConnectIsAlive(virConnectPtr conn)
    int virConnectGetLibVersion(virConnectPtr conn, unsigned long *libVer)
    int virConnectSetKeepAlive(virConnectPtr conn, int interval, unsigned int count)

    # libvirt-common.h: typed parameters
    enum virTypedParameterType:
        VIR_TYPED_PARAM_INT
        VIR_TYPED_PARAM_UINT
        VIR_TYPED_PARAM_LLONG
        VIR_TYPED_PARAM_ULLONG
        VIR_TYPED_PARAM_DOUBLE
        VIR_TYPED_PARAM_BOOLEAN
        VIR_TYPED_PARAM_STRING

    union _virTypedParameterValue:
        int i
        unsigned int ui
        long long l
        unsigned long long ul
        double d
        char b
        char *s

    ctypedef struct virTypedParameter:
        char *field
        int type
        _virTypedParameterValue value
    ctypedef virTypedParameter *virTypedParameterPtr

    void virTypedParamsFree(virTypedParameterPtr params, int nparams)

    # libvirt-event.h
    int virEventRegisterDefaultImpl()
    int virEventRunDefaultImpl()

    # libvirt-domain.h
    ctypedef struct virDomain:
        pass
    ctypedef virDomain *virDomainPtr

    virDomainPtr virDomainLookupByName(virConnectPtr conn, const char *name)
    virDomainPtr virDomainLookupByUUIDString(virConnectPtr conn, const char *uuid)
    virDomainPtr virDomainLookupByID(virConnectPtr conn, int id)
    int virConnectListAllDomains(virConnectPtr conn, virDomainPtr **domains, unsigned int flags)
    int virDomainRef(virDomainPtr domain)
    int virDomainFree(virDomainPtr domain)
    const char *virDomainGetName(virDomainPtr domain)
    int virDomainGetUUID(virDomainPtr domain, unsigned char *uuid)
    int virDomainGetUUIDString(virDomainPtr domain, char *buf)
    int virDomainGetID(virDomainPtr domain)
    virConnectPtr virDomainGetConnect(virDomainPtr domain)
    int virDomainGetState(virDomainPtr domain, int *state, int *reason, unsigned int flags)
    int virDomainAbortJob(virDomainPtr domain)
    int virDomainSuspend(virDomainPtr domain)
    int virDomainResume(virDomainPtr domain)
    int virDomainFSFreeze(virDomainPtr dom, const char **mountpoints, unsigned int nmountpoints,
                          unsigned int flags)
    int virDomainFSThaw(virDomainPtr dom, const char **mountpoints, unsigned int nmountpoints,
                        unsigned int flags)
    virDomainPtr virDomainDefineXML(virConnectPtr conn, const char *xml)
    int virDomainGetJobStats(virDomainPtr domain, int *type, virTypedParameterPtr *params,
                             int *nparams, unsigned int flags)
    char *virDomainGetXMLDesc(virDomainPtr domain, unsigned int flags)

    # libvirt-domain.h: statistics (virtsnap.space reads block sizes from them)
    ctypedef struct virDomainStatsRecord:
        virDomainPtr dom
        virTypedParameterPtr params
        int nparams
    ctypedef virDomainStatsRecord *virDomainStatsRecordPtr
    enum:
        VIR_DOMAIN_STATS_BLOCK
        VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING
    int virDomainListGetStats(virDomainPtr *doms, unsigned int stats,
                              virDomainStatsRecordPtr **retStats, unsigned int flags)
    void virDomainStatsRecordListFree(virDomainStatsRecordPtr *stats)

    # libvirt-storage.h: the volume behind a disk and its pool's free space
    ctypedef struct virStoragePool:
        pass
    ctypedef virStoragePool *virStoragePoolPtr
    ctypedef struct virStorageVol:
        pass
    ctypedef virStorageVol *virStorageVolPtr
    ctypedef struct virStoragePoolInfo:
        int state
        unsigned long long capacity
        unsigned long long allocation
        unsigned long long available
    ctypedef struct virStorageVolInfo:
        int type
        unsigned long long capacity
        unsigned long long allocation
    virStorageVolPtr virStorageVolLookupByPath(virConnectPtr conn, const char *path)
    int virStorageVolGetInfo(virStorageVolPtr vol, virStorageVolInfo *info)
    int virStorageVolFree(virStorageVolPtr vol)
    virStoragePoolPtr virStoragePoolLookupByVolume(virStorageVolPtr vol)
    int virStoragePoolRefresh(virStoragePoolPtr pool, unsigned int flags)
    int virStoragePoolGetInfo(virStoragePoolPtr pool, virStoragePoolInfo *info)
    const char *virStoragePoolGetName(virStoragePoolPtr pool)
    int virStoragePoolFree(virStoragePoolPtr pool)
    # for virtsnap.external: the domain's definition, lifecycle and <metadata>
    int virDomainCreateWithFlags(virDomainPtr domain, unsigned int flags)
    int virDomainDestroyFlags(virDomainPtr domain, unsigned int flags)
    int virDomainSetMetadata(virDomainPtr domain, int type, const char *metadata,
                             const char *key, const char *uri, unsigned int flags)
    char *virDomainGetMetadata(virDomainPtr domain, int type, const char *uri,
                               unsigned int flags)
    enum:
        VIR_DOMAIN_METADATA_ELEMENT
    ctypedef struct virDomainBlockJobInfo:
        int type
        unsigned long bandwidth
        unsigned long long cur
        unsigned long long end
    int virDomainBlockCommit(virDomainPtr dom, const char *disk, const char *base,
                             const char *top, unsigned long bandwidth, unsigned int flags)
    int virDomainGetBlockJobInfo(virDomainPtr dom, const char *disk,
                                 virDomainBlockJobInfo *info, unsigned int flags)
    int virDomainBlockJobAbort(virDomainPtr dom, const char *disk, unsigned int flags)
    # for virtsnap.external: a snapshot's memory image, restored on libvirt before 9.9
    int virDomainRestoreFlags(virConnectPtr conn, const char *path, const char *dxml,
                              unsigned int flags)
    # for virtsnap.external: a revert's overlays and removed layers as pool volumes
    virStoragePoolPtr virStoragePoolLookupByName(virConnectPtr conn, const char *name)
    virStorageVolPtr virStorageVolCreateXML(virStoragePoolPtr pool, const char *xmlDesc,
                                            unsigned int flags)
    char *virStorageVolGetPath(virStorageVolPtr vol)
    int virStorageVolDelete(virStorageVolPtr vol, unsigned int flags)

    # libvirt-domain-snapshot.h
    ctypedef struct virDomainSnapshot:
        pass
    ctypedef virDomainSnapshot *virDomainSnapshotPtr

    const char *virDomainSnapshotGetName(virDomainSnapshotPtr snapshot)
    virDomainPtr virDomainSnapshotGetDomain(virDomainSnapshotPtr snapshot)
    virConnectPtr virDomainSnapshotGetConnect(virDomainSnapshotPtr snapshot)
    virDomainSnapshotPtr virDomainSnapshotCreateXML(virDomainPtr domain, const char *xmlDesc,
                                                    unsigned int flags)
    char *virDomainSnapshotGetXMLDesc(virDomainSnapshotPtr snapshot, unsigned int flags)
    int virDomainSnapshotNum(virDomainPtr domain, unsigned int flags)
    int virDomainListAllSnapshots(virDomainPtr domain, virDomainSnapshotPtr **snaps,
                                  unsigned int flags)
    int virDomainSnapshotListNames(virDomainPtr domain, char **names, int nameslen,
                                   unsigned int flags)
    int virDomainSnapshotNumChildren(virDomainSnapshotPtr snapshot, unsigned int flags)
    int virDomainSnapshotListAllChildren(virDomainSnapshotPtr snapshot,
                                         virDomainSnapshotPtr **snaps, unsigned int flags)
    int virDomainSnapshotListChildrenNames(virDomainSnapshotPtr snapshot, char **names,
                                           int nameslen, unsigned int flags)
    virDomainSnapshotPtr virDomainSnapshotLookupByName(virDomainPtr domain, const char *name,
                                                       unsigned int flags)
    int virDomainHasCurrentSnapshot(virDomainPtr domain, unsigned int flags)
    virDomainSnapshotPtr virDomainSnapshotCurrent(virDomainPtr domain, unsigned int flags)
    virDomainSnapshotPtr virDomainSnapshotGetParent(virDomainSnapshotPtr snapshot,
                                                    unsigned int flags)
    int virDomainSnapshotIsCurrent(virDomainSnapshotPtr snapshot, unsigned int flags)
    int virDomainSnapshotHasMetadata(virDomainSnapshotPtr snapshot, unsigned int flags)
    int virDomainRevertToSnapshot(virDomainSnapshotPtr snapshot, unsigned int flags)
    int virDomainSnapshotDelete(virDomainSnapshotPtr snapshot, unsigned int flags)
    enum:
        VIR_DOMAIN_SNAPSHOT_LIST_ROOTS
        VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS
        VIR_DOMAIN_SNAPSHOT_LIST_NO_LEAVES
        VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL

    int virDomainSnapshotRef(virDomainSnapshotPtr snapshot)
    int virDomainSnapshotFree(virDomainSnapshotPtr snapshot)


cdef extern from "libvirt/virterror.h" nogil:
    ctypedef struct virError:
        int code
        int domain
        char *message
        int level
    ctypedef virError *virErrorPtr
    ctypedef void (*virErrorFunc)(void *userData, virErrorPtr error) noexcept

    virErrorPtr virGetLastError()
    void virResetLastError()
    void virSetErrorFunc(void *userData, virErrorFunc handler)
    void virConnSetErrorFunc(virConnectPtr conn, void *userData, virErrorFunc handler)
    virErrorPtr virSaveLastError()
    void virFreeError(virErrorPtr err)

    enum:
        VIR_FROM_NONE
        VIR_FROM_RPC
        VIR_ERR_ERROR
        VIR_ERR_INTERNAL_ERROR
        VIR_ERR_NO_SUPPORT
        VIR_ERR_NO_CONNECT
        VIR_ERR_INVALID_ARG
        VIR_ERR_XML_ERROR
        VIR_ERR_XML_DETAIL
        VIR_ERR_XML_INVALID_SCHEMA
        VIR_ERR_OPERATION_DENIED
        VIR_ERR_RPC
        VIR_ERR_NO_DOMAIN
        VIR_ERR_OPERATION_INVALID
        VIR_ERR_NO_DOMAIN_SNAPSHOT
        VIR_ERR_NO_STORAGE_VOL
        VIR_ERR_OPERATION_UNSUPPORTED
        VIR_ERR_CONFIG_UNSUPPORTED
        VIR_ERR_ARGUMENT_UNSUPPORTED
        VIR_ERR_NO_DOMAIN_METADATA


cdef extern from "flags.h" nogil:
    ctypedef struct virtsnap_const:
        const char *name
        long long value
        unsigned long since

    const virtsnap_const virtsnap_create_flags[]
    const virtsnap_const virtsnap_delete_flags[]
    const virtsnap_const virtsnap_list_flags[]
    const virtsnap_const virtsnap_revert_flags[]
    const virtsnap_const virtsnap_xml_flags[]
    const virtsnap_const virtsnap_domain_states[]
    const virtsnap_const virtsnap_domain_list_flags[]
    const virtsnap_const virtsnap_job_types[]
    const virtsnap_const virtsnap_error_codes[]


# ---------------------------------------------------------------- events (virtsnap.aio)
# libvirt-event.h: an event implementation of our own, and libvirt-domain.h:
# lifecycle events. Kept apart from the blocks above.

cdef extern from "libvirt/libvirt.h" nogil:
    int virInitialize()
    ctypedef void (*virFreeCallback)(void *opaque) noexcept
    ctypedef void (*virEventHandleCallback)(int watch, int fd, int events, void *opaque) noexcept
    ctypedef void (*virEventTimeoutCallback)(int timer, void *opaque) noexcept
    ctypedef int (*virEventAddHandleFunc)(int fd, int event, virEventHandleCallback cb,
                                          void *opaque, virFreeCallback ff) noexcept
    ctypedef void (*virEventUpdateHandleFunc)(int watch, int event) noexcept
    ctypedef int (*virEventRemoveHandleFunc)(int watch) noexcept
    ctypedef int (*virEventAddTimeoutFunc)(int timeout, virEventTimeoutCallback cb,
                                           void *opaque, virFreeCallback ff) noexcept
    ctypedef void (*virEventUpdateTimeoutFunc)(int timer, int timeout) noexcept
    ctypedef int (*virEventRemoveTimeoutFunc)(int timer) noexcept

    void virEventRegisterImpl(virEventAddHandleFunc addHandle,
                              virEventUpdateHandleFunc updateHandle,
                              virEventRemoveHandleFunc removeHandle,
                              virEventAddTimeoutFunc addTimeout,
                              virEventUpdateTimeoutFunc updateTimeout,
                              virEventRemoveTimeoutFunc removeTimeout)
    int virEventAddTimeout(int timeout, virEventTimeoutCallback cb, void *opaque,
                           virFreeCallback ff)
    int virEventRemoveTimeout(int timer)

    enum:
        VIR_EVENT_HANDLE_READABLE
        VIR_EVENT_HANDLE_WRITABLE
        VIR_EVENT_HANDLE_ERROR
        VIR_EVENT_HANDLE_HANGUP

    ctypedef void (*virConnectDomainEventGenericCallback)(virConnectPtr conn, virDomainPtr dom,
                                                          void *opaque) noexcept
    ctypedef int (*virConnectDomainEventCallback)(virConnectPtr conn, virDomainPtr dom,
                                                  int event, int detail, void *opaque) noexcept
    int virConnectDomainEventRegisterAny(virConnectPtr conn, virDomainPtr dom, int eventID,
                                         virConnectDomainEventGenericCallback cb, void *opaque,
                                         virFreeCallback freecb)
    int virConnectDomainEventDeregisterAny(virConnectPtr conn, int callbackID)
    ctypedef void (*virConnectCloseFunc)(virConnectPtr conn, int reason, void *opaque) noexcept
    int virConnectRegisterCloseCallback(virConnectPtr conn, virConnectCloseFunc cb,
                                        void *opaque, virFreeCallback freecb)
    int virConnectUnregisterCloseCallback(virConnectPtr conn, virConnectCloseFunc cb)
    enum:
        VIR_DOMAIN_EVENT_ID_LIFECYCLE


cdef extern from "events.h" nogil:
    ctypedef struct virtsnap_event_detail:
        int event
        const char *name
        int value

    const virtsnap_const virtsnap_event_types[]
    const virtsnap_event_detail virtsnap_event_details[]
