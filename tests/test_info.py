"""SnapshotInfo: snapshot XML from libvirt's test driver, parsed into frozen records."""

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta, timezone

import pytest

import virtsnap
from virtsnap.info import SnapshotDisk, SnapshotInfo, SnapshotMemory, parse_snapshot_xml

EXTERNAL_XML = """<domainsnapshot>
  <name>ext</name>
  <memory snapshot='external' file='/var/lib/snap/ext.mem'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/var/lib/snap/vda.ext.qcow2'/>
    </disk>
  </disks>
</domainsnapshot>"""


def test_info_of_a_new_snapshot(dom):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    snap = dom.create_snapshot(name="first", description="before the upgrade")
    info = snap.info()
    assert isinstance(info, SnapshotInfo)
    assert info.name == "first"
    assert info.domain == "test"
    assert info.description == "before the upgrade"
    assert info.state == "running"
    assert info.parent is None
    assert info.is_current is True
    assert info.creation_time.tzinfo is timezone.utc
    assert before - timedelta(seconds=1) <= info.creation_time <= datetime.now(timezone.utc)
    assert info.memory == SnapshotMemory("internal", None)
    assert info.disks == (SnapshotDisk("vda", "internal", None, None),)
    assert info.location == "internal"


def test_parent_and_current_follow_the_tree(dom):
    dom.create_snapshot(name="a")
    dom.create_snapshot(name="b")
    b = dom.get_snapshot_by_name("b").info()
    a = dom.get_snapshot_by_name("a").info()
    assert (a.parent, a.is_current) == (None, False)
    assert (b.parent, b.is_current) == ("a", True)


def test_records_are_frozen_and_slotted(dom):
    info = dom.create_snapshot(name="frozen").info()
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.memory.mode = "no"
    if sys.version_info >= (3, 10):
        for record in (info, info.memory, info.disks[0]):
            assert not hasattr(record, "__dict__")
    assert hash(info) == hash(dom.get_snapshot_by_name("frozen").info())


def test_snapshot_infos_is_one_bulk_listing(dom):
    for name in ("a", "b", "c"):
        dom.create_snapshot(name=name, description=f"snapshot {name}")
    infos = dom.snapshot_infos()
    assert sorted(info.name for info in infos) == ["a", "b", "c"]
    by_name = {info.name: info for info in infos}
    assert [by_name[n].parent for n in ("a", "b", "c")] == [None, "a", "b"]
    assert [n for n, info in by_name.items() if info.is_current] == ["c"]
    assert all(info.description == f"snapshot {info.name}" for info in infos)
    assert [info.name for info in dom.snapshot_infos(virtsnap.ListFlags.ROOTS)] == ["a"]
    assert [info.name for info in dom.snapshot_infos(virtsnap.ListFlags.LEAVES)] == ["c"]


def test_snapshot_infos_without_current_snapshot(dom):
    xml = dom.create_snapshot(name="gone").get_xml_description()
    dom.get_snapshot_by_name("gone").delete()
    dom.create_snapshot(xml, virtsnap.CreateFlags.REDEFINE)  # redefined, not made current
    assert not dom.has_current_snapshot()
    [info] = dom.snapshot_infos()
    assert (info.name, info.is_current) == ("gone", False)


def test_snapshot_infos_of_a_domain_without_snapshots(dom):
    assert dom.snapshot_infos() == []


def test_external_memory_and_disk(dom):
    info = dom.create_snapshot(EXTERNAL_XML).info()
    assert info.memory == SnapshotMemory("external", "/var/lib/snap/ext.mem")
    assert info.disks == (SnapshotDisk("vda", "external", "qcow2", "/var/lib/snap/vda.ext.qcow2"),)
    assert info.location == "external"


def test_snapshot_of_a_shut_off_guest(dom):
    dom.create_snapshot(None, virtsnap.CreateFlags.HALT, name="halted")
    try:
        assert dom.state() == virtsnap.DomainState.SHUTOFF
        info = dom.create_snapshot(name="offline").info()
        assert info.state == "shutoff"
        assert info.memory.mode == "no"
        assert info.parent == "halted"
    finally:
        dom.get_snapshot_by_name("halted").revert_to()  # the guest runs again
    assert dom.state() == virtsnap.DomainState.RUNNING


@pytest.mark.parametrize("text", ["</name>&\"'<x>]]>", "tab\tnewline\nend", "üñí©ødé ✓"])
def test_description_round_trips(dom, text):
    info = dom.create_snapshot(name=text, description=text).info()
    assert (info.name, info.description) == (text, text)


def test_unknown_elements_are_ignored(dom):
    xml = dom.create_snapshot(name="known", description="d").get_xml_description()
    root = ElementTree.fromstring(xml)
    future = ElementTree.SubElement(root, "futureFeature", {"mode": "x"})
    ElementTree.SubElement(future, "nested").text = "ignored"
    ElementTree.SubElement(root.find("disks/disk"), "futureDiskElement")
    extended = ElementTree.tostring(root, encoding="unicode")
    assert parse_snapshot_xml(extended, "test") == parse_snapshot_xml(xml, "test")


def test_minimal_and_legacy_xml():
    info = parse_snapshot_xml("<domainsnapshot><name>old</name><state>shutoff</state>"
                              "<creationTime>0</creationTime></domainsnapshot>", "dom")
    assert info.creation_time == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert info.memory == SnapshotMemory("no")
    assert info.disks == ()
    assert info.description is None


@pytest.mark.parametrize("xml", ["<domain><name>x</name></domain>", "<domainsnapshot/>",
                                 "not xml at all", "<domainsnapshot><name>x</name>"])
def test_not_a_snapshot(xml):
    with pytest.raises(ValueError):
        parse_snapshot_xml(xml, "dom")


def test_to_dict_is_the_json_form(dom):
    dom.create_snapshot(name="parent")
    info = dom.create_snapshot(EXTERNAL_XML).info()
    data = json.loads(json.dumps(info.to_dict()))
    assert data == {
        "name": "ext",
        "domain": "test",
        "description": None,
        "state": "running",
        "creation_time": info.creation_time.isoformat(),
        "parent": "parent",
        "is_current": True,
        "location": "external",
        "memory": {"mode": "external", "file": "/var/lib/snap/ext.mem"},
        "disks": [{"name": "vda", "mode": "external", "driver_type": "qcow2",
                   "source": "/var/lib/snap/vda.ext.qcow2"}],
    }
    assert datetime.fromisoformat(data["creation_time"]) == info.creation_time


def test_import_virtsnap_leaves_these_modules_unloaded():
    """They load on first use (test_packaging checks xml and rich stay out too)."""
    code = ("import sys, virtsnap\n"
            "print(sorted(m for m in sys.modules if m.startswith('virtsnap.')"
            " and m not in ('virtsnap._snapshot', 'virtsnap.errors')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
