"""virtsnap.external: revert to and delete external snapshots, on every libvirt, losing no byte.

The same test bodies run on libvirt 7.0, 9.0 and 11.3: where libvirt does the job
virtsnap calls it, elsewhere virtsnap does it; the observable results (bytes read
with qemu-io, chains read with qemu-img, snapshot metadata, domain state) are
the same. Layer k of a chain writes pattern k (tests/support/external.py).
"""

import os

import pytest

import virtsnap

from support.external import (
    backing_chain,
    build_chain,
    disk_file,
    image_files,
    snapshot_image,
    take_external,
    view_layers,
    write_layer,
)
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import DomainState, external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("ext", running=False, scope="function")


@pytest.fixture
def dom(guest, qemu_conn):  # noqa: F811
    return qemu_conn.get_domain_by_name(guest.name)


def views(dom):
    """snapshot name -> the layers its image shows."""
    return {s.name: view_layers(snapshot_image(s)) for s in dom.list_all_snapshots()}


def assert_consistent(dom, guest):
    report = external.check(dom)
    assert report.problems == [], report.problems
    # every image file in the guest's directory is needed by a snapshot or the disk
    assert set(image_files(guest.dir)) == set(report.files)


# ---------------------------------------------------------------- revert, shut off

def test_revert_along_a_chain_of_three(dom, guest):
    build_chain(dom, guest, 3)  # s1=[1] s2=[1,2] s3=[1,2,3], disk [1,2,3,4]
    live = disk_file(dom)

    outcome = external.revert(dom.get_snapshot_by_name("s2"))
    assert dom.state() is DomainState.SHUTOFF
    source = disk_file(dom)
    assert source not in (live, guest.path("s2.qcow2"))
    assert backing_chain(source) == [source, guest.path("s1.qcow2"), guest.disk]
    assert view_layers(source) == [1, 2]
    assert not os.path.exists(live)  # the layer the guest ran on: nothing needs it
    assert dom.get_snapshot_by_name("s2").is_current()
    assert views(dom) == {"s1": [1], "s2": [1, 2], "s3": [1, 2, 3]}
    assert outcome.by == ("libvirt" if dom.get_connect().get_lib_version() >= (9, 9, 0)
                          else "virtsnap")
    assert_consistent(dom, guest)

    write_layer(source, 5)
    external.revert(dom.get_snapshot_by_name("s1"))
    assert view_layers(disk_file(dom)) == [1]
    assert not os.path.exists(source)  # layer 5 was never snapshotted
    external.revert(dom.get_snapshot_by_name("s3"))
    assert view_layers(disk_file(dom)) == [1, 2, 3]
    assert dom.get_snapshot_by_name("s3").is_current()
    assert views(dom) == {"s1": [1], "s2": [1, 2], "s3": [1, 2, 3]}
    assert_consistent(dom, guest)


def test_branch_revert_to_the_middle_snapshot_and_back(dom, guest):
    build_chain(dom, guest, 3)
    external.revert(dom.get_snapshot_by_name("s2"))
    write_layer(disk_file(dom), 5)
    take_external(dom, guest, "b4")  # a branch off s2: [1,2,5]
    write_layer(disk_file(dom), 6)
    assert sorted(dom.get_snapshot_by_name("s2").list_child_snapshot_names()) == ["b4", "s3"]

    external.revert(dom.get_snapshot_by_name("s3"))
    assert view_layers(disk_file(dom)) == [1, 2, 3]
    external.revert(dom.get_snapshot_by_name("b4"), running=False)
    assert view_layers(disk_file(dom)) == [1, 2, 5]
    assert views(dom) == {"s1": [1], "s2": [1, 2], "s3": [1, 2, 3], "b4": [1, 2, 5]}
    assert_consistent(dom, guest)


def test_revert_running_starts_the_guest_on_the_new_overlay(dom, guest):
    build_chain(dom, guest, 2)
    outcome = external.revert(dom.get_snapshot_by_name("s1"), running=True)
    assert dom.state() is DomainState.RUNNING
    assert guest.disk_source() == disk_file(dom)
    assert backing_chain(disk_file(dom))[1:] == [guest.disk]
    assert view_layers(disk_file(dom)) == [1]
    assert outcome.steps or outcome.by == "libvirt"
    # reverting a running guest to a disk-only snapshot stops it (transition 4)
    external.revert(dom.get_snapshot_by_name("s2"))
    assert dom.state() is DomainState.SHUTOFF
    assert view_layers(disk_file(dom)) == [1, 2]
    assert_consistent(dom, guest)


def test_revert_paused(dom, guest):
    build_chain(dom, guest, 1)
    external.revert(dom.get_snapshot_by_name("s1"), paused=True)
    assert dom.state() is DomainState.PAUSED
    with pytest.raises(ValueError):
        external.revert(dom.get_snapshot_by_name("s1"), running=True, paused=True)


# ---------------------------------------------------------------- delete, shut off

@pytest.mark.parametrize("position", ["s1", "s2", "s3"])
def test_delete_each_position_of_a_chain(dom, guest, position):
    build_chain(dom, guest, 3)
    expected = {"s1": [1], "s2": [1, 2], "s3": [1, 2, 3]}
    files_before = len(image_files(guest.dir))

    external.delete(dom.get_snapshot_by_name(position))
    del expected[position]
    assert sorted(dom.list_snapshot_names()) == sorted(expected)
    assert views(dom) == expected
    assert view_layers(disk_file(dom)) == [1, 2, 3, 4]
    assert len(image_files(guest.dir)) == files_before - 1  # one layer merged away
    assert len(backing_chain(disk_file(dom))) == 3
    assert_consistent(dom, guest)


def test_delete_the_whole_chain_one_by_one(dom, guest):
    build_chain(dom, guest, 3)
    for name in ("s2", "s3", "s1"):
        external.delete(dom.get_snapshot_by_name(name))
    assert dom.list_snapshot_names() == []
    assert backing_chain(disk_file(dom)) == [guest.disk]
    assert view_layers(guest.disk) == [1, 2, 3, 4]
    assert image_files(guest.dir) == [guest.disk]
    assert_consistent(dom, guest)


def test_delete_a_branch_point_keeps_both_branches(dom, guest):
    build_chain(dom, guest, 3)
    external.revert(dom.get_snapshot_by_name("s2"))
    write_layer(disk_file(dom), 5)
    take_external(dom, guest, "b4")
    write_layer(disk_file(dom), 6)

    external.delete(dom.get_snapshot_by_name("s2"))  # two children: libvirt refuses
    assert views(dom) == {"s1": [1], "s3": [1, 2, 3], "b4": [1, 2, 5]}
    assert view_layers(disk_file(dom)) == [1, 2, 5, 6]
    assert dom.get_snapshot_by_name("b4").get_parent().name == "s1"
    assert_consistent(dom, guest)


def test_delete_a_snapshot_outside_the_active_chain(dom, guest):
    build_chain(dom, guest, 3)
    external.revert(dom.get_snapshot_by_name("s1"))
    s3_image = snapshot_image(dom.get_snapshot_by_name("s3"))

    external.delete(dom.get_snapshot_by_name("s3"))
    assert views(dom) == {"s1": [1], "s2": [1, 2]}
    assert not os.path.exists(s3_image)  # only s3 needed it
    assert view_layers(disk_file(dom)) == [1]
    assert_consistent(dom, guest)


def test_delete_with_children(dom, guest):
    build_chain(dom, guest, 3)
    external.delete(dom.get_snapshot_by_name("s2"), children=True)
    assert dom.list_snapshot_names() == ["s1"]
    assert views(dom) == {"s1": [1]}
    assert view_layers(disk_file(dom)) == [1, 2, 3, 4]
    assert_consistent(dom, guest)


def test_a_snapshot_whose_files_are_gone_is_refused_for_revert_and_deleted(dom, guest):
    build_chain(dom, guest, 2)
    os.unlink(guest.path("s1.qcow2"))  # s2's image, and the disk's backing file
    s2 = dom.get_snapshot_by_name("s2")
    if dom.get_connect().get_lib_version() < external.REVERTS_EXTERNAL_SINCE:
        with pytest.raises(virtsnap.OperationInvalidError, match="s1.qcow2"):
            external.revert(s2)
    assert external.read_intent(dom) is None
    assert external.revert(dom.get_snapshot_by_name("s1")).by in ("libvirt", "virtsnap")
    assert view_layers(disk_file(dom)) == [1]
    external.delete(dom.get_snapshot_by_name("s2"))  # metadata whose files are gone
    assert dom.list_snapshot_names() == ["s1"]
    assert_consistent(dom, guest)
