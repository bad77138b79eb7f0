"""Event streams end with their connection, in both APIs, and churn leaks nothing.

A stream's reader gets the events received before the end, then
LibvirtConnectionError once (the connection was closed, or its daemon is
gone), then the end of the iteration. Every script runs in a process of its
own (support/event_scripts.py) and must print nothing on stderr, at exit too.
"""

import re

import pytest

from support.event_scripts import run_script, start_script

AIO_CLOSE = """
import asyncio, sys, virtsnap
from virtsnap import aio, events

async def read(stream, seen):
    try:
        async for event in stream:
            seen.append(event.event.name)
    except virtsnap.LibvirtConnectionError as exc:
        return f"error: {exc}"
    return "stopped"

async def main():
    conn = await aio.open(sys.argv[1] if len(sys.argv) > 1 else "test:///default")
    dom = await conn.get_domain_by_name("test")
    streams = [conn.domain_events(), conn.domain_events(dom)]
    for stream in streams:
        await stream.start()
    seen = [[], []]
    tasks = [asyncio.ensure_future(read(s, got)) for s, got in zip(streams, seen)]
    dom.sync.to_libvirt().suspend()
    dom.sync.to_libvirt().resume()
    for _ in range(1000):                   # the events reach both readers
        if all(len(got) == 2 for got in seen):
            break
        await asyncio.sleep(0.01)
    await conn.close()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    print(results, seen, events.open_hubs())

asyncio.run(main())
"""

SYNC_CLOSE = """
import threading, virtsnap
from virtsnap import events
virtsnap.start_event_loop()
conn = virtsnap.open("test:///default")
dom = conn.get_domain_by_name("test")
stream = conn.domain_events()
seen, results = [], []

def read():
    try:
        for event in stream:
            seen.append(event.event.name)
    except virtsnap.LibvirtConnectionError as exc:
        results.append(f"error: {exc}")
    else:
        results.append("stopped")
    results.append(list(stream))            # ended for good: nothing more, no error

reader = threading.Thread(target=read)
reader.start()
dom.to_libvirt().suspend()
dom.to_libvirt().resume()
import time
for _ in range(1000):
    if len(seen) == 2:
        break
    time.sleep(0.01)
conn.close()
reader.join(10)
print(results, seen, events.open_hubs(), reader.is_alive())
"""


def test_closing_an_aio_connection_ends_every_stream_on_it():
    status, out, err = run_script(AIO_CLOSE)
    assert (status, err) == (0, "")
    assert out == ("['error: the connection was closed', 'error: the connection was closed'] "
                   "[['SUSPENDED', 'RESUMED'], ['SUSPENDED', 'RESUMED']] 0\n")


def test_closing_a_sync_connection_ends_a_blocked_iterator():
    status, out, err = run_script(SYNC_CLOSE)
    assert (status, err) == (0, "")
    assert out == "['error: the connection was closed', []] ['SUSPENDED', 'RESUMED'] 0 False\n"


DAEMON_DIES_AIO = """
import asyncio, sys, virtsnap
from virtsnap import aio, events

async def main():
    conn = await aio.open(sys.argv[1])
    streams = [conn.domain_events(), conn.domain_events()]
    for stream in streams:
        await stream.start()
    async def read(stream):
        try:
            async for event in stream:
                pass
        except virtsnap.LibvirtConnectionError as exc:
            return f"error: {exc}"
        return "stopped"
    tasks = [asyncio.ensure_future(read(s)) for s in streams]
    print("ready", flush=True)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 60)
    print(results, events.open_hubs(), conn.is_alive())
    await conn.close()

asyncio.run(main())
"""

DAEMON_DIES_SYNC = """
import sys, threading, virtsnap
from virtsnap import events
virtsnap.start_event_loop()
conn = virtsnap.open(sys.argv[1])
stream = conn.domain_events()
results = []

def read():
    try:
        for event in stream:
            pass
    except virtsnap.LibvirtConnectionError as exc:
        results.append(f"error: {exc}")

reader = threading.Thread(target=read)
reader.start()
print("ready", flush=True)
reader.join(60)
print(results, events.open_hubs(), conn.is_alive())
conn.close()
"""


@pytest.mark.libvirtd
@pytest.mark.parametrize("script", [DAEMON_DIES_AIO, DAEMON_DIES_SYNC], ids=["aio", "sync"])
def test_a_daemon_that_dies_ends_the_streams_the_same_way(private_daemon, script):
    process = start_script(script.replace("sys.argv[1]", repr(private_daemon.uri())))
    try:
        assert process.stdout.readline() == "ready\n"
        private_daemon.kill()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert (process.returncode, err) == (0, "")
    # libvirt's reason is EOF or an error on the socket, as the kill happens to fall
    reason = "(end of file from the daemon|an error on the connection)"
    assert re.fullmatch(rf"\[('error: the connection ended: {reason}'(, )?)+\] 0 False\n",
                        out), out


CHURN = """
import asyncio, gc, os, random, virtsnap
from virtsnap import aio, events

async def consume(stream):
    async for event in stream:
        pass

async def churn(conn, seed, cycles):
    rng = random.Random(seed)
    for cycle in range(cycles):
        stream = conn.domain_events()
        task = asyncio.ensure_future(consume(stream))
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if rng.random() < 0.5:
            await stream.aclose()           # else dropped: __del__ detaches it
        del stream, task

async def main():
    conn = await aio.open(os.environ["CHURN_URI"])
    # four churners at once: 2,000 open/cancel cycles on one connection
    await asyncio.gather(*(churn(conn, seed, 500) for seed in range(4)))
    gc.collect()
    for _ in range(2000):                   # releases handed to the pool by __del__
        if events.open_hubs() == 0:
            break
        await asyncio.sleep(0.01)
    print(events.open_hubs())
    await conn.close()

asyncio.run(main())
"""


@pytest.mark.libvirtd
def test_two_thousand_open_cancel_cycles_leave_no_callback_in_libvirt(private_daemon, tmp_path):
    log = tmp_path / "libvirt.log"
    status, out, err = run_script(CHURN, CHURN_URI=private_daemon.uri(),
                                  LIBVIRT_LOG_FILTERS="1:libvirt",
                                  LIBVIRT_LOG_OUTPUTS=f"1:file:{log}")
    assert (status, out, err) == (0, "0\n", "")
    text = log.read_text()
    registered = len(re.findall(r"virConnectDomainEventRegisterAny:\d+ : ", text))
    deregistered = len(re.findall(r"virConnectDomainEventDeregisterAny:\d+ : ", text))
    assert registered > 2 and registered == deregistered
    assert "already tracked" not in text and " error : " not in text


LEFT_OPEN_AIO = """
import asyncio, virtsnap
from virtsnap import aio

async def main():
    conn = await aio.open("test:///default")
    started = conn.domain_events()
    await started.start()
    iterated = conn.domain_events()
    task = asyncio.ensure_future(iterated.__anext__())
    await asyncio.sleep(0.05)
    main.left = (conn, started, iterated, task, conn.domain_events())

asyncio.run(main())
print("done")
"""

LEFT_OPEN_SYNC = """
import virtsnap
virtsnap.start_event_loop()
conn = virtsnap.open("test:///default")
streams = [conn.domain_events(), conn.domain_events(callback=print)]
print("done")
"""


@pytest.mark.parametrize("script", [LEFT_OPEN_AIO, LEFT_OPEN_SYNC], ids=["aio", "sync"])
def test_nothing_is_printed_at_exit_whatever_is_left_open(script):
    assert run_script(script) == (0, "done\n", "")


SYNC_STREAM_CLOSE = """
import threading, virtsnap
virtsnap.start_event_loop()
conn = virtsnap.open("test:///default")
stream = conn.domain_events()
results = []

def read():
    results.append(list(stream))            # blocks until the stream is closed

reader = threading.Thread(target=read)
reader.start()
while not reader.is_alive():
    pass
stream.close()
reader.join(10)
print(results, reader.is_alive(), conn.is_alive())
conn.close()
"""


def test_closing_a_sync_stream_from_another_thread_stops_its_reader():
    assert run_script(SYNC_STREAM_CLOSE) == (0, "[[]] False True\n", "")
