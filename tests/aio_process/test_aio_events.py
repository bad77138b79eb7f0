"""Lifecycle events on the asyncio loop: exact sequences, sharing, no leak."""

import asyncio
import gc
import resource
import sys

import pytest

import virtsnap
import virtsnap.aio as aio
from aio_helpers import destroy, live_event_timers, pairs, run_python, take
from virtsnap import events as events_module
from virtsnap._snapshot import domain_event_register
from virtsnap.aio import DomainEvent, DomainEventType

# destroy, then reverts: shut-off -> running snapshot, -> shut-off snapshot, -> running.
SCRIPT_EVENTS = [
    ("STOPPED", "DESTROYED"),
    ("STARTED", "FROM_SNAPSHOT"),
    ("STOPPED", "FROM_SNAPSHOT"),
    ("STARTED", "FROM_SNAPSHOT"),
]

# The whole child run depends on the parent's daemon (tests/test_aio.py).
pytestmark = pytest.mark.libvirtd


async def scripted_reverts(dom):
    """Snapshot "up" of the running domain, destroy, snapshot "down", then revert
    to up, down, up. The events SCRIPT_EVENTS says."""
    up = await dom.create_snapshot(name="up")
    destroy(dom)
    down = await dom.create_snapshot(name="down")
    await up.revert_to()
    assert await dom.state() == virtsnap.DomainState.RUNNING
    await down.revert_to()
    assert await dom.state() == virtsnap.DomainState.SHUTOFF
    await up.revert_to()
    return up, down


async def delete_all(dom):
    for snap in await dom.list_all_snapshots():
        await snap.delete()


def test_detail_names_come_from_libvirt():
    assert DomainEventType.STOPPED == 5 and DomainEventType.STARTED == 2
    names = virtsnap._snapshot.event_detail_names
    assert names[(DomainEventType.STOPPED, 1)] == "DESTROYED"
    assert names[(DomainEventType.STARTED, 0)] == "BOOTED"
    assert names[(DomainEventType.STARTED, 3)] == "FROM_SNAPSHOT"


def test_exact_event_sequence_of_scripted_reverts(uri):
    """test:///default in-process and through a private daemon (held open meanwhile)."""
    async def main():
        async with await aio.open(uri) as conn:
            dom = await conn.get_domain_by_name("test")
            async with conn.domain_events() as every, conn.domain_events(dom) as mine:
                assert events_module.open_hubs() == 1      # one libvirt registration
                await scripted_reverts(dom)
                got = await take(every, len(SCRIPT_EVENTS))
                assert pairs(got) == SCRIPT_EVENTS
                assert pairs(await take(mine, len(SCRIPT_EVENTS))) == SCRIPT_EVENTS
                event = got[0]
                assert isinstance(event, DomainEvent)
                assert (event.domain, event.uuid) == ("test", dom.uuid)
                assert event.event is DomainEventType.STOPPED and event.detail == 1
            assert events_module.open_hubs() == 0
            await delete_all(dom)
    asyncio.run(main())


def test_a_stream_for_another_domain_sees_none_of_these(uri):
    async def main():
        async with await aio.open(uri) as conn:
            dom = await conn.get_domain_by_name("test")
            other = (await conn.list_all_domains())
            assert [d.name for d in other] == ["test"]
            # A stream filtered on a domain that is not "test": none arrive.
            stream = conn.domain_events(dom)
            stream.uuid = "00000000-0000-0000-0000-000000000000"
            async with stream, conn.domain_events() as every:
                await scripted_reverts(dom)
                assert len(await take(every, len(SCRIPT_EVENTS))) == len(SCRIPT_EVENTS)
                assert stream.pending == 0
            await delete_all(dom)
    asyncio.run(main())


def test_an_event_from_another_client_arrives_while_idle(private_daemon):
    """Nothing in flight on our connection: only the loop's watch on its socket
    can receive the event."""
    import libvirt

    async def main():
        async with await aio.open(private_daemon.uri()) as conn:
            async with conn.domain_events() as events:
                other = libvirt.open(private_daemon.uri())
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        None, lambda: other.lookupByName("test").destroy())
                    got = await take(events, 1)
                finally:
                    other.close()
            assert pairs(got) == [("STOPPED", "DESTROYED")]
    asyncio.run(main())


def test_a_slow_consumer_gets_every_event_in_order():
    """200 destroy/revert cycles before the consumer reads one: all kept, in order."""
    async def main():
        async with await aio.open("test:///default") as conn:
            dom = await conn.get_domain_by_name("test")
            up = await dom.create_snapshot(name="up")
            async with conn.domain_events() as events:
                for _ in range(200):
                    destroy(dom)
                    await up.revert_to()
                got = await take(events, 400)
            assert pairs(got) == [("STOPPED", "DESTROYED"), ("STARTED", "FROM_SNAPSHOT")] * 200
            await up.delete()
    asyncio.run(main())


async def settle(conn):
    """Let the pool's threads drop what the last call left behind."""
    for _ in range(aio.max_workers()):
        await conn.get_lib_version()
    gc.collect()


def test_streams_leave_no_registration_and_no_leak():
    """10,000 open/close cycles of a stream (aclose, async with): no hub, no
    libvirt timer (the test driver holds one while a stream is open), no
    reference or memory growth; libvirt's callback is gone (registering the
    same C callback again succeeds)."""
    async def cycle(conn, how):
        if how == 0:
            stream = conn.domain_events()
            await stream.start()
            await stream.aclose()
        else:
            async with conn.domain_events():
                pass

    async def main():
        timers = live_event_timers()
        async with await aio.open("test:///default") as conn:
            dom = await conn.get_domain_by_name("test")
            async with conn.domain_events():
                assert live_event_timers() == timers + 1
            for i in range(300):
                await cycle(conn, i % 2)
            await settle(conn)
            refs = sys.getrefcount(conn.sync)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            for i in range(10_000):
                await cycle(conn, i % 2)
            await settle(conn)
            rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            assert events_module.open_hubs() == 0
            refs_after = sys.getrefcount(conn.sync)
            assert refs_after == refs
            assert rss_growth_kib < 4096, rss_growth_kib
            # libvirt's side: the callback was deregistered each time.
            seen = []
            callback_id = domain_event_register(conn.sync, lambda *a: seen.append(a))
            virtsnap._snapshot.domain_event_deregister(conn.sync, callback_id)
            assert await dom.state() == virtsnap.DomainState.RUNNING
        assert live_event_timers() == timers
    asyncio.run(main())


def test_leaving_a_for_loop_by_break_detaches_and_deregisters():
    async def main():
        async with await aio.open("test:///default") as conn:
            dom = await conn.get_domain_by_name("test")
            up = await dom.create_snapshot(name="up")
            async def first_event():
                async for event in conn.domain_events():
                    return event
            reader = asyncio.create_task(first_event())
            await asyncio.sleep(0.1)
            destroy(dom)
            assert (await asyncio.wait_for(reader, 10)).detail_name == "DESTROYED"
            gc.collect()
            for _ in range(100):             # the deregistration runs on the pool
                if events_module.open_hubs() == 0:
                    break
                await asyncio.sleep(0.02)
            assert events_module.open_hubs() == 0
            await up.revert_to()
            await up.delete()
    asyncio.run(main())


def test_cancelling_a_reader_detaches_it():
    async def main():
        async with await aio.open("test:///default") as conn:
            stream = conn.domain_events()
            async def read():
                async with stream:
                    async for _ in stream:
                        pass
            task = asyncio.create_task(read())
            await asyncio.sleep(0.1)
            assert events_module.open_hubs() == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert events_module.open_hubs() == 0 and stream.pending == 0
    asyncio.run(main())


def test_events_follow_the_loop_across_asyncio_runs():
    """Each asyncio.run makes a new loop; libvirt's watches and timers move to it."""
    for _ in range(3):
        test_exact_event_sequence_of_scripted_reverts("test:///default")


SYNC_SCRIPT = """
    import queue, threading, virtsnap
    virtsnap.start_event_loop()
    conn = virtsnap.open({uri!r})
    dom = conn.get_domain_by_name("test")
    seen, done = [], threading.Event()
    def on_event(event):
        seen.append((event.event.name, event.detail_name))
        if len(seen) == 4:
            done.set()
    with conn.domain_events() as stream, conn.domain_events(callback=on_event):
        up = dom.create_snapshot(name="up")
        dom.to_libvirt().destroy()
        down = dom.create_snapshot(name="down")
        up.revert_to(); down.revert_to(); up.revert_to()
        got = [stream.get(timeout=10) for _ in range(4)]
        assert done.wait(10)
        try:
            extra = stream.get(timeout=0.3)
        except queue.Empty:
            extra = None
    print([(e.event.name, e.detail_name) for e in got], seen, extra)
    from virtsnap.events import open_hubs
    assert open_hubs() == 0
"""


def test_sync_domain_events_on_start_event_loop(uri):
    """Connection.domain_events(): a blocking iterator and a callback, same sequence."""
    out = run_python(SYNC_SCRIPT.format(uri=uri))
    assert out.strip() == f"{SCRIPT_EVENTS} {SCRIPT_EVENTS} None"


def test_sync_domain_events_need_an_event_loop():
    with virtsnap.open("test:///default") as conn:
        out = run_python("""
            import virtsnap
            conn = virtsnap.open("test:///default")
            try:
                conn.domain_events()
            except RuntimeError as exc:
                print(exc)
        """)
    assert "call virtsnap.start_event_loop() first" in out


CONFLICTS = {
    "start_event_loop, then aio": (
        "virtsnap.start_event_loop()\nasyncio.run(virtsnap.aio.open('test:///default'))",
        "virtsnap.start_event_loop() already registered"),
    "aio, then start_event_loop": (
        "asyncio.run(virtsnap.aio.open('test:///default'))\nvirtsnap.start_event_loop()",
        "virtsnap.aio (on an asyncio loop) already registered"),
    "libvirtaio, then aio": (
        "import libvirtaio\n"
        "async def main():\n"
        "    libvirtaio.virEventRegisterAsyncIOImpl()\n"
        "    await virtsnap.aio.open('test:///default')\n"
        "asyncio.run(main())",
        "libvirt-python's libvirtaio"),
    "libvirt-python's default loop, then start_event_loop": (
        "import libvirt\nlibvirt.virEventRegisterDefaultImpl()\nvirtsnap.start_event_loop()",
        "libvirt-python's libvirtaio or virEventRegisterDefaultImpl"),
}


@pytest.mark.parametrize("case", list(CONFLICTS))
def test_a_second_event_implementation_is_a_clear_error(case):
    code, message = CONFLICTS[case]
    out = run_python(
        "import asyncio, virtsnap, virtsnap.aio\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) +
        "except virtsnap.errors.EventLoopConflictError as exc:\n"
        "    print('refused:', exc)\n", timeout=30)
    assert out.startswith("refused:") and message in out, out


@pytest.mark.parametrize("bad", [0, "test", b"x", object()])
def test_bad_domain_or_callback_arguments_are_type_errors(bad):
    async def main():
        async with await aio.open("test:///default") as conn:
            with pytest.raises(TypeError):
                conn.domain_events(bad)
            with pytest.raises(TypeError):
                conn.sync.domain_events(bad)
            if not callable(bad):
                with pytest.raises(TypeError):
                    conn.sync.domain_events(callback=bad)
            assert events_module.open_hubs() == 0
    asyncio.run(main())
