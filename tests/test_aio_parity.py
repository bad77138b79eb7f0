"""virtsnap.aio is the same API as the sync one: names, parameters, defaults, workers."""

import inspect

import pytest

import virtsnap
from support.event_scripts import run_script
from virtsnap import aio

PAIRS = [(virtsnap.Connection, aio.AsyncConnection), (virtsnap.Domain, aio.AsyncDomain),
         (virtsnap.DomainSnapshot, aio.AsyncDomainSnapshot)]
# Interop with libvirt-python's objects is the sync handle's job (``.sync`` reaches it);
# the flag constants (DomainSnapshot.CREATE_HALT, ...) are virtsnap.CreateFlags' members.
SYNC_ONLY = {"from_libvirt", "to_libvirt"}
# A callback runs on the event loop's thread: in asyncio code, iterate the stream instead.
NOT_IN_ASYNC = {("Connection", "domain_events"): {"callback"}}


def parameters(function, leave_out=()):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()
            if p.name != "self" and p.name not in leave_out]


@pytest.mark.parametrize("sync, twin", PAIRS, ids=[pair[0].__name__ for pair in PAIRS])
def test_every_public_method_has_a_twin_with_the_same_parameters(sync, twin):
    names = {name for name in dir(sync) if not name.startswith("_") and not name.isupper()}
    names -= SYNC_ONLY
    assert names <= set(dir(twin)), sorted(names - set(dir(twin)))
    for name in sorted(names):
        ours, theirs = getattr(sync, name), getattr(twin, name)
        assert callable(ours) == callable(theirs), name
        if not callable(ours):
            continue
        leave_out = NOT_IN_ASYNC.get((sync.__name__, name), ())
        assert parameters(ours, leave_out) == parameters(theirs), name


def snapshots(dom, count):
    for number in range(count):
        dom.create_snapshot(name=f"s{number}")


def call(dom, name, workers):
    if name == "snapshot_xml_descriptions":
        return dom.snapshot_xml_descriptions(0, 0, workers)
    if name == "snapshot_parents":
        return dom.snapshot_parents(0, workers)
    if name == "snapshot_children":
        return dom.snapshot_children(0, 0, workers)
    return [info.name for info in dom.snapshot_infos(0, workers)]


WORKER_CALLS = ["snapshot_xml_descriptions", "snapshot_parents", "snapshot_children",
                "snapshot_infos"]


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_workers_are_capped_whatever_their_size_in_the_sync_api(dom, name):
    snapshots(dom, 3)
    expected = call(dom, name, 1)
    for workers in (virtsnap.MAX_WORKERS + 1, 2**31, 2**70):
        assert call(dom, name, workers) == expected
    for workers, error in ((0, ValueError), (-1, ValueError), (-2**70, ValueError),
                           (True, TypeError), (2.0, TypeError)):
        with pytest.raises(error, match="workers"):
            call(dom, name, workers)


# virtsnap.aio takes the process's one libvirt event implementation, which other
# test modules' start_event_loop() needs: the async side runs in a process of its own.
ASYNC_SIDE = """
import asyncio, sys, tempfile, virtsnap
from virtsnap import aio

CALLS = {"snapshot_xml_descriptions": (0, 0), "snapshot_parents": (0,),
         "snapshot_children": (0, 0), "snapshot_infos": (0,)}

def plain(result):
    return [info.name for info in result] if isinstance(result, list) else result

async def main():
    async with await aio.open("test:///default") as conn:
        dom = await conn.get_domain_by_name("test")
        for number in range(3):
            await dom.create_snapshot(name=f"s{number}", description=f"number {number}")
        for name, args in CALLS.items():
            method = getattr(dom, name)
            expected = plain(await method(*args, 1))
            for workers in (virtsnap.MAX_WORKERS + 1, 2**70):
                assert plain(await method(*args, workers)) == expected, (name, workers)
            for workers, error in ((0, ValueError), (-2**70, ValueError), (True, TypeError)):
                try:
                    await method(*args, workers)
                except error as exc:
                    assert "workers" in str(exc), exc
                else:
                    raise AssertionError((name, workers))
        with tempfile.TemporaryDirectory() as directory:
            names = await dom.export_snapshots(directory, secure=True)
            try:
                await dom.import_snapshots(directory)
            except virtsnap.transfer.SnapshotExistsError:
                pass
            else:
                raise AssertionError("imported over existing snapshots")
            assert await dom.import_snapshots(directory, replace=True) == names
        assert (await dom.get_snapshot_by_name("s1")).sync.info().description == "number 1"
    print("ok")

asyncio.run(main())
"""


def test_the_async_api_caps_workers_and_takes_secure_and_replace(dom):
    assert run_script(ASYNC_SIDE) == (0, "ok\n", "")
