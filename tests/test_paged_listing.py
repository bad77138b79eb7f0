"""No 16,384 limit (issue 26, item 3): listings of 20,000 snapshots over a daemon.

libvirt's RPC carries at most 16,384 snapshots per list call ("Too many
domain_snapshots '20000' for limit '16384'"); virsh fails there too. The
core then lists per node (the roots, then each node's children: see
``_list_snapshots`` in src/snapshot.pyx). The trees are a 20,000-deep chain
and a bushy tree (three roots, eight children per node), loaded by a private
daemon's test driver from a node file (:mod:`support.snapshot_trees`); the
oracle is the map the file was written from. A flat tree of 16,500 roots is
the one shape no page can split: it fails with libvirt's error, never a
partial answer.
"""

import subprocess
import sys
import threading

import pytest

import virtsnap
from support.helpers import parse_snapshot_tree
from support.private_daemon import PrivateDaemon
from support.snapshot_trees import bushy, long_chain, write_node_file
from virtsnap import ListFlags

pytestmark = [pytest.mark.libvirtd]

N = 20_000
SHAPES = {"chain": long_chain(N), "bushy": bushy(N)}


@pytest.fixture(scope="module")
def daemon(libvirtd, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paged")
    files = {shape: str(write_node_file(workdir / f"{shape}.xml", {shape: parents}))
             for shape, parents in SHAPES.items()}
    files["flat"] = str(write_node_file(workdir / "flat.xml",
                                        {"flat": {f"r{i:05d}": None for i in range(16_500)}}))
    started = PrivateDaemon(workdir / "daemon").start()
    yield started, files
    started.stop()


@pytest.fixture(scope="module")
def uris(daemon):
    started, files = daemon
    return {shape: started.uri(path) for shape, path in files.items()}


@pytest.fixture(scope="module", params=list(SHAPES))
def tree(request, uris):
    """(domain, child -> parent map, URI) of one shape, on a connection of its own."""
    with virtsnap.open(uris[request.param]) as conn:
        yield conn.get_domain_by_name(request.param), SHAPES[request.param], \
            uris[request.param]


def leaves(parents):
    return set(parents) - set(parents.values())


def descendants(parents, top):
    children = {}
    for name, parent in parents.items():
        children.setdefault(parent, []).append(name)
    found, stack = [], list(children.get(top, []))
    while stack:
        name = stack.pop()
        found.append(name)
        stack.extend(children.get(name, []))
    return set(found)


def assert_topological(names, parents):
    seen = set()
    for name in names:
        assert parents[name] is None or parents[name] in seen, name
        seen.add(name)


def test_one_call_is_over_the_cap_and_the_listings_page_past_it(tree):
    dom, parents, _ = tree
    assert dom.num_of_snapshots() == N
    listed = [snap.name for snap in dom.list_all_snapshots()]
    assert len(listed) == N and set(listed) == set(parents)
    names = dom.list_snapshot_names()
    assert len(names) == N and set(names) == set(parents)


def test_filters_and_the_topological_order_hold_when_paged(tree):
    dom, parents, _ = tree
    ordered = [snap.name for snap in dom.list_all_snapshots(ListFlags.TOPOLOGICAL)]
    assert sorted(ordered) == sorted(parents)
    assert_topological(ordered, parents)
    assert set(dom.list_snapshot_names(ListFlags.LEAVES)) == leaves(parents)
    assert set(dom.list_snapshot_names(ListFlags.NO_LEAVES)) == set(parents) - leaves(parents)
    assert set(dom.list_snapshot_names(ListFlags.ROOTS)) == {
        name for name, parent in parents.items() if parent is None}
    inactive = [snap.name for snap in dom.list_all_snapshots(ListFlags.INACTIVE
                                                            | ListFlags.TOPOLOGICAL)]
    assert len(inactive) == N   # every snapshot is of a shut-off guest
    assert_topological(inactive, parents)
    assert dom.list_snapshot_names(ListFlags.ACTIVE) == []


def test_bulk_calls_give_the_whole_tree(tree):
    dom, parents, _ = tree
    assert dom.snapshot_parents() == parents
    assert dom.snapshot_parents(via="parent") == parents
    assert dom.snapshot_parents(via="children") == parents
    whole = dom.snapshot_tree()
    assert len(whole) == N and {name: whole.parent(name) for name in parents} == parents
    assert {info.name: info.parent for info in dom.snapshot_infos()} == parents
    assert set(dom.snapshot_xml_descriptions(workers=2)) == set(parents)


def test_descendants_of_a_root_page_too(tree):
    dom, parents, _ = tree
    root = sorted(name for name, parent in parents.items() if parent is None)[0]
    expected = descendants(parents, root)
    top = dom.get_snapshot_by_name(root)
    assert {snap.name for snap in top.list_all_children(ListFlags.DESCENDANTS)} == expected
    assert set(top.list_child_snapshot_names(ListFlags.DESCENDANTS)) == expected
    assert {snap.name for snap in top.list_all_children()} == {
        name for name, parent in parents.items() if parent == root}


def paged_cli(uri, *args):
    result = subprocess.run([sys.executable, "-m", "virtsnap", "-c", uri, *args],
                            capture_output=True, text=True, timeout=600,
                            stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr[-2000:]
    return result.stdout


def test_cli_listings_page_past_the_cap(tree):
    dom, parents, uri = tree
    # virsh's format: one name a line, then an empty line
    assert paged_cli(uri, "list", dom.name, "--name") == "".join(
        f"{n}\n" for n in sorted(parents)) + "\n"
    assert paged_cli(uri, "list", dom.name, "--leaves", "--name") == "".join(
        f"{n}\n" for n in sorted(leaves(parents))) + "\n"
    header, _, *rows = paged_cli(uri, "list", dom.name, "--parent").splitlines()
    column = header.index("Parent")
    assert {row.split()[0]: row[column:].strip() or None for row in rows if row} == parents
    topological = paged_cli(uri, "list", dom.name, "--topological", "--name").split()
    assert sorted(topological) == sorted(parents)
    assert_topological(topological, parents)
    if dom.name == "bushy":   # a 20,000-deep chain's drawing is quadratic, as virsh's
        assert parse_snapshot_tree(paged_cli(uri, "list", dom.name, "--tree")) == parents


def test_deleting_during_a_paged_walk_never_loses_a_survivor(uris):
    """Deleting inner snapshots while a paged listing runs on the same connection:
    every snapshot never deleted is listed, whatever the timing. (Whether a
    deletion lands on the walk's frontier, the case that restarts it, depends
    on timing; the other cases move children under a parent not yet asked.)"""
    parents = SHAPES["chain"]
    with virtsnap.open(uris["chain"]) as conn:   # its own copy of the chain
        dom = conn.get_domain_by_name("chain")
        doomed = [f"c{i:05d}" for i in range(10_000, 10_006)]   # inner nodes, far down
        deleted = set()
        started = threading.Event()

        def delete():
            started.wait(60)
            for name in doomed:
                deleted.add(name)        # counted as gone before it is
                dom.get_snapshot_by_name(name).delete()

        deleter = threading.Thread(target=delete)
        deleter.start()
        started.set()
        listed = {snap.name for snap in dom.list_all_snapshots()}
        deleter.join(120)
        assert not deleter.is_alive()
        assert set(parents) - deleted <= listed <= set(parents)
        after = dom.snapshot_parents()
        assert set(after) == set(parents) - set(doomed)
        assert after["c10006"] == "c09999"   # the children moved up


def test_a_node_with_more_children_than_the_cap_fails_whole(uris):
    """16,500 roots: no call can list fewer than all of them; libvirt's error."""
    with virtsnap.open(uris["flat"]) as conn:
        dom = conn.get_domain_by_name("flat")
        assert dom.num_of_snapshots() == 16_500
        with pytest.raises(virtsnap.LibvirtError, match="Too many domain_snapshots"):
            dom.list_all_snapshots()
        with pytest.raises(virtsnap.LibvirtError, match="Too many domain_snapshots"):
            dom.list_snapshot_names()


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["chain", "bushy"])
def test_fifty_thousand(libvirtd, tmp_path, shape):
    parents = {"chain": chain, "bushy": bushy}[shape](50_000)
    node_file = write_node_file(tmp_path / "node.xml", {shape: parents})
    started = PrivateDaemon(tmp_path / "daemon").start()
    try:
        with virtsnap.open(started.uri(str(node_file))) as conn:
            dom = conn.get_domain_by_name(shape)
            assert {snap.name for snap in dom.list_all_snapshots()} == set(parents)
            assert dom.snapshot_parents() == parents
            assert {info.name: info.parent for info in dom.snapshot_infos()} == parents
    finally:
        started.stop()
