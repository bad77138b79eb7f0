"""virsh as an independent client of the same qemu:///system daemon.

A mixed snapshot tree (inactive, active and external disk-only snapshots)
made by virtsnap must be listed by ``virsh snapshot-list`` exactly as
virtsnap lists it, for every filter, and snapshots made by virsh must look
the same through virtsnap.

The mixed tree, on one guest for the whole module (built once, only read by
the tests)::

    i2                       (shut off; i1, their old parent, lost its metadata)
    i3                       (shut off)
     +- r1                   (running, memory)
         +- r2               (running, memory)
             +- e1           (external disk-only, overlay e1.qcow2)
                 +- r3       (running, memory, stored in the overlay)
"""

import os
import xml.etree.ElementTree as ET

import pytest

from support.helpers import parse_snapshot_tree
from support.libvirtd_env import qemu_img_snapshots
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from support.snapshots import external_xml
from virtsnap import CreateFlags, DeleteFlags, DomainState, ListFlags

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

mixed_guest = guest_fixture("mixed", running=False)
virsh_guest = guest_fixture("virsh", running=False)

MIXED_PARENTS = {"i2": None, "i3": None, "r1": "i3", "r2": "r1", "e1": "r2", "r3": "e1"}
ALL = set(MIXED_PARENTS)


@pytest.fixture(scope="module")
def mixed(mixed_guest, qemu_conn):
    """The mixed tree (see the module docstring), built by virtsnap."""
    guest = mixed_guest
    dom = qemu_conn.get_domain_by_name(guest.name)
    i1 = dom.create_snapshot(name="i1")
    dom.create_snapshot(name="i2")
    i1.revert_to()  # a shut-off snapshot: no qemu involved, fast
    dom.create_snapshot(name="i3")
    guest.start()
    dom.create_snapshot(name="r1")
    dom.create_snapshot(name="r2")
    dom.create_snapshot(external_xml("e1", guest.path("e1.qcow2")), CreateFlags.DISK_ONLY)
    dom.create_snapshot(name="r3")
    i1.delete(DeleteFlags.METADATA_ONLY)
    assert dom.state() is DomainState.RUNNING
    assert dom.snapshot_parents() == MIXED_PARENTS
    assert guest.disk_source() == guest.path("e1.qcow2")
    assert sorted(qemu_img_snapshots(guest.disk)) == ["i1", "i2", "i3", "r1", "r2"]
    assert qemu_img_snapshots(guest.path("e1.qcow2")) == ["r3"]
    return guest, dom


def virsh_list(guest, *options):
    return guest.virsh("snapshot-list", guest.name, "--name", *options).split()


FILTERS = [
    # (ListFlags, virsh snapshot-list options, expected names)
    (0, [], ALL),
    (ListFlags.ROOTS, ["--roots"], {"i2", "i3"}),
    (ListFlags.LEAVES, ["--leaves"], {"i2", "r3"}),
    (ListFlags.NO_LEAVES, ["--no-leaves"], {"i3", "r1", "r2", "e1"}),
    (ListFlags.METADATA, ["--metadata"], ALL),
    (ListFlags.NO_METADATA, ["--no-metadata"], set()),
    (ListFlags.INACTIVE, ["--inactive"], {"i2", "i3"}),
    (ListFlags.ACTIVE, ["--active"], {"r1", "r2", "r3"}),
    (ListFlags.DISK_ONLY, ["--disk-only"], {"e1"}),
    (ListFlags.INTERNAL, ["--internal"], ALL - {"e1"}),
    (ListFlags.EXTERNAL, ["--external"], {"e1"}),
    (ListFlags.TOPOLOGICAL, ["--topological"], ALL),
    # combinations: filters of different groups intersect, within a group they unite
    (ListFlags.INACTIVE | ListFlags.LEAVES, ["--inactive", "--leaves"], {"i2"}),
    (ListFlags.ROOTS | ListFlags.INACTIVE, ["--roots", "--inactive"], {"i2", "i3"}),
    (ListFlags.ACTIVE | ListFlags.DISK_ONLY, ["--active", "--disk-only"], {"r1", "r2", "r3", "e1"}),
    (ListFlags.INTERNAL | ListFlags.NO_LEAVES, ["--internal", "--no-leaves"], {"i3", "r1", "r2"}),
    (ListFlags.EXTERNAL | ListFlags.LEAVES, ["--external", "--leaves"], set()),
    (ListFlags.TOPOLOGICAL | ListFlags.ACTIVE, ["--topological", "--active"], {"r1", "r2", "r3"}),
]


@pytest.mark.parametrize("flags, options, expected", FILTERS,
                         ids=[" ".join(o) or "all" for _, o, _ in FILTERS])
def test_list_filters_match_virsh(mixed, flags, options, expected):
    guest, dom = mixed
    from_virsh = virsh_list(guest, *options)
    by_name = dom.list_snapshot_names(flags)
    by_object = [s.name for s in dom.list_all_snapshots(flags)]
    assert sorted(from_virsh) == sorted(by_name) == sorted(by_object) == sorted(expected)
    assert dom.num_of_snapshots(flags) == len(expected)
    if flags & ListFlags.TOPOLOGICAL:
        # virsh keeps libvirt's order only for --topological (otherwise it sorts by name)
        assert by_name == by_object == from_virsh
        for position, name in enumerate(by_name):
            parent = MIXED_PARENTS[name]
            assert parent not in by_name or by_name.index(parent) < position


DESCENDANT_CASES = [
    # (from, ListFlags, virsh options, expected)
    ("i3", 0, [], {"r1"}),
    ("i3", ListFlags.DESCENDANTS, ["--descendants"], {"r1", "r2", "e1", "r3"}),
    ("r1", ListFlags.DESCENDANTS, ["--descendants"], {"r2", "e1", "r3"}),
    ("r2", 0, [], {"e1"}),
    ("e1", ListFlags.DESCENDANTS, ["--descendants"], {"r3"}),
    ("r3", ListFlags.DESCENDANTS, ["--descendants"], set()),
    ("i2", ListFlags.DESCENDANTS, ["--descendants"], set()),
    ("i3", ListFlags.DESCENDANTS | ListFlags.LEAVES, ["--descendants", "--leaves"], {"r3"}),
    ("i3", ListFlags.DESCENDANTS | ListFlags.ACTIVE, ["--descendants", "--active"],
     {"r1", "r2", "r3"}),
    ("i3", ListFlags.DESCENDANTS | ListFlags.EXTERNAL, ["--descendants", "--external"], {"e1"}),
    ("i3", ListFlags.DESCENDANTS | ListFlags.TOPOLOGICAL, ["--descendants", "--topological"],
     {"r1", "r2", "e1", "r3"}),
]


@pytest.mark.parametrize("start, flags, options, expected", DESCENDANT_CASES,
                         ids=[f"{s} {' '.join(o)}".strip() for s, _, o, _ in DESCENDANT_CASES])
def test_children_listing_matches_virsh_from(mixed, start, flags, options, expected):
    guest, dom = mixed
    snap = dom.get_snapshot_by_name(start)
    from_virsh = virsh_list(guest, "--from", start, *options)
    by_name = snap.list_child_snapshot_names(flags)
    by_object = [s.name for s in snap.list_all_children(flags)]
    assert sorted(from_virsh) == sorted(by_name) == sorted(by_object) == sorted(expected)
    assert snap.num_of_child_snapshots(flags) == len(expected)
    if flags & ListFlags.TOPOLOGICAL:
        assert by_name == by_object == from_virsh


def test_virsh_tree_and_xml_match_virtsnap(mixed):
    guest, dom = mixed
    tree = parse_snapshot_tree(guest.virsh("snapshot-list", guest.name, "--tree"))
    assert tree == MIXED_PARENTS
    assert dom.snapshot_parents() == tree
    assert dom.snapshot_parents(workers=3) == tree
    xmls = dom.snapshot_xml_descriptions()
    assert set(xmls) == ALL
    for snap in dom.list_all_snapshots():
        parent = snap.get_parent()
        assert tree[snap.name] == (parent.name if parent else None)
        dumped = guest.virsh("snapshot-dumpxml", guest.name, snap.name)
        assert dumped == snap.get_xml_description() == xmls[snap.name]
    assert guest.virsh("snapshot-current", guest.name, "--name").strip() == "r3"
    assert dom.current_snapshot().name == "r3"


def test_snapshots_made_by_virsh_look_the_same_in_virtsnap(virsh_guest, qemu_conn):
    guest = virsh_guest
    dom = qemu_conn.get_domain_by_name(guest.name)  # opened before virsh makes anything
    assert dom.num_of_snapshots() == 0
    overlay = guest.path("v4.qcow2")
    guest.virsh("snapshot-create-as", guest.name, "v1", "first")
    guest.virsh("snapshot-create-as", guest.name, "v2")
    guest.virsh("snapshot-revert", guest.name, "v1")
    guest.virsh("snapshot-create-as", guest.name, "v3", "--description", "third <&>")
    guest.virsh("snapshot-create-as", guest.name, "v4", "--disk-only",
                "--diskspec", f"vda,snapshot=external,file={overlay}")
    assert os.path.isfile(overlay)

    expected = {"v1": None, "v2": "v1", "v3": "v1", "v4": "v3"}
    tree = parse_snapshot_tree(guest.virsh("snapshot-list", guest.name, "--tree"))
    assert tree == expected
    assert dom.snapshot_parents() == expected
    for snap in dom.list_all_snapshots():
        parent = snap.get_parent()
        assert (parent.name if parent else None) == expected[snap.name]
        assert snap.get_xml_description() == guest.virsh("snapshot-dumpxml", guest.name, snap.name)
    v1 = dom.get_snapshot_by_name("v1")
    assert sorted(v1.list_child_snapshot_names()) == ["v2", "v3"]
    assert sorted(v1.list_child_snapshot_names(ListFlags.DESCENDANTS)) == ["v2", "v3", "v4"]
    assert ET.fromstring(v1.get_xml_description()).findtext("description") == "first"
    v3 = dom.get_snapshot_by_name("v3")
    assert ET.fromstring(v3.get_xml_description()).findtext("description") == "third <&>"
    assert dom.current_snapshot().name == "v4"
    assert guest.virsh("snapshot-current", guest.name, "--name").strip() == "v4"
    # A disk-only snapshot of a shut-off guest records the state "shutoff", so it
    # is listed as inactive, not as disk-only.
    v4 = ET.fromstring(dom.get_snapshot_by_name("v4").get_xml_description())
    assert v4.findtext("state") == "shutoff"
    assert v4.find("disks/disk[@name='vda']").get("snapshot") == "external"
    for flags, options, names in ((ListFlags.EXTERNAL, ["--external"], ["v4"]),
                                  (ListFlags.INTERNAL, ["--internal"], ["v1", "v2", "v3"]),
                                  (ListFlags.INACTIVE, ["--inactive"], ["v1", "v2", "v3", "v4"]),
                                  (ListFlags.DISK_ONLY, ["--disk-only"], [])):
        assert sorted(dom.list_snapshot_names(flags)) == virsh_list(guest, *options) == names
    assert sorted(qemu_img_snapshots(guest.disk)) == ["v1", "v2", "v3"]

    # And the other way: a deletion by virtsnap is what virsh sees next.
    dom.get_snapshot_by_name("v2").delete()
    assert virsh_list(guest) == ["v1", "v3", "v4"]
    assert sorted(qemu_img_snapshots(guest.disk)) == ["v1", "v3"]
