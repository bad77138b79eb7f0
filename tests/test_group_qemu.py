"""Group snapshots of two tiny QEMU guests on qemu:///system.

The daemon's lifecycle events show the two guests paused at once: both
SUSPENDED events arrive before either RESUMED. Afterwards each guest has the
group's snapshot (an internal qcow2 snapshot that qemu-img lists) and runs.
"""

import queue
import time

import pytest

import virtsnap
from support.helpers import QEMU_URI
from support.libvirtd_env import qemu_img_snapshots
from support.qemu_guest import guest_fixture
from virtsnap.group import group_create, group_delete, group_revert

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

first = guest_fixture("grp-a", running=True)
second = guest_fixture("grp-b", running=True)


def lifecycle(stream, names, wanted, timeout=120):
    """(domain, event) of ``names`` from ``stream`` until ``wanted`` of them arrived."""
    seen = []
    deadline = time.monotonic() + timeout
    while len(seen) < wanted:
        try:
            event = stream.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"only {seen} within {timeout}s") from None
        if event.domain in names:
            seen.append((event.domain, event.event.name))
    return seen


def test_two_guests_are_paused_at_once_and_run_after(first, second):
    virtsnap.start_event_loop()
    names = {first.name, second.name}
    with virtsnap.open(QEMU_URI) as conn:
        members = [conn.get_domain_by_name(first.name), conn.get_domain_by_name(second.name)]
        stream = conn.domain_events()
        try:
            result = group_create(members, "grp-point", description="two at once")
            events = lifecycle(stream, names, 4)
        finally:
            stream.close()
        kinds = [kind for _, kind in events]
        assert kinds[:2] == ["SUSPENDED", "SUSPENDED"], events
        assert kinds[2:] == ["RESUMED", "RESUMED"], events
        assert {domain for domain, _ in events[:2]} == names
        # resumed in the reverse order
        assert [domain for domain, _ in events[2:]] == [second.name, first.name]
        assert [m.stopped for m in result.members] == ["paused", "paused"]
        print("paused for", [round(m.stopped_for, 3) for m in result.members], "s")
        for guest in (first, second):
            assert guest.domstate() == "running"
            assert "grp-point" in qemu_img_snapshots(guest.disk)

        first.virsh("suspend", first.name)
        group_revert(members, "grp-point")
        assert first.domstate() == "running" and second.domstate() == "running"
        group_delete(members, "grp-point")
        for guest in (first, second):
            assert "grp-point" not in qemu_img_snapshots(guest.disk)


def test_quiesce_without_a_guest_agent_fails_and_changes_nothing(first, second):
    """The tiny guests have no agent channel: the freeze of the first member fails,
    nothing is frozen or paused, no snapshot is left, both guests run."""
    from virtsnap.group import GroupError

    with virtsnap.open(QEMU_URI) as conn:
        members = [conn.get_domain_by_name(first.name), conn.get_domain_by_name(second.name)]
        with pytest.raises(GroupError) as error:
            group_create(members, "grp-quiesced", quiesce=True)
    assert error.value.member.endswith("/" + first.name) or \
        error.value.member.endswith("/" + second.name)
    assert "agent" in str(error.value.error)
    assert error.value.problems == []
    for guest in (first, second):
        assert guest.domstate() == "running"
        assert "grp-quiesced" not in qemu_img_snapshots(guest.disk)
        assert "grp-quiesced" not in guest.virsh("snapshot-list", guest.name, "--name")
