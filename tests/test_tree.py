"""SnapshotTree: structure, orders, and the drawing of virsh snapshot-list --tree.

The trees are defined for real on libvirt's test driver with
CreateFlags.REDEFINE, which fixes every parent and creation time; the same
XML files fed to virsh (``snapshot-create --redefine``) give virsh's own
drawing to compare with, byte for byte.
"""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings

import virtsnap
from support.helpers import delete_all_snapshots
from support.snapshots import BASE_TIME, SHAPES, define_snapshots, forests, needs_virsh, virsh_tree
from virtsnap.tree import SnapshotTree, virsh_sort_key


@needs_virsh
@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_render_matches_virsh(dom, tmp_path, shape):
    documents = define_snapshots(dom, SHAPES[shape])
    assert dom.snapshot_tree().render() == virsh_tree(documents, tmp_path)


@needs_virsh
@pytest.mark.parametrize("descendants", [False, True])
def test_subtree_render_matches_virsh_from(dom, tmp_path, descendants):
    documents = define_snapshots(dom, SHAPES["branches"])
    tree = dom.snapshot_tree().subtree("a", None if descendants else 1)
    extra = "--from a" + (" --descendants" if descendants else "")
    assert tree.render() == virsh_tree(documents, tmp_path, extra)


@needs_virsh
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parents=forests())
def test_render_matches_virsh_for_any_forest(dom, tmp_path_factory, parents):
    delete_all_snapshots(dom)
    documents = define_snapshots(dom, parents)
    assert dom.snapshot_tree().render() == virsh_tree(documents, tmp_path_factory.mktemp("v"))


def test_render_example():
    tree = SnapshotTree({"a": None, "b": "a", "c": "b", "d": "a", "e": "d", "solo": None})
    assert tree.render() == (
        "a\n"
        "  |\n"
        "  +- b\n"
        "  |   |\n"
        "  |   +- c\n"
        "  |     \n"
        "  +- d\n"
        "      |\n"
        "      +- e\n"
        "        \n"
        "solo\n"
        "\n"
    )


def test_empty_tree():
    tree = SnapshotTree({})
    assert (tree.roots, tree.render(), list(tree), len(tree)) == ([], "", [], 0)


def test_from_domain_uses_the_bulk_parent_map(dom):
    define_snapshots(dom, SHAPES["forest"])
    tree = dom.snapshot_tree()
    assert isinstance(tree, SnapshotTree)
    assert tree.roots == ["r1", "r2", "r3"]
    assert tree.children("r3") == ["y"] and tree.children("r2") == []
    assert tree.parent("z") == "y" and tree.parent("r1") is None
    assert len(tree) == 6 and "z" in tree and "nope" not in tree
    assert SnapshotTree.from_domain(dom).render() == tree.render()


def test_filtered_listing_makes_orphans_roots(dom):
    define_snapshots(dom, SHAPES["branches"])
    leaves = dom.snapshot_tree(virtsnap.ListFlags.LEAVES)
    assert leaves.roots == ["c", "e", "f"]
    assert leaves.parent("c") == "b"  # libvirt's parent, though not in this tree
    assert leaves.ancestors("c") == []


def test_navigation():
    tree = SnapshotTree(SHAPES["branches"])
    assert tree.children("a") == ["b", "d", "f"]
    assert tree.ancestors("e") == ["d", "a"]
    assert tree.descendants("a") == ["b", "c", "d", "e", "f"]
    assert tree.descendants("c") == []
    assert tree.leaves == ["c", "e", "f"]
    with pytest.raises(KeyError):
        tree.children("missing")
    with pytest.raises(KeyError):
        tree.parent("missing")


def test_siblings_are_in_virsh_order():
    tree = SnapshotTree(SHAPES["case and bytes"])
    assert tree.children("b") == ["10", "9", "_", "a", "B", "Zed", "é"]
    assert sorted(["B", "a", "_"], key=virsh_sort_key) == ["_", "a", "B"]


def test_depth_first_and_walk():
    tree = SnapshotTree(SHAPES["branches"])
    assert list(tree.depth_first()) == ["a", "b", "c", "d", "e", "f"]
    assert list(tree) == list(tree.depth_first())
    assert list(tree.walk("d")) == [("d", 0), ("e", 1)]
    assert list(tree.walk())[:3] == [("a", 0), ("b", 1), ("c", 2)]


def test_topological_is_breadth_first_parents_first():
    parents = SHAPES["branches"]
    order = list(SnapshotTree(parents).topological())
    assert order == ["a", "b", "d", "f", "c", "e"]
    for name, parent in parents.items():
        if parent is not None:
            assert order.index(parent) < order.index(name)


def test_chronological_needs_creation_times(dom):
    # Redefined out of name order: z is oldest, then y, then x (child of z).
    define_snapshots(dom, {"z": None, "y": None, "x": "z"})
    with pytest.raises(ValueError):
        dom.snapshot_tree().chronological()
    infos = {info.name: info for info in dom.snapshot_infos()}
    assert dom.snapshot_tree().chronological(infos) == ["z", "y", "x"]
    assert SnapshotTree.from_infos(infos.values()).chronological() == ["z", "y", "x"]
    assert infos["z"].creation_time == datetime.fromtimestamp(BASE_TIME, timezone.utc)


def test_chronological_ties_keep_parents_first(dom):
    for name in ("zz", "mm", "aa"):  # created within the same second, most likely
        dom.create_snapshot(name=name)
    tree = SnapshotTree.from_infos(dom.snapshot_infos())
    assert tree.chronological() == ["zz", "mm", "aa"]
    times = [info.creation_time for info in dom.snapshot_infos()]
    assert max(times) - min(times) <= timedelta(seconds=5)


def test_a_parent_cycle_does_not_hang():
    tree = SnapshotTree({"a": "c", "b": "a", "c": "b", "root": None})
    assert tree.roots == ["root"] and list(tree.topological()) == ["root"]
    assert tree.descendants("a") == ["b", "c"] and tree.ancestors("a") == ["c", "b"]


def test_subtree():
    tree = SnapshotTree(SHAPES["branches"])
    assert list(tree.subtree("a", 1)) == ["a", "b", "d", "f"]
    assert list(tree.subtree("d")) == ["d", "e"]
    assert tree.subtree("d").parent("d") is None
    with pytest.raises(KeyError):
        tree.subtree("missing")
