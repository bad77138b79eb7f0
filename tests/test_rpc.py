"""The core API over RPC: libvirt's test driver served by the shared daemon.

(test_core.py runs each of its tests in-process and through a private daemon,
with conftest's ``uri`` fixture.) Through the shared daemon, the test
driver's state is shared by all client connections while at least one is
open and is reset when the last one closes. The ``dom`` fixture therefore
also repairs state another client may have left (snapshots, a stopped "test"
domain). The bulk and limit tests use a domain of their own (defined with
virsh while our connection holds the driver), so they neither see nor
disturb "test".

RPC-specific behaviour:
- the bulk calls with ``workers=4`` give what ``workers=1`` gives, on a seeded
  random tree of 500 snapshots;
- listing at libvirt's RPC list limit (REMOTE_DOMAIN_SNAPSHOT_LIST_MAX, 16384
  in libvirt 9.0).
"""

import contextlib
import itertools
import os
import random
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import virtsnap
from support.helpers import DAEMON_TEST_URI, delete_all_snapshots, virsh
from virtsnap import CreateFlags, DomainState, ListFlags

pytestmark = [pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

RPC_URI = DAEMON_TEST_URI
REMOTE_DOMAIN_SNAPSHOT_LIST_MAX = 16384  # remote_protocol.x, libvirt 9.0


# ---------------------------------------------------------------- fixtures (override conftest's)

@pytest.fixture
def conn(libvirtd):
    """A fresh connection to the test driver through the daemon."""
    with virtsnap.open(RPC_URI) as connection:
        yield connection


def _ensure_running(domain):
    state = domain.state()
    if state is DomainState.PAUSED:
        virsh("resume", domain.name, uri=RPC_URI)
    elif state is not DomainState.RUNNING:
        virsh("start", domain.name, uri=RPC_URI)
    assert domain.state() is DomainState.RUNNING


@pytest.fixture
def dom(conn):
    """The test driver's running domain "test" over RPC, with no snapshots."""
    domain = conn.get_domain_by_name("test")
    delete_all_snapshots(domain)
    _ensure_running(domain)
    yield domain
    if not conn.closed:
        delete_all_snapshots(domain)
        _ensure_running(domain)


# ---------------------------------------------------------------- a private test-driver domain

@contextlib.contextmanager
def defined_domain(conn):
    """A shut-off test-driver domain of our own, undefined with its snapshots afterwards.

    Defined by virsh while ``conn`` is open, so the driver state is shared.
    """
    name = f"vs-rpc-{os.getpid()}-{next(_counter)}"
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "domain.xml"
        xml.write_text(f"<domain type='test'><name>{name}</name><memory>65536</memory>"
                       f"<os><type>hvm</type></os><devices/></domain>")
        virsh("define", xml, uri=RPC_URI)
    try:
        yield conn.get_domain_by_name(name)
    finally:
        virsh("undefine", name, "--snapshots-metadata", uri=RPC_URI)


_counter = itertools.count(1)


@pytest.fixture
def private_dom(conn):
    with defined_domain(conn) as domain:
        yield domain


def domain_block(dom):
    """The <domain> element libvirt stores in this domain's snapshots, as text."""
    probe = dom.create_snapshot(name="probe")
    xml = probe.get_xml_description()
    probe.delete()
    return xml[xml.index("<domain "):xml.index("</domain>") + len("</domain>")]


def snapshot_xml(name, parent, state, created, domain_xml, description=""):
    parent_xml = f"<parent><name>{parent}</name></parent>" if parent else ""
    return (f"<domainsnapshot><name>{name}</name><description>{description}</description>"
            f"<state>{state}</state>{parent_xml}<creationTime>{created}</creationTime>"
            f"<memory snapshot='no'/>{domain_xml}</domainsnapshot>")


def redefine_all(dom, xmls, threads=1):
    """Redefine the snapshot XMLs (parents first within each thread's share)."""
    errors = []

    def work(chunk):
        try:
            for xml in chunk:
                dom.create_snapshot(xml, CreateFlags.REDEFINE)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(xmls[k::threads],)) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- bulk calls over RPC

def random_tree(rng, n):
    """child -> parent for ``n`` snapshots; about one in twenty is a new root."""
    parents = {}
    names = []
    for i in range(n):
        name = f"n{i:03d}"
        parents[name] = rng.choice(names) if names and rng.random() > 0.05 else None
        names.append(name)
    return parents


def test_bulk_workers_agree_on_a_random_tree_of_500(private_dom):
    dom = private_dom
    rng = random.Random(20240611)
    parents = random_tree(rng, 500)
    states = {name: rng.choice(["shutoff", "running", "paused"]) for name in parents}
    block = domain_block(dom)
    redefine_all(dom, [snapshot_xml(name, parent, states[name], 1000 + i, block, f"d&amp;{i}")
                       for i, (name, parent) in enumerate(parents.items())])
    assert dom.num_of_snapshots() == 500

    children = {name: [] for name in parents}
    for name, parent in parents.items():
        if parent:
            children[parent].append(name)
    leaves = {name for name, kids in children.items() if not kids}
    roots = {name for name, parent in parents.items() if parent is None}
    active = {name for name, state in states.items() if state != "shutoff"}
    assert len(roots) > 1 and len(leaves) > 100

    serial_xml = dom.snapshot_xml_descriptions(workers=1)
    assert set(serial_xml) == set(parents)
    for name, xml in serial_xml.items():
        root = ET.fromstring(xml)
        assert root.findtext("name") == name
        assert root.findtext("parent/name") == parents[name]
        assert root.findtext("state") == states[name]
    assert dom.snapshot_parents(workers=1) == parents
    for _ in range(3):
        assert dom.snapshot_parents(workers=4) == parents
        assert dom.snapshot_xml_descriptions(workers=4) == serial_xml
    for flags, expected in ((ListFlags.LEAVES, leaves), (ListFlags.ROOTS, roots),
                            (ListFlags.ACTIVE, active),
                            (ListFlags.INACTIVE | ListFlags.NO_LEAVES,
                             set(parents) - active - leaves)):
        one = dom.snapshot_parents(flags, workers=1)
        assert set(one) == expected
        assert one == {name: parents[name] for name in expected}
        assert dom.snapshot_parents(flags, workers=4) == one
        assert dom.snapshot_xml_descriptions(list_flags=flags, workers=4) == {
            name: serial_xml[name] for name in expected}
        assert sorted(dom.list_snapshot_names(flags)) == sorted(expected)

    # Per-snapshot calls over RPC agree with the bulk ones.
    sample = rng.sample(sorted(parents), 25)
    for name in sample:
        snap = dom.get_snapshot_by_name(name)
        assert snap.get_xml_description() == serial_xml[name]
        parent = snap.get_parent()
        assert (parent.name if parent else None) == parents[name]
        assert sorted(snap.list_child_snapshot_names()) == sorted(children[name])
    order = dom.list_snapshot_names(ListFlags.TOPOLOGICAL)
    assert sorted(order) == sorted(parents)
    position = {name: i for i, name in enumerate(order)}
    assert all(parent is None or position[parent] < position[name]
               for name, parent in parents.items())


# ---------------------------------------------------------------- the RPC list limit

@pytest.fixture(scope="module")
def limit_dom(libvirtd):
    """A domain with exactly REMOTE_DOMAIN_SNAPSHOT_LIST_MAX snapshots (all roots)."""
    with virtsnap.open(RPC_URI) as connection, defined_domain(connection) as domain:
        block = domain_block(domain)
        redefine_all(domain, [snapshot_xml(f"s{i:05d}", None, "shutoff", 1 + i, block)
                              for i in range(REMOTE_DOMAIN_SNAPSHOT_LIST_MAX)], threads=4)
        yield domain


def test_object_listing_at_the_rpc_list_limit(limit_dom):
    expected = [f"s{i:05d}" for i in range(REMOTE_DOMAIN_SNAPSHOT_LIST_MAX)]
    assert limit_dom.num_of_snapshots() == REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
    assert sorted(s.name for s in limit_dom.list_all_snapshots()) == expected
    assert limit_dom.get_connect().is_alive()


def test_name_listing_at_the_rpc_list_limit(limit_dom):
    expected = [f"s{i:05d}" for i in range(REMOTE_DOMAIN_SNAPSHOT_LIST_MAX)]
    assert limit_dom.num_of_snapshots() == REMOTE_DOMAIN_SNAPSHOT_LIST_MAX
    assert sorted(limit_dom.list_snapshot_names()) == expected
