"""Snapshot histories with chosen creationTime values, for policy tests.

``redefine(dom, [(name, unix_time, description), ...])`` builds one chain,
oldest first, with CREATE_REDEFINE; ``owned_name(label, datetime)`` is the
name ``virtsnap auto`` gives a snapshot of that time.
"""

import xml.etree.ElementTree as ElementTree
from datetime import timezone

import virtsnap


def owned_name(label, when):
    return f"auto-{label}-" + when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def snapshot_template(dom):
    template = dom.create_snapshot(name="virtsnap-template")
    xml = template.get_xml_description()
    template.delete()
    return xml


def redefine(dom, entries, current=None):
    """Redefine ``entries`` ((name, unix time, description)) as one chain, oldest first."""
    template = snapshot_template(dom)
    parent = None
    for name, when, description in sorted(entries, key=lambda entry: entry[1]):
        root = ElementTree.fromstring(template)
        root.find("name").text = name
        root.find("creationTime").text = str(int(when))
        for old in root.findall("parent") + root.findall("description"):
            root.remove(old)
        if parent is not None:
            ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
        ElementTree.SubElement(root, "description").text = description
        flags = virtsnap.CreateFlags.REDEFINE
        if name == current:
            flags |= virtsnap.CreateFlags.CURRENT
        dom.create_snapshot(ElementTree.tostring(root, encoding="unicode"), flags)
        parent = name
