"""Types of the compiled core's dict results, for its stub and virtsnap.aio."""

from typing import Dict, TypedDict, Union

#: libvirt's typed parameters by field name (``virTypedParameter``), as
#: :meth:`Domain.get_job_stats` and :meth:`Domain.get_block_stats` return them.
TypedParameters = Dict[str, Union[bool, int, float, str, None]]


class StorageVolume(TypedDict):
    """:meth:`Connection.storage_volume`: a volume and its pool, sizes in bytes."""

    pool: str
    type: int
    capacity: int
    allocation: int
    pool_capacity: int
    pool_allocation: int
    pool_available: int
