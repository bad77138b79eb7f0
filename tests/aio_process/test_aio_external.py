"""virtsnap.aio's external_revert, external_delete and external_check on a shut-off QEMU
guest: the same outcomes as virtsnap.external, and the loop keeps ticking meanwhile."""

import asyncio

import pytest

import virtsnap.aio as aio
from aio_helpers import Ticker
from support.external import build_chain, disk_file, view_layers
from support.helpers import QEMU_URI
from support.qemu_guest import guest_fixture
from virtsnap import external

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

guest = guest_fixture("aioext", running=False, scope="function")


def test_external_revert_delete_and_check(guest):
    async def main():
        async with await aio.open(QEMU_URI) as conn:
            dom = await conn.get_domain_by_name(guest.name)
            build_chain(dom.sync, guest, 3)
            async with Ticker() as ticker:
                outcome = await aio.external_revert(await dom.get_snapshot_by_name("s1"))
            reverts_itself = (await conn.get_lib_version()) >= external.REVERTS_EXTERNAL_SINCE
            assert outcome.by == ("libvirt" if reverts_itself else "virtsnap")
            assert ticker.ticks >= 1
            assert view_layers(disk_file(dom.sync)) == [1]
            outcome = await aio.external_delete(await dom.get_snapshot_by_name("s2"))
            assert outcome.by == "virtsnap" and "drop_metadata s2" in outcome.steps
            report = await aio.external_check(dom)
            assert report.consistent, report.problems
            assert sorted(await dom.list_snapshot_names()) == ["s1", "s3"]

    asyncio.run(main())
