"""virtsnap.aio on a QEMU guest (qemu:///system): revert events, and the loop
ticking through a revert that restarts qemu."""

import asyncio

import pytest

import virtsnap.aio as aio
from aio_helpers import Ticker, drain, pairs
from helpers import QEMU_URI
from qemu_guest import guest_fixture

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

running = guest_fixture("aio", running=True)


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
                assert ticker.ticks >= 5
                # libvirt 9.0 restarts qemu: stopped, started (paused), resumed, and
                # the definition restored, all from the snapshot.
                assert pairs(got) == [("STOPPED", "FROM_SNAPSHOT"), ("STARTED", "FROM_SNAPSHOT"),
                                      ("RESUMED", "FROM_SNAPSHOT"), ("DEFINED", "FROM_SNAPSHOT")]
                assert all(e.domain == running.name and e.uuid == dom.uuid for e in got)
            await snap.delete()
    asyncio.run(main())
