"""Big snapshot trees for a private daemon, loaded from a test-driver file.

Defining 20,000 snapshots with REDEFINE costs one RPC each; the test driver
instead reads them at connect time from its node file
(``test+unix:///PATH?socket=...``), as ``<test:domainsnapshot>`` elements.
Each connection gets its own copy of that state.

``long_chain(n)`` and ``bushy(n)`` give a child -> parent map (roots: None);
``write_node_file(path, {domain: parents})`` writes the file.
"""

from xml.sax.saxutils import escape

DOMAIN_XML = ("<domain type='test'><name>{name}</name><memory>8388608</memory>"
              "<os><type>hvm</type></os></domain>")


def long_chain(n, prefix="c"):
    """One chain of ``n`` snapshots, ``c00000`` the root."""
    names = [f"{prefix}{i:05d}" for i in range(n)]
    return {name: names[i - 1] if i else None for i, name in enumerate(names)}


def bushy(n, prefix="b", roots=3, fanout=8):
    """``roots`` trees in which every node has up to ``fanout`` children."""
    names = [f"{prefix}{i:05d}" for i in range(n)]
    return {name: None if i < roots else names[(i - roots) // fanout]
            for i, name in enumerate(names)}


def _snapshot(domain, name, parent, when):
    parent_xml = f"<parent><name>{escape(parent)}</name></parent>" if parent else ""
    return (f"<test:domainsnapshot><name>{escape(name)}</name>{parent_xml}"
            f"<state>shutoff</state><creationTime>{when}</creationTime><active>0</active>"
            f"{DOMAIN_XML.format(name=escape(domain))}</test:domainsnapshot>\n")


def write_node_file(path, trees):
    """A test-driver node file with one shut-off domain per ``trees`` entry,
    holding those snapshots (parents are written before their children)."""
    parts = ["<node>\n"]
    for domain, parents in trees.items():
        parts.append(f"<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                     f"<name>{escape(domain)}</name><memory>8388608</memory>"
                     "<os><type>hvm</type></os>\n")
        for when, name in enumerate(parents, 1_700_000_000):
            parts.append(_snapshot(domain, name, parents[name], when))
        parts.append("</domain>\n")
    parts.append("</node>\n")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write("".join(parts))
    return path
