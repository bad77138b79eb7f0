"""Helpers for the virtsnap.aio tests (run in their own process, tests/test_aio.py)."""

import asyncio
import subprocess
import sys
import textwrap

import virtsnap

EVENT_WAIT_S = 10          # an event that has not come by then is missing
QUIET_S = 0.3              # no further event within this after the last expected one


async def take(events, n, timeout=EVENT_WAIT_S):
    """The next ``n`` events of an AsyncDomainEventStream, then checks none follows."""
    got = [await asyncio.wait_for(events.__anext__(), timeout) for _ in range(n)]
    await asyncio.sleep(QUIET_S)
    assert events.pending == 0, f"unexpected extra events: {events.pending}"
    return got


def live_event_timers():
    """Timers libvirt holds on virtsnap.aio's event implementation: its timer
    objects still alive (each is freed once libvirt removes it)."""
    import gc

    return sum(type(o).__name__ == "_Timer" and type(o).__module__ == "virtsnap._snapshot"
               for o in gc.get_objects())


async def until(condition, what, timeout=EVENT_WAIT_S):
    """Let the loop run until ``condition()`` holds; fail naming ``what`` after ``timeout`` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def pairs(events):
    return [(e.event.name, e.detail_name) for e in events]


class Ticker:
    """A task that counts loop iterations spaced by ``period``."""

    def __init__(self, period=0.005):
        self.period = period
        self.ticks = 0
        self.task = None

    async def _run(self):
        while True:
            await asyncio.sleep(self.period)
            self.ticks += 1

    async def __aenter__(self):
        self.task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def run_python(code, timeout=120):
    """Run ``code`` in a fresh interpreter; its stdout (AssertionError if it fails)."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def destroy(dom):
    """Destroy a test-driver domain through libvirt-python (virtsnap has no lifecycle API)."""
    dom.sync.to_libvirt().destroy() if hasattr(dom, "sync") else dom.to_libvirt().destroy()


async def drain(events, quiet=1.0, timeout=EVENT_WAIT_S):
    """Every event until none came for ``quiet`` seconds (waiting ``timeout`` for the first)."""
    got = [await asyncio.wait_for(events.__anext__(), timeout)]
    while True:
        try:
            got.append(await asyncio.wait_for(events.__anext__(), quiet))
        except asyncio.TimeoutError:
            return got
