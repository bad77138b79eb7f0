"""Interop with libvirt-python: the same C objects, shared in both directions."""

import gc

import pytest

import virtsnap

from support.helpers import TEST_URI

libvirt = pytest.importorskip("libvirt")


@pytest.fixture
def lv_conn():
    connection = libvirt.open(TEST_URI)
    yield connection
    for snap in connection.lookupByName("test").listAllSnapshots():
        snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    connection.close()


def test_connection_from_libvirt_shares_driver_state(lv_conn):
    conn = virtsnap.Connection.from_libvirt(lv_conn)
    assert conn.uri == lv_conn.getURI()
    lv_conn.lookupByName("test").snapshotCreateXML("<domainsnapshot><name>lv</name></domainsnapshot>")
    assert conn.get_domain_by_name("test").list_snapshot_names() == ["lv"]


def test_domain_and_snapshot_from_libvirt(lv_conn):
    lv_dom = lv_conn.lookupByName("test")
    lv_snap = lv_dom.snapshotCreateXML("<domainsnapshot><name>a</name></domainsnapshot>")
    dom = virtsnap.Domain.from_libvirt(lv_dom)
    snap = virtsnap.DomainSnapshot.from_libvirt(lv_snap)
    assert dom.uuid == lv_dom.UUIDString() and dom.name == "test"
    assert snap.name == "a" and snap.get_domain() == dom
    assert snap.get_xml_description() == lv_snap.getXMLDesc()
    del lv_snap, lv_dom
    gc.collect()
    assert snap.get_xml_description().startswith("<domainsnapshot>")  # own reference


def test_to_libvirt_round_trip(dom):
    snap = dom.create_snapshot(name="vs")
    lv_snap = snap.to_libvirt()
    assert isinstance(lv_snap, libvirt.virDomainSnapshot)
    assert lv_snap.getName() == "vs"
    assert lv_snap.getXMLDesc() == snap.get_xml_description()
    assert lv_snap.getDomain().UUIDString() == dom.uuid
    lv_dom = dom.to_libvirt()
    assert lv_dom.snapshotListNames() == ["vs"]
    lv_conn = dom.get_connect().to_libvirt()
    assert lv_conn.getURI() == TEST_URI
    del lv_snap, lv_dom, lv_conn
    gc.collect()
    assert snap.name == "vs" and dom.list_snapshot_names() == ["vs"]


def test_from_libvirt_rejects_other_objects(lv_conn):
    with pytest.raises(TypeError, match="libvirt-python virDomain"):
        virtsnap.Domain.from_libvirt(lv_conn)
    with pytest.raises(TypeError, match="libvirt-python virConnect"):
        virtsnap.Connection.from_libvirt("test:///default")
    with pytest.raises(TypeError):
        virtsnap.DomainSnapshot.from_libvirt(None)
