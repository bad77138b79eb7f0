"""The core binding against libvirt's test driver: every test runs in-process
(test:///default) and through a private daemon (the ``uri`` fixture of conftest)."""

import gc
import uuid as uuid_module

import pytest

import virtsnap
from virtsnap import CreateFlags, DeleteFlags, DomainSnapshot, DomainState, ListFlags, RevertFlags

from support.helpers import virsh
from support.snapshots import make_branching_tree
from support.versions import TEST_DRIVER_RESUMES_ON_REVERT


@pytest.fixture(autouse=True)
def every_test_runs_in_process_and_through_a_daemon(uri):
    """Parametrizes each test of this module by conftest's ``uri``."""


@pytest.fixture
def conn(uri):
    """A fresh connection to the test driver at ``uri`` (overrides conftest's)."""
    with virtsnap.open(uri) as connection:
        yield connection


# ---------------------------------------------------------------- Connection

def test_open_default_uri_and_close_twice(uri):
    conn = virtsnap.open(uri)
    assert conn.uri == uri
    assert conn.is_alive()
    assert not conn.closed and not conn.readonly
    conn.close()
    conn.close()
    assert conn.closed
    assert not conn.is_alive()
    assert "closed" in repr(conn)


def test_open_uses_libvirt_default_uri(monkeypatch, uri):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", uri)
    with virtsnap.open() as conn:
        assert conn.uri == uri


def test_context_manager_closes(uri):
    with virtsnap.open(uri) as conn:
        assert isinstance(conn, virtsnap.Connection)
        assert repr(conn) == f"<virtsnap.Connection {uri!r}>"
    assert conn.closed


def version_of(report, label):
    """(major, minor, micro) from a line of ``virsh version`` such as
    "Using library: libvirt 9.0.0"."""
    line = next(line for line in report.splitlines() if line.startswith(label))
    return tuple(int(part) for part in line.split()[-1].split("."))


def test_versions_agree_with_virsh(conn, uri):
    report = virsh("version", uri=uri)
    # The daemon, when there is one, runs the same libvirt as this process.
    assert virtsnap.libvirt_version() == version_of(report, "Using library:")
    assert conn.get_lib_version() == virtsnap.libvirt_version()
    assert virtsnap.libvirt_build_version() <= virtsnap.libvirt_version()


def test_domain_lookups_agree(conn):
    by_name = conn.get_domain_by_name("test")
    by_uuid = conn.get_domain_by_uuid(by_name.uuid)
    by_id = conn.get_domain_by_id(by_name.id)
    assert by_name == by_uuid == by_id
    assert len({by_name, by_uuid, by_id}) == 1
    assert by_uuid.name == "test"
    uuid_module.UUID(by_name.uuid)
    assert by_name.get_connect() is conn


def test_list_all_domains(conn):
    domains = conn.list_all_domains()
    assert [d.name for d in domains] == ["test"]
    assert conn.list_all_domains(virtsnap.DomainListFlags.INACTIVE) == []
    assert [d.name for d in conn.list_all_domains(virtsnap.DomainListFlags.RUNNING)] == ["test"]


def test_list_all_domains_has_snapshot_filter(dom, conn):
    assert conn.list_all_domains(virtsnap.DomainListFlags.HAS_SNAPSHOT) == []
    dom.create_snapshot(name="s")
    assert conn.list_all_domains(virtsnap.DomainListFlags.HAS_SNAPSHOT) == [dom]


def test_objects_cannot_be_constructed():
    for cls in (virtsnap.Connection, virtsnap.Domain, virtsnap.DomainSnapshot):
        with pytest.raises(TypeError, match="cannot be created directly"):
            cls()


# ---------------------------------------------------------------- Domain

def test_domain_state_is_enum(dom):
    state = dom.state()
    assert state is DomainState.RUNNING
    assert repr(dom) == "<virtsnap.Domain 'test'>"


def test_create_snapshot_by_name_and_description(dom):
    snap = dom.create_snapshot(name="first", description="before upgrade")
    assert snap.name == snap.get_name() == "first"
    xml = snap.get_xml_description()
    assert "<name>first</name>" in xml
    assert "<description>before upgrade</description>" in xml
    assert snap.get_domain() is dom
    assert snap.get_connect() is dom.get_connect()
    assert repr(snap) == "<virtsnap.DomainSnapshot 'first' of domain 'test'>"


def test_create_snapshot_escapes_text(dom):
    name = "a</name><x>&'\"]]>"
    description = "<description>&amp;</description>"
    snap = dom.create_snapshot(name=name, description=description)
    assert snap.name == name
    assert dom.list_snapshot_names() == [name]
    assert dom.get_snapshot_by_name(name) == snap
    xml = snap.get_xml_description()
    assert "&lt;description&gt;&amp;amp;&lt;/description&gt;" in xml


def test_create_snapshot_libvirt_picks_name(dom):
    snap = dom.create_snapshot()
    assert snap.name.isdigit()  # libvirt names it after the creation time


def test_create_snapshot_from_xml(dom):
    snap = dom.create_snapshot("<domainsnapshot><name>x</name></domainsnapshot>")
    assert snap.name == "x"


def test_create_snapshot_xml_and_name_conflict(dom):
    with pytest.raises(ValueError, match="either xml or name"):
        dom.create_snapshot("<domainsnapshot/>", name="x")
    assert dom.num_of_snapshots() == 0


def test_listing_matches_libvirt_counts(dom):
    make_branching_tree(dom)
    assert dom.num_of_snapshots() == 4
    assert sorted(dom.list_snapshot_names()) == ["leaf", "left", "right", "root"]
    assert sorted(s.name for s in dom.list_all_snapshots()) == ["leaf", "left", "right", "root"]
    assert dom.list_snapshot_names(ListFlags.ROOTS) == ["root"]
    assert sorted(dom.list_snapshot_names(ListFlags.LEAVES)) == ["leaf", "right"]
    assert sorted(dom.list_snapshot_names(ListFlags.NO_LEAVES)) == ["left", "root"]
    assert dom.num_of_snapshots(ListFlags.LEAVES) == 2
    assert sorted(dom.list_snapshot_names(ListFlags.METADATA)) == ["leaf", "left", "right", "root"]
    assert dom.list_snapshot_names(ListFlags.NO_METADATA) == []
    assert sorted(dom.list_snapshot_names(ListFlags.ACTIVE)) == ["leaf", "left", "right", "root"]
    assert dom.list_snapshot_names(ListFlags.INACTIVE) == []


def test_topological_listing_puts_parents_first(dom):
    make_branching_tree(dom)
    for names in (dom.list_snapshot_names(ListFlags.TOPOLOGICAL),
                  [s.name for s in dom.list_all_snapshots(ListFlags.TOPOLOGICAL)]):
        assert names.index("root") < names.index("left") < names.index("leaf")
        assert names.index("root") < names.index("right")


def test_lookup_current_and_parent(dom):
    snaps = make_branching_tree(dom)
    assert dom.has_current_snapshot()
    current = dom.current_snapshot()
    assert current == snaps["right"] and current.is_current()
    assert not snaps["root"].is_current()
    assert snaps["leaf"].get_parent() == snaps["left"]
    assert snaps["leaf"].get_parent().get_parent() == snaps["root"]
    assert snaps["root"].get_parent() is None
    assert dom.get_snapshot_by_name("leaf") == snaps["leaf"]
    assert all(s.has_metadata() for s in snaps.values())


def test_no_current_snapshot(dom):
    assert not dom.has_current_snapshot()
    with pytest.raises(virtsnap.SnapshotNotFoundError):
        dom.current_snapshot()


def test_children(dom):
    snaps = make_branching_tree(dom)
    root = snaps["root"]
    assert root.num_of_child_snapshots() == 2
    assert sorted(root.list_child_snapshot_names()) == ["left", "right"]
    assert sorted(s.name for s in root.list_all_children()) == ["left", "right"]
    assert root.list_child_snapshots() == root.list_all_children()
    assert root.num_of_child_snapshots(ListFlags.DESCENDANTS) == 3
    assert sorted(root.list_child_snapshot_names(ListFlags.DESCENDANTS)) == ["leaf", "left", "right"]
    assert sorted(s.name for s in root.list_all_children(ListFlags.DESCENDANTS)) == [
        "leaf", "left", "right"]
    assert snaps["leaf"].list_child_snapshot_names() == []
    assert snaps["leaf"].list_all_children() == []


def test_revert_changes_current_and_state(dom):
    snaps = make_branching_tree(dom)
    snaps["leaf"].revert_to(RevertFlags.PAUSED)
    assert dom.current_snapshot() == snaps["leaf"]
    assert dom.state() is DomainState.PAUSED
    snaps["root"].revert_to(RevertFlags.RUNNING)
    # libvirt 7.0's test driver leaves it paused (test_versions.py).
    assert dom.state() is (DomainState.RUNNING if TEST_DRIVER_RESUMES_ON_REVERT
                           else DomainState.PAUSED)
    assert snaps["root"].is_current()


def test_delete_variants(dom):
    snaps = make_branching_tree(dom)
    snaps["left"].delete(DeleteFlags.CHILDREN_ONLY)
    assert sorted(dom.list_snapshot_names()) == ["left", "right", "root"]
    snaps["root"].delete()
    assert sorted(dom.list_snapshot_names(ListFlags.ROOTS)) == ["left", "right"]
    snaps["left"].delete()
    assert dom.list_snapshot_names() == ["right"]
    snaps["right"].delete(DeleteFlags.CHILDREN)
    assert dom.num_of_snapshots() == 0


def test_redefine_restores_deleted_metadata(dom):
    snaps = make_branching_tree(dom)
    saved = {name: snap.get_xml_description() for name, snap in snaps.items()}
    current = dom.current_snapshot().name
    snaps["root"].delete(DeleteFlags.CHILDREN)
    assert dom.num_of_snapshots() == 0
    for name in ("root", "left", "leaf", "right"):
        flags = CreateFlags.REDEFINE | (CreateFlags.CURRENT if name == current else 0)
        dom.create_snapshot(saved[name], flags)
    assert {name: dom.get_snapshot_by_name(name).get_xml_description()
            for name in saved} == saved
    assert dom.current_snapshot().name == current


def test_create_halt_stops_the_domain(dom):
    dom.create_snapshot(name="halted", flags=CreateFlags.HALT)
    assert dom.state() is DomainState.SHUTOFF
    assert dom.get_snapshot_by_name("halted").info().state == "running"


def test_flags_the_test_driver_lacks_raise_invalid_argument(dom):
    # NO_METADATA and METADATA_ONLY are covered against QEMU (test_qemu.py).
    with pytest.raises(virtsnap.InvalidArgumentError, match="unsupported flags"):
        dom.create_snapshot(name="ghost", flags=CreateFlags.NO_METADATA)
    snap = dom.create_snapshot(name="kept")
    with pytest.raises(virtsnap.InvalidArgumentError, match="unsupported flags"):
        snap.delete(DeleteFlags.METADATA_ONLY)
    assert dom.list_snapshot_names() == ["kept"]


def test_validate_flag_rejects_bad_schema(dom):
    with pytest.raises(virtsnap.XMLError):
        dom.create_snapshot("<domainsnapshot><bogus/></domainsnapshot>", CreateFlags.VALIDATE)
    assert dom.num_of_snapshots() == 0


def test_xml_secure_flag_accepted(dom):
    snap = dom.create_snapshot(name="s")
    assert snap.get_xml_description(DomainSnapshot.XML_SECURE).startswith("<domainsnapshot>")


# ---------------------------------------------------------------- bulk

def test_bulk_xml_matches_per_snapshot_calls(dom):
    snaps = make_branching_tree(dom)
    expected = {name: snap.get_xml_description() for name, snap in snaps.items()}
    assert dom.snapshot_xml_descriptions() == expected
    assert dom.snapshot_xml_descriptions(workers=3) == expected
    assert dom.snapshot_xml_descriptions(list_flags=ListFlags.LEAVES) == {
        "leaf": expected["leaf"], "right": expected["right"]}


def test_bulk_parents_matches_per_snapshot_calls(dom):
    make_branching_tree(dom)
    expected = {"root": None, "left": "root", "leaf": "left", "right": "root"}
    assert dom.snapshot_parents() == expected
    assert dom.snapshot_parents(workers=4) == expected
    assert dom.snapshot_parents(ListFlags.ROOTS) == {"root": None}
    for via in ("parent", "children"):
        assert dom.snapshot_parents(via=via) == expected
        assert dom.snapshot_parents(workers=2, via=via) == expected
        assert dom.snapshot_parents(ListFlags.LEAVES, via=via) == {"leaf": "left", "right": "root"}
    with pytest.raises(ValueError, match="via"):
        dom.snapshot_parents(via="sideways")


def test_bulk_parents_routes_agree_on_a_random_tree(dom):
    import random

    rng = random.Random(7)
    snaps = []
    for i in range(80):
        if snaps and rng.random() < 0.4:
            rng.choice(snaps).revert_to()
        snaps.append(dom.create_snapshot(name=f"s{i:02d}"))
    expected = {s.name: (p.name if (p := s.get_parent()) else None) for s in snaps}
    assert dom.num_of_snapshots(ListFlags.NO_LEAVES) < len(snaps)  # the default takes children
    assert dom.snapshot_parents() == expected
    assert dom.snapshot_parents(via="parent") == expected
    assert dom.snapshot_parents(via="children", workers=3) == expected
    topo = ListFlags.TOPOLOGICAL
    assert list(dom.snapshot_parents(topo)) == dom.list_snapshot_names(topo)


def test_bulk_children_matches_per_snapshot_calls(dom):
    snaps = make_branching_tree(dom)
    expected = {name: sorted(snap.list_child_snapshot_names()) for name, snap in snaps.items()}
    for workers in (1, 3):
        assert {name: sorted(children) for name, children
                in dom.snapshot_children(workers=workers).items()} == expected
    descendants = dom.snapshot_children(ListFlags.DESCENDANTS, ListFlags.ROOTS)
    assert {name: sorted(children) for name, children in descendants.items()} == {
        "root": ["leaf", "left", "right"]}


def test_bulk_on_empty_domain(dom):
    assert dom.snapshot_xml_descriptions() == {}
    assert dom.snapshot_parents(workers=2) == {}
    assert dom.snapshot_children() == {}


def test_bulk_rejects_bad_workers(dom):
    with pytest.raises(ValueError, match="workers"):
        dom.snapshot_parents(workers=0)
    with pytest.raises(TypeError):
        dom.snapshot_parents(workers="2")


# ---------------------------------------------------------------- identity and lifetimes

def test_equality_and_hash(dom):
    a = dom.create_snapshot(name="a")
    again = dom.get_snapshot_by_name("a")
    assert a is not again and a == again and hash(a) == hash(again)
    b = dom.create_snapshot(name="b")
    assert a != b
    assert len({a, again, b}) == 2
    assert a != "a"


def test_snapshot_keeps_domain_and_connection_alive(uri):
    conn = virtsnap.open(uri)
    dom = conn.get_domain_by_name("test")
    snap = dom.create_snapshot(name="orphan")
    del conn, dom
    gc.collect()
    assert snap.get_xml_description().startswith("<domainsnapshot>")
    assert snap.get_domain().name == "test"
    assert snap.get_connect().uri == uri
    snap.delete()


def test_use_after_close_raises(conn):
    dom = conn.get_domain_by_name("test")
    snap = dom.create_snapshot(name="s")
    conn.close()
    calls = [
        lambda: conn.uri, lambda: conn.get_domain_by_name("test"), lambda: conn.list_all_domains(),
        lambda: dom.state(), lambda: dom.list_all_snapshots(), lambda: dom.list_snapshot_names(),
        lambda: dom.create_snapshot(name="t"), lambda: dom.snapshot_parents(),
        lambda: snap.get_xml_description(), lambda: snap.get_parent(), lambda: snap.revert_to(),
        lambda: snap.delete(), lambda: snap.list_all_children(), lambda: snap.is_current(),
    ]
    for call in calls:
        with pytest.raises(virtsnap.LibvirtConnectionError, match="closed"):
            call()
    assert snap.name == "s"  # pure accessors need no connection


def test_handle_after_delete_raises_not_found(dom):
    snap = dom.create_snapshot(name="gone")
    other = dom.get_snapshot_by_name("gone")
    other.delete()
    for call in (snap.get_xml_description, snap.get_parent, snap.delete, snap.revert_to,
                 snap.list_child_snapshot_names, snap.is_current):
        with pytest.raises(virtsnap.SnapshotNotFoundError):
            call()


def test_not_picklable(dom):
    import pickle

    snap = dom.create_snapshot(name="p")
    for obj in (snap, dom, dom.get_connect()):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
