"""virtsnap.aio: the API's shape, the loop kept running, concurrency, cancellation,
keep-alive without a thread, and the sync API in the same process."""

import asyncio
import inspect
import sys
import threading
import time

import pytest

import virtsnap
import virtsnap.aio as aio
from aio_helpers import Ticker, until
from support.system import sockets_to, unread_by_peer
from virtsnap import LibvirtConnectionError, SnapshotNotFoundError

SYNC_ONLY = {"from_libvirt", "to_libvirt"}     # reach them through .sync
# Before 3.11 an awaited task's CancelledError loses the message the task raised it
# with (CPython bpo-45390): there the awaiter sees an empty message.
TASKS_KEEP_CANCEL_MESSAGES = sys.version_info >= (3, 11)

# The whole child run depends on the parent's daemon (tests/test_aio.py).
pytestmark = pytest.mark.libvirtd


def public(cls):
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize("sync_cls, async_cls", [
    (virtsnap.Connection, aio.AsyncConnection),
    (virtsnap.Domain, aio.AsyncDomain),
    (virtsnap.DomainSnapshot, aio.AsyncDomainSnapshot),
])
def test_async_handles_have_the_sync_method_names(sync_cls, async_cls):
    flags = {n for n in public(sync_cls) if n.isupper()}
    assert public(async_cls) - {"sync"} == public(sync_cls) - SYNC_ONLY - flags


def test_blocking_methods_are_coroutines_and_accessors_are_not():
    import inspect
    assert inspect.iscoroutinefunction(aio.AsyncDomain.create_snapshot)
    assert inspect.iscoroutinefunction(aio.AsyncDomainSnapshot.revert_to)
    assert inspect.iscoroutinefunction(aio.AsyncConnection.set_keepalive)
    assert isinstance(aio.AsyncDomain.name, property)
    assert not inspect.iscoroutinefunction(aio.AsyncConnection.is_alive)


def test_results_are_async_handles_and_errors_the_same_classes():
    async def main():
        async with await aio.open("test:///default") as conn:
            dom = await conn.get_domain_by_name("test")
            snap = await dom.create_snapshot(name="a", description="d")
            assert isinstance(snap, aio.AsyncDomainSnapshot) and snap.name == "a"
            assert snap.get_domain() is dom and dom.get_connect() is conn
            assert [s.name for s in await dom.list_all_snapshots()] == ["a"]
            assert (await snap.info()).description == "d"
            assert await snap.get_parent() is None
            with pytest.raises(SnapshotNotFoundError):
                await dom.get_snapshot_by_name("nope")
            await snap.delete()
        assert conn.closed
        with pytest.raises(LibvirtConnectionError):
            await dom.num_of_snapshots()
    asyncio.run(main())


def test_sync_and_async_apis_in_one_process(uri):
    """Both on one connection (wrap / .sync), and a separate sync connection."""
    async def main():
        with virtsnap.open(uri) as sync_conn:
            conn = aio.wrap(sync_conn)
            assert conn.sync is sync_conn
            dom = await conn.get_domain_by_name("test")
            await dom.create_snapshot(name="from-async")
            dom.sync.create_snapshot(name="from-sync")
            assert sorted(await dom.list_snapshot_names()) == ["from-async", "from-sync"]
            assert sorted(sync_conn.get_domain_by_name("test").list_snapshot_names()) == [
                "from-async", "from-sync"]
            for name in ("from-async", "from-sync"):
                await (await dom.get_snapshot_by_name(name)).delete()
    asyncio.run(main())


def test_the_pool_is_bounded():
    """set_max_workers(2): eight calls at once never use more than two threads."""
    async def main():
        aio.set_max_workers(2)
        try:
            async with await aio.open("test:///default") as conn:
                dom = await conn.get_domain_by_name("test")
                names = await asyncio.gather(*[dom.list_snapshot_names() for _ in range(64)])
                assert names == [[]] * 64
                workers = [t for t in threading.enumerate() if t.name.startswith("virtsnap-aio")]
                assert 1 <= len(workers) <= 2
        finally:
            aio.set_max_workers(aio.DEFAULT_MAX_WORKERS)
        with pytest.raises(ValueError):
            aio.set_max_workers(0)
        with pytest.raises(TypeError):
            aio.set_max_workers("4")
    asyncio.run(main())


# ---------------------------------------------------------------- the loop keeps running

SNAPSHOTS_FOR_TICKER = 10_000


def test_the_loop_ticks_during_a_bulk_fetch_over_the_daemon(private_daemon):
    async def main():
        async with await aio.open(private_daemon.uri()) as conn:
            dom = await conn.get_domain_by_name("test")
            sem = asyncio.Semaphore(8)

            async def create(i):
                async with sem:
                    await dom.create_snapshot(name=f"s{i:05}")
            await asyncio.gather(*[create(i) for i in range(SNAPSHOTS_FOR_TICKER)])
            async with Ticker() as ticker:
                started = time.monotonic()
                xml = await dom.snapshot_xml_descriptions()
                elapsed = time.monotonic() - started
            assert len(xml) == SNAPSHOTS_FOR_TICKER
            print(f"{ticker.ticks} ticks in {elapsed:.2f}s of snapshot_xml_descriptions()")
            assert ticker.ticks >= 5
            # The control: the same call made on the loop itself blocks it.
            async with Ticker() as control:
                assert len(dom.sync.snapshot_xml_descriptions()) == SNAPSHOTS_FOR_TICKER
            assert control.ticks == 0
    asyncio.run(main())


def test_200_concurrent_creates_over_the_daemon(private_daemon):
    async def main():
        async with await aio.open(private_daemon.uri()) as conn:
            dom = await conn.get_domain_by_name("test")
            snaps = await asyncio.gather(*[dom.create_snapshot(name=f"c{i:03}")
                                           for i in range(200)])
            assert sorted(s.name for s in snaps) == [f"c{i:03}" for i in range(200)]
            assert sorted(await dom.list_snapshot_names()) == [f"c{i:03}" for i in range(200)]
            parents = await dom.snapshot_parents()
            # Each create made the previous current snapshot its parent: one chain.
            assert sum(p is None for p in parents.values()) == 1
            assert len(set(parents.values())) == 200
    asyncio.run(main())


# ---------------------------------------------------------------- cancellation

async def create_on_a_frozen_daemon(conn, private_daemon, name):
    """Freeze the daemon, then start creating snapshot ``name`` of "test": the
    domain, the task, and the sockets to the daemon, once the request sits unread
    in them (the caller resumes the daemon)."""
    to_daemon = sockets_to(private_daemon.socket)
    dom = await conn.get_domain_by_name("test")
    private_daemon.pause()
    task = asyncio.create_task(dom.create_snapshot(name=name))
    await until(lambda: unread_by_peer(to_daemon) > 0, f"the create of {name} to be sent")
    return dom, task, to_daemon


def test_cancelling_a_create_waits_for_libvirt(private_daemon):
    """The daemon frozen mid-call: the cancelled task stays pending until libvirt
    returns; the test driver has no job to abort, so the snapshot is made and kept.
    Each step waits for its request to sit unread in the frozen daemon's socket."""
    async def main():
        async with await aio.open(private_daemon.uri()) as conn:
            try:
                dom, task, to_daemon = await create_on_a_frozen_daemon(conn, private_daemon, "mid")
                sent = unread_by_peer(to_daemon)
                task.cancel()
                await until(lambda: unread_by_peer(to_daemon) > sent,
                            "the cancellation's abort_job() to be sent")
                assert not task.done(), "ended while libvirt was still in the call"
            finally:
                private_daemon.resume()
            with pytest.raises(asyncio.CancelledError) as info:
                await asyncio.wait_for(task, 30)
            assert task.cancelled()
            message = str(info.value)
            if TASKS_KEEP_CANCEL_MESSAGES:
                assert "had no job to stop" in message and "libvirt completed the call" in message
            else:
                assert message == ""
            assert await dom.list_snapshot_names() == ["mid"]
    asyncio.run(main())


# ---------------------------------------------------------------- keep-alive

KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 2
KEEPALIVE_BOUND = KEEPALIVE_INTERVAL * (KEEPALIVE_COUNT + 1)
KEEPALIVE_SLACK = 2.5


@pytest.mark.parametrize("fault", ["frozen", "killed"])
def test_keepalive_without_a_thread_notices_a_dead_daemon(private_daemon, fault):
    async def main():
        threads = {t.name for t in threading.enumerate()}
        async with await aio.open(private_daemon.uri()) as conn:
            assert await conn.set_keepalive(KEEPALIVE_INTERVAL, KEEPALIVE_COUNT) is True
            await asyncio.sleep(KEEPALIVE_BOUND + 1)         # probes answered meanwhile
            assert conn.is_alive()
            new_threads = {t.name for t in threading.enumerate()} - threads
            assert all(name.startswith("virtsnap-aio") for name in new_threads), new_threads
            assert virtsnap._snapshot.event_implementation() == "asyncio"
            (private_daemon.pause if fault == "frozen" else private_daemon.kill)()
            started = time.monotonic()
            while conn.is_alive() and time.monotonic() - started < KEEPALIVE_BOUND + 10:
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            print(f"keep-alive({KEEPALIVE_INTERVAL}, {KEEPALIVE_COUNT}), {fault}: "
                  f"is_alive() false after {elapsed:.2f}s")
            assert not conn.is_alive()
            assert elapsed <= KEEPALIVE_BOUND + KEEPALIVE_SLACK
            if fault == "frozen":
                private_daemon.resume()
    asyncio.run(main())


def test_a_loop_that_is_not_a_selector_loop_is_refused():
    class NotSelectorLoop(asyncio.AbstractEventLoop):
        pass
    with pytest.raises(TypeError, match="selector event loop"):
        virtsnap._snapshot.attach_asyncio_loop(NotSelectorLoop())


def test_a_cancelled_call_still_queued_for_a_thread_never_runs(private_daemon):
    """One pool thread, held by a call to a frozen daemon: a second create
    cancelled while queued is dropped, and makes no snapshot."""
    async def main():
        aio.set_max_workers(1)
        try:
            async with await aio.open(private_daemon.uri()) as conn:
                try:
                    dom, first, _ = await create_on_a_frozen_daemon(conn, private_daemon, "first")
                    queued = asyncio.create_task(dom.create_snapshot(name="queued"))
                    await until(lambda: inspect.getcoroutinestate(queued.get_coro())
                                == inspect.CORO_SUSPENDED, "the second create to queue")
                    queued.cancel()
                    with pytest.raises(asyncio.CancelledError) as info:
                        await queued
                    assert str(info.value) == ("cancelled before libvirt was called"
                                               if TASKS_KEEP_CANCEL_MESSAGES else "")
                finally:
                    private_daemon.resume()
                assert (await first).name == "first"
                assert await dom.list_snapshot_names() == ["first"]
        finally:
            aio.set_max_workers(aio.DEFAULT_MAX_WORKERS)
    asyncio.run(main())
