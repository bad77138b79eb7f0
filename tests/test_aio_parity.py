"""virtsnap.aio is the same API as the sync one: names, parameters, defaults, workers."""

import asyncio
import inspect

import pytest

import virtsnap
from support.helpers import TEST_URI
from virtsnap import aio

PAIRS = [(virtsnap.Connection, aio.AsyncConnection), (virtsnap.Domain, aio.AsyncDomain),
         (virtsnap.DomainSnapshot, aio.AsyncDomainSnapshot)]
# Interop with libvirt-python's objects is the sync handle's job (``.sync`` reaches it).
SYNC_ONLY = {"from_libvirt", "to_libvirt"}
# A callback runs on the event loop's thread: in asyncio code, iterate the stream instead.
NOT_IN_ASYNC = {("Connection", "domain_events"): {"callback"}}


def parameters(function, leave_out=()):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()
            if p.name != "self" and p.name not in leave_out]


@pytest.mark.parametrize("sync, twin", PAIRS, ids=[pair[0].__name__ for pair in PAIRS])
def test_every_public_method_has_a_twin_with_the_same_parameters(sync, twin):
    names = {name for name in dir(sync) if not name.startswith("_")} - SYNC_ONLY
    assert names <= set(dir(twin)), sorted(names - set(dir(twin)))
    for name in sorted(names):
        ours, theirs = getattr(sync, name), getattr(twin, name)
        assert callable(ours) == callable(theirs), name
        if isinstance(inspect.getattr_static(sync, name), (int, str)):
            assert ours == theirs, name             # a flag constant
            continue
        if not callable(ours):
            continue
        leave_out = NOT_IN_ASYNC.get((sync.__name__, name), ())
        assert parameters(ours, leave_out) == parameters(theirs), name


def snapshots(dom, count):
    parent = None
    for number in range(count):
        dom.create_snapshot(name=f"s{number}")
        parent = number
    return parent


WORKER_CALLS = ["snapshot_xml_descriptions", "snapshot_parents", "snapshot_children"]


def call(dom, name, workers):
    if name == "snapshot_xml_descriptions":
        return dom.snapshot_xml_descriptions(0, 0, workers)
    if name == "snapshot_parents":
        return dom.snapshot_parents(0, workers)
    return dom.snapshot_children(0, 0, workers)


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_workers_mean_the_same_in_both_apis(dom, name):
    snapshots(dom, 3)
    expected = call(dom, name, 1)
    for workers in (virtsnap.MAX_WORKERS + 1, 2**31, 2**70):
        assert call(dom, name, workers) == expected      # capped, whatever the size
    for workers, error in ((0, ValueError), (-1, ValueError), (-2**70, ValueError),
                           (True, TypeError), (2.0, TypeError)):
        with pytest.raises(error, match="workers"):
            call(dom, name, workers)

    async def main():
        async with await aio.open(TEST_URI) as conn:
            twin = await conn.get_domain_by_name("test")
            method = getattr(twin, name)
            args = {"snapshot_xml_descriptions": (0, 0), "snapshot_parents": (0,),
                    "snapshot_children": (0, 0)}[name]
            for workers in (virtsnap.MAX_WORKERS + 1, 2**70):
                assert await method(*args, workers) == expected
            for workers, error in ((0, ValueError), (-2**70, ValueError), (True, TypeError)):
                with pytest.raises(error, match="workers"):
                    await method(*args, workers)

    asyncio.run(main())


def test_snapshot_infos_workers_in_both_apis(dom):
    snapshots(dom, 2)
    expected = [info.name for info in dom.snapshot_infos(0, 2**70)]
    with pytest.raises(ValueError, match="workers"):
        dom.snapshot_infos(0, -2**70)

    async def main():
        async with await aio.open(TEST_URI) as conn:
            twin = await conn.get_domain_by_name("test")
            assert [info.name for info in await twin.snapshot_infos(0, 2**70)] == expected
            with pytest.raises(TypeError, match="workers"):
                await twin.snapshot_infos(0, True)

    asyncio.run(main())


def test_async_export_secure_and_import_replace(dom, tmp_path):
    dom.create_snapshot(name="base", description="first")

    async def main():
        async with await aio.open(TEST_URI) as conn:
            twin = await conn.get_domain_by_name("test")
            assert await twin.export_snapshots(tmp_path / "out", secure=True) == ["base"]
            with pytest.raises(virtsnap.transfer.SnapshotExistsError):
                await twin.import_snapshots(tmp_path / "out")
            assert await twin.import_snapshots(tmp_path / "out", replace=True) == ["base"]

    asyncio.run(main())
    assert dom.list_snapshot_names() == ["base"]
    assert dom.get_snapshot_by_name("base").info().description == "first"
