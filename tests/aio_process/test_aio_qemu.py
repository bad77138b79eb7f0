"""virtsnap.aio on a QEMU guest (qemu:///system): revert events, and the loop
ticking through a revert that restarts qemu."""

import asyncio

import pytest

import virtsnap
import virtsnap.aio as aio
from aio_helpers import Ticker, drain, pairs
from support.helpers import QEMU_URI
from support.qemu_guest import guest_fixture

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

running = guest_fixture("aio", running=True)
# Reverting a running guest to a running snapshot: 9.0 and 11.3 restart qemu, 7.0
# loads the snapshot in place (the change lies between the two).
REVERT_RESTARTS_QEMU = virtsnap.libvirt_version() >= (9, 0, 0)
# 11.3 reports qemu's shutdown (SHUTDOWN, HOST) before STOPPED; 9.0 does not (the
# change lies between the two).
SHUTDOWN_FIRST = [("SHUTDOWN", "HOST")] if virtsnap.libvirt_version() >= (9, 1, 0) else []


def test_revert_events_and_ticks_on_a_qemu_guest(running):
    async def main():
        async with await aio.open(QEMU_URI) as conn:
            dom = await conn.get_domain_by_name(running.name)
            snap = await dom.create_snapshot(name="live")
            async with conn.domain_events(dom) as events:
                async with Ticker() as ticker:
                    await snap.revert_to()
                got = await drain(events)
                print(f"revert: {pairs(got)}; {ticker.ticks} ticks")
                if REVERT_RESTARTS_QEMU:
                    # stopped, started (paused), resumed, and the definition restored,
                    # all from the snapshot; the loop ticks while qemu restarts.
                    assert ticker.ticks >= 5
                    assert pairs(got) == SHUTDOWN_FIRST + [("STOPPED", "FROM_SNAPSHOT"),
                                          ("STARTED", "FROM_SNAPSHOT"),
                                          ("RESUMED", "FROM_SNAPSHOT"),
                                          ("DEFINED", "FROM_SNAPSHOT")]
                else:
                    # 7.0 loads the snapshot into the running qemu (about 20 ms, 4 ticks
                    # seen); a loop blocked by the call would tick at most once.
                    assert ticker.ticks >= 2
                    assert pairs(got) == [("SUSPENDED", "FROM_SNAPSHOT"),
                                          ("RESUMED", "FROM_SNAPSHOT"),
                                          ("DEFINED", "FROM_SNAPSHOT")]
                assert all(e.domain == running.name and e.uuid == dom.uuid for e in got)
            await snap.delete()
    asyncio.run(main())
