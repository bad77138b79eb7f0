"""A fixed snapshot tree on the test driver's domain, for comparing virsh and virtsnap.

:func:`reset` puts the same snapshots back (same XML, creation times and
current) and the domain back to running, so that a command run by virsh and
the same command run by virtsnap start from one state; :func:`state` is what
a command leaves behind.
"""

import subprocess
import xml.etree.ElementTree as ElementTree

import virtsnap
from virtsnap import CreateFlags, DomainState, ListFlags

# name -> parent, parents first. No two names equal under strcasecmp: virsh's order
# for those is its C library's qsort's (stable in glibc up to 2.36, not after).
TREE = {"a": None, "b": "a", "c": "b", "d": "a", "Ab": "a", "z": None}
CURRENT = "c"
BASE_TIME = 1700000000


def documents(dom):
    """The tree's snapshot XML in ``dom``'s own format (a real snapshot's, renamed)."""
    template = dom.create_snapshot("<domainsnapshot><name>virtsnap-template</name>"
                                   "</domainsnapshot>")
    xml = template.get_xml_description()
    template.delete()
    result = {}
    for number, (name, parent) in enumerate(TREE.items()):
        root = ElementTree.fromstring(xml)
        root.find("name").text = name
        root.find("creationTime").text = str(BASE_TIME + 60 * number)
        for old in root.findall("parent") + root.findall("description"):
            root.remove(old)
        if parent is not None:
            ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = parent
        result[name] = ElementTree.tostring(root, encoding="unicode")
    return result


def reset(dom, uri, xml):
    """The domain running, with exactly the snapshots of ``xml`` (from :func:`documents`)."""
    state = dom.state()
    if state is DomainState.PAUSED:
        subprocess.run(["virsh", "-q", "-c", uri, "resume", dom.name], check=True,
                       capture_output=True, timeout=60)
    elif state is not DomainState.RUNNING:
        subprocess.run(["virsh", "-q", "-c", uri, "start", dom.name], check=True,
                       capture_output=True, timeout=60)
    for snap in reversed(dom.list_all_snapshots(ListFlags.TOPOLOGICAL)):
        snap.delete()
    for name, document in xml.items():
        dom.create_snapshot(document, CreateFlags.REDEFINE
                            | (CreateFlags.CURRENT if name == CURRENT else 0))


def left_state(dom):
    """What a command leaves: the snapshots' names, the current one, the domain's state."""
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    try:
        run_state = dom.state()
    except virtsnap.LibvirtError:
        run_state = None
    return sorted(dom.list_snapshot_names()), current, run_state


# --xpath expressions: valid ones of every result kind, non-node-sets and refused ones.
XPATHS = ["/domainsnapshot/name", "name", "//disk", "//@name", "//disk/@*", "//name/text()",
          "/nothing", "count(//disk)", "'text'", "//", "foo()", "//nothing[foo()] | bar()", "concat(", "$x", "//x:y"]


def xpath_expectation(xml, expression, wrap):
    """What ``snapshot-dumpxml --xpath EXPRESSION [--wrap]`` prints for ``xml``, worked out
    with ElementTree (no XPath engine): (stdout, stderr, exit status)."""
    root = ElementTree.fromstring(xml)
    for element in root.iter():  # virsh parses with blank text dropped
        for field in ("text", "tail"):
            if not (getattr(element, field) or "x").strip():
                setattr(element, field, None)
    refused = {"//": ["XPath error : Invalid expression"],
               "foo()": ["xmlXPathCompOpEval: function foo not found",
                         "XPath error : Unregistered function"],
               "//nothing[foo()] | bar()": ["xmlXPathCompOpEval: function bar not found",
                                            "XPath error : Unregistered function"],
               "concat(": ["XPath error : Invalid number of arguments"],
               "$x": ["XPath error : Undefined variable"],
               "//x:y": ["XPath error : Undefined namespace prefix"]}
    if expression in refused:
        return ((b"<nodes/>\n" if wrap else b"") + b"\n",  # virsh goes on with no node
                "".join(line + "\n" for line in refused[expression]).encode(), 0)
    if expression in ("count(//disk)", "'text'"):
        return b"\n", f"error: internal error: Incorrect xpath '{expression}'\n".encode(), 1
    found = {
        "/domainsnapshot/name": root.findall("name"),
        "name": root.findall("name"),
        "//disk": root.findall(".//disk"),
        "//@name": [("name", element.get("name")) for element in root.iter()
                    if element.get("name") is not None],
        "//disk/@*": [item for element in root.iter("disk") for item in element.attrib.items()],
        "//name/text()": [element.text for element in root.iter("name")],
        "/nothing": [],
    }[expression]
    if wrap:
        nodes = ElementTree.Element("nodes")
        for node in found:
            if isinstance(node, tuple):  # an attribute replaces one of the same name
                nodes.attrib.pop(node[0], None)
                nodes.set(*node)
            elif isinstance(node, str):
                nodes.text = (nodes.text or "") + node
            else:
                nodes.append(node)
        texts = [_pretty(nodes)]
    else:
        texts = [_pretty(node) if isinstance(node, ElementTree.Element)
                 else _attribute(*node) if isinstance(node, tuple) else _text(node)
                 for node in found]
    return "".join(text + "\n" for text in texts).encode() + b"\n", b"", 0


def _pretty(element):
    copy = ElementTree.fromstring(ElementTree.tostring(element))
    ElementTree.indent(copy)
    return ElementTree.tostring(copy, encoding="unicode").replace(" />", "/>")


def _attribute(name, value):
    return _pretty(ElementTree.Element("x", {name: value}))[len("<x"):-len("/>")]


def _text(text):
    holder = ElementTree.Element("x")
    holder.text = text
    return ElementTree.tostring(holder, encoding="unicode")[len("<x>"):-len("</x>")]


def on_terminal(argv, env, typed=b"", deadline=60):
    """(output, exit status) of ``argv`` run on a pseudo-terminal, ``typed`` on its input."""
    import os
    import pty
    import select
    import signal
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the terminal
        os.execvpe(argv[0], argv, env)
    os.write(fd, typed)
    output = b""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if select.select([fd], [], [], max(0, end - time.monotonic()))[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    else:
        os.kill(pid, signal.SIGKILL)
    os.close(fd)
    return output, os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
