"""Deep snapshot chains: SnapshotTree walks, draws and serializes them without recursion.

The walks run on a chain of 100,000 levels. The drawing and the JSON of a
chain grow with the square of its depth (about 4·n² and 10·n² bytes: 40 GB
and 100 GB at 100,000 levels), so their byte comparisons run on a chain of
DRAWN levels, past Python's recursion limit (1,000), where the recursive
versions failed.
"""

import json
import sys
import tempfile
from pathlib import Path

from hypothesis import given

from support.snapshots import (DRAWN, SHAPES, chain, define_snapshots, forests, needs_virsh,
                               nested_document, virsh_tree)
from virtsnap.tree import SnapshotTree

WALKED = 100_000


def test_walks_of_a_100000_level_chain():
    parents = chain(WALKED)
    names = list(parents)
    tree = SnapshotTree(parents)
    assert (len(tree), tree.roots, tree.leaves) == (WALKED, ["s0"], [names[-1]])
    assert list(tree) == list(tree.depth_first()) == list(tree.topological()) == names
    assert [depth for _, depth in tree.walk()] == list(range(WALKED))
    assert tree.ancestors(names[-1]) == names[-2::-1]
    assert tree.descendants("s0") == names[1:]
    assert list(tree.subtree("s0")) == names
    assert list(tree.subtree("s50000", 2)) == ["s50000", "s50001", "s50002"]


def test_render_lines_of_a_100000_level_chain_come_one_by_one():
    lines = SnapshotTree(chain(WALKED)).render_lines()
    assert [next(lines) for _ in range(4)] == ["s0\n", "  |\n", "  +- s1\n", "      |\n"]


@needs_virsh
def test_render_of_a_deep_chain_is_virshs(dom):
    documents = define_snapshots(dom, chain(DRAWN))
    drawing = dom.snapshot_tree().render()
    # virsh gets every redefinition in one argument: a short directory keeps it
    # under the kernel's 128 KiB limit for one argument.
    with tempfile.TemporaryDirectory(prefix="vs") as short:
        assert drawing == virsh_tree(documents, Path(short))
    assert drawing.count("\n") == 2 * DRAWN


def test_json_of_a_deep_chain_is_json_dumps():
    names = list(chain(DRAWN))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(4 * DRAWN + limit)  # json.dumps recurses twice per level
    try:
        expected = json.dumps(nested_document("dé\"", names), indent=2, ensure_ascii=False)
    finally:
        sys.setrecursionlimit(limit)
    assert SnapshotTree(chain(DRAWN)).to_json("dé\"") == expected


def nested_forest(tree, domain):
    """The same document for any forest, built with a stack from tree.children()."""
    document = {"domain": domain, "roots": []}
    stack = [(root, document["roots"]) for root in reversed(tree.roots)]
    while stack:
        name, siblings = stack.pop()
        siblings.append({"name": name, "children": []})
        stack.extend((child, siblings[-1]["children"]) for child in reversed(tree.children(name)))
    return document


def test_json_of_every_shape_is_json_dumps():
    for parents in list(SHAPES.values()) + [{}]:
        tree = SnapshotTree(parents)
        assert tree.to_json("test") == json.dumps(nested_forest(tree, "test"), indent=2,
                                                  ensure_ascii=False)


@given(parents=forests())
def test_json_of_any_forest_is_json_dumps(parents):
    tree = SnapshotTree(parents)
    assert tree.to_json("d\n\"\\") == json.dumps(nested_forest(tree, "d\n\"\\"), indent=2,
                                                  ensure_ascii=False)
