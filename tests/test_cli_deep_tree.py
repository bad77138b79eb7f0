"""``virtsnap list --tree`` and ``list --tree --json`` on deep chains.

``main`` runs in this process, so it sees the chain the ``dom`` fixture's
test driver holds. libvirt's test driver redefines a snapshot in time linear
in its depth (68 s for a 20,000-level chain), and the drawing and the JSON of
a chain grow with the square of its depth (1.6 GB and 4 GB at 20,000 levels),
so the full outputs are compared at DRAWN levels, past the former recursion
limits (1,000 levels drawn, 500 in JSON); the 20,000-level chain (marker
``slow``) is listed from near its end.
"""

import json

import pytest

from support.snapshots import DRAWN, chain, nested_document, snapshot_documents
from virtsnap import CreateFlags
from virtsnap.cli import main


def define_chain(dom, depth):
    """Redefine the chain s0 <- s1 <- ... on ``dom``, from one snapshot's XML."""
    head, tail = snapshot_documents(dom, {"NAME": None})["NAME"].split("<name>NAME</name>")
    for name, parent in chain(depth).items():
        link = f"<parent><name>{parent}</name></parent>" if parent else ""
        dom.create_snapshot(f"{head}<name>{name}</name>{link}{tail}", CreateFlags.REDEFINE)


def list_tree(capsys, *options):
    status = main(["-c", "test:///default", "list", "test", "--tree", *options])
    out = capsys.readouterr()
    assert (status, out.err) == (0, "")
    return out.out


def test_list_tree_of_a_deep_chain(dom, capsys):
    """The same bytes as the library's drawing (virsh's) and JSON (json.dumps's)."""
    define_chain(dom, DRAWN)
    tree = dom.snapshot_tree()
    assert list_tree(capsys) == tree.render() + "\n"
    assert list_tree(capsys, "--json") == tree.to_json("test") + "\n"


@pytest.mark.slow
def test_list_tree_from_the_end_of_a_20000_level_chain(dom, capsys):
    define_chain(dom, 20_000)
    assert list_tree(capsys, "-q", "--from", "s19998", "--descendants") == (
        "s19998\n  |\n  +- s19999\n    \n")
    assert json.loads(list_tree(capsys, "--json", "--from", "s19998")) == nested_document(
        "test", ["s19998", "s19999"])
