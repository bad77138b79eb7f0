"""Snapshot trees for tests: shapes, redefined trees, and what a test compares.

Trees are defined for real with CreateFlags.REDEFINE from a real snapshot's
XML, which fixes every parent and creation time.
"""

import shutil
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import strategies as st

import virtsnap
from support.helpers import TEST_URI, virsh

BASE_TIME = 1700000000  # creation time of the first snapshot; one minute between them

needs_virsh = pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh is not installed")

# name -> parent, parents first
SHAPES = {
    "chain": {"a": None, "b": "a", "c": "b"},
    "branches": {"a": None, "b": "a", "c": "b", "d": "a", "e": "d", "f": "a"},
    "forest": {"r1": None, "x": "r1", "r2": None, "r3": None, "y": "r3", "z": "y"},
    "case and bytes": {"b": None, "B": "b", "a": "b", "_": "b", "Zed": "b", "é": "b",
                       "10": "b", "9": "b"},
    "lonely roots": {"one": None, "two": None, "three": None},
    "deep": {f"level{i}": (f"level{i - 1}" if i else None) for i in range(8)},
    "odd names": {"a/b": None, "../x": "a/b", "q</name>&\"]]>": "../x", "with space": "a/b"},
}


def snapshot_template(dom):
    """A real snapshot's XML in ``dom``'s own format (the snapshot is deleted again)."""
    template = dom.create_snapshot(name="virtsnap-template")
    xml = template.get_xml_description()
    template.delete()
    return xml


def snapshot_document(template, name, created, parent=None, description=None):
    """``template`` with its name, creation time, parent and description replaced."""
    root = ElementTree.fromstring(template)
    root.find("name").text = name
    root.find("creationTime").text = str(int(created))
    for old in root.findall("parent") + root.findall("description"):
        root.remove(old)
    if parent is not None:
        ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
    if description is not None:
        ElementTree.SubElement(root, "description").text = description
    return ElementTree.tostring(root, encoding="unicode")


def redefine_documents(dom, documents, current=None):
    """Redefine ``documents`` ({name: XML}, parents first); make ``current`` current."""
    for name, xml in documents.items():
        flags = virtsnap.CreateFlags.REDEFINE
        if name == current:
            flags |= virtsnap.CreateFlags.CURRENT
        dom.create_snapshot(xml, flags)
    return documents


def snapshot_documents(dom, parents, descriptions=None):
    """Snapshot XML for ``parents`` (name -> parent, parents first), one minute apart."""
    template = snapshot_template(dom)
    descriptions = descriptions or {}
    return {name: snapshot_document(template, name, BASE_TIME + 60 * number, parent,
                                    descriptions.get(name))
            for number, (name, parent) in enumerate(parents.items())}


def define_snapshots(dom, parents, current=None, descriptions=None):
    """Redefine the snapshots of ``parents`` on ``dom``; make ``current`` current."""
    return redefine_documents(dom, snapshot_documents(dom, parents, descriptions), current)


def redefine(dom, entries, current=None, template=None):
    """Redefine ``entries`` ((name, unix time, description)) as one chain, oldest first."""
    template = template or snapshot_template(dom)
    documents, parent = {}, None
    for name, when, description in sorted(entries, key=lambda entry: entry[1]):
        documents[name] = snapshot_document(template, name, when, parent, description)
        parent = name
    redefine_documents(dom, documents, current)


def virsh_tree(documents, tmp_path, extra=""):
    """What virsh prints for ``snapshot-list test --tree`` after redefining ``documents``."""
    commands = []
    for number, xml in enumerate(documents.values()):
        path = tmp_path / f"{number}.xml"
        path.write_text(xml, encoding="utf-8")
        commands.append(f"snapshot-create test {path} --redefine")
    commands.append(f"snapshot-list test --tree {extra}")
    return virsh("; ".join(commands), uri=TEST_URI)


@st.composite
def forests(draw):
    names = draw(st.lists(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x17f),
                                  min_size=1, max_size=6),
                          min_size=1, max_size=12, unique=True))
    parents = {}
    for index, name in enumerate(names):
        choice = draw(st.integers(-1, index - 1))
        parents[name] = names[choice] if choice >= 0 else None
    return parents


# Chains deeper than Python's recursion limit (1,000), where recursive walks failed.
DRAWN = 1_200


def chain(depth):
    """name -> parent of a chain s0 <- s1 <- ... (parents first)."""
    return {f"s{i}": (f"s{i - 1}" if i else None) for i in range(depth)}


def nested_document(domain, names):
    """The list --tree --json document of a chain, built bottom-up (no recursion)."""
    node = None
    for name in reversed(names):
        node = {"name": name, "children": [node] if node else []}
    return {"domain": domain, "roots": [node] if node else []}


def make_branching_tree(dom, names=("root", "left", "leaf", "right")):
    """root -> (left -> leaf, right), made for real with a revert to root between;
    the last one current. The snapshots by name."""
    root, left, leaf, right = names
    snaps = {root: dom.create_snapshot(name=root)}
    snaps[left] = dom.create_snapshot(name=left)
    snaps[leaf] = dom.create_snapshot(name=leaf)
    snaps[root].revert_to()
    snaps[right] = dom.create_snapshot(name=right)
    return snaps


def snapshot_state(dom, ignore_times=False):
    """Everything a snapshot operation can change: each snapshot's XML (its parent
    included), the current one, the domain's state."""
    import re

    xmls = {snap.name: snap.get_xml_description()
            for snap in dom.list_all_snapshots()}
    if ignore_times:
        xmls = {name: re.sub(r"<creationTime>\d+</creationTime>", "", xml)
                for name, xml in xmls.items()}
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    return xmls, current, dom.state()


def snapshot_outline(dom):
    """What must survive a move to another domain: names, parents, descriptions,
    and the current snapshot (the XML names the domain, so it differs)."""
    infos = dom.snapshot_infos()
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    return {info.name: (info.parent, info.description) for info in infos}, current


def external_xml(name, overlay):
    """A disk-only external snapshot of disk vda into ``overlay``."""
    return (f"<domainsnapshot><name>{name}</name><disks>"
            f"<disk name='vda' snapshot='external'><source file='{overlay}'/></disk>"
            f"</disks></domainsnapshot>")
