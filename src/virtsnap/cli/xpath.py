"""``dumpxml --xpath EXPR [--wrap]``: the snapshot XML filtered as virsh filters it.

virsh 9.0 (libvirt's ``virshDumpXML``) parses the XML with blank text
dropped, evaluates the expression from the root element, and prints each
node of the resulting node set as libxml2 dumps it (``xmlNodeDump``,
formatted), one after another; with ``--wrap`` it copies them under a new
``<nodes>`` element and prints that. A result that is no node set is
virsh's "Incorrect xpath" error; an expression libxml2 refuses prints
libxml2's own lines on stderr and succeeds with no node.

lxml runs the same libxml2 engine. This module is imported only when
``--xpath`` is given, so lxml never weighs on other commands' start-up.
"""

from __future__ import annotations

import re
from copy import deepcopy

from lxml import etree

from virtsnap.cli.errors import CommandError

__all__ = ["filter_xml"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Function calls in an expression: a string literal is skipped as a whole.
_CALLS = re.compile(r"""'[^']*'|"[^"]*"|(?:([^\W\d][\w.-]*):)?([^\W\d][\w.-]*)\s*\(""")
# Names that are followed by "(" and are no function call libxml2 may miss.
# XPath 1.0's functions (libvirt registers none of its own).
_CORE_FUNCTIONS = {
    "last", "position", "count", "id", "local-name", "namespace-uri", "name", "string",
    "concat", "starts-with", "contains", "substring-before", "substring-after", "substring",
    "string-length", "normalize-space", "translate", "boolean", "not", "true", "false",
    "lang", "number", "sum", "floor", "ceiling", "round",
}
_NOT_CALLS = {"node", "text", "comment", "processing-instruction", "and", "or", "div", "mod"}


def filter_xml(xml: str, expression: str, wrap: bool) -> "Tuple[str, List[str]]":
    """virsh's output for ``xml`` filtered by ``expression``: the text for stdout and
    libxml2's lines for stderr. Raises CommandError where virsh fails."""
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xml.encode(), parser)
    messages: "List[str]" = []
    try:
        found = root.xpath(expression)
    except etree.XPathError as exc:  # virsh goes on with no node
        found, messages = [], _libxml2_lines(exc, expression)
    if not isinstance(found, list):
        raise CommandError(f"internal error: Incorrect xpath '{expression}'")
    # lxml leaves the document node out of a node set; it can only come first.
    with_document = not messages and root.xpath(f"count(({expression}))") > len(found)
    if wrap:
        return _wrapped(root, found, with_document), messages
    texts = [_dump(node) for node in found]
    if with_document:
        texts.insert(0, _document(root))
    return "".join(text + "\n" for text in texts), messages


def _dump(node: object) -> str:
    """One node as ``xmlNodeDump(format=1)`` writes it."""
    if isinstance(node, tuple):  # a namespace node: (prefix, URI)
        prefix, uri = node
        return _attribute_text(etree.Element("x", nsmap={prefix: uri}), None, "")
    if isinstance(node, etree._Element):  # elements, comments, processing instructions
        return etree.tostring(node, encoding="unicode", pretty_print=True,
                              with_tail=False).rstrip("\n")
    assert isinstance(node, etree._ElementUnicodeResult)
    if node.is_attribute:
        parent = node.getparent()
        return _attribute_text(etree.Element("x", nsmap=parent.nsmap if parent is not None
                                             else None), node.attrname, str(node))
    holder = etree.Element("x")
    holder.text = str(node)
    return etree.tostring(holder, encoding="unicode")[len("<x>"):-len("</x>")]


def _attribute_text(element: "etree._Element", name: "str | None", value: str) -> str:
    """`` name="value"`` as libxml2 writes it in ``element``'s namespaces (or the element's
    one namespace declaration when ``name`` is None)."""
    bare = etree.tostring(element, encoding="unicode")[:-len("/>")]
    if name is None:
        return bare[len("<x"):]
    element.set(name, value)
    return etree.tostring(element, encoding="unicode")[len(bare):-len("/>")]


def _document(root: "etree._Element") -> str:
    """The document node: the XML declaration and every top-level node."""
    return _DECLARATION + etree.tostring(root.getroottree(), encoding="unicode",
                                         pretty_print=True)


def _wrapped(root: "etree._Element", found: "List[object]", with_document: bool) -> str:
    """The nodes copied under ``<nodes>``, as libxml2's xmlAddChild adds them: text merges
    with the text before it, an attribute replaces one of the same name."""
    nodes = etree.Element("nodes")
    for node in found:
        if isinstance(node, tuple):
            continue  # virsh copies a namespace node as if it were an element (undefined)
        if isinstance(node, etree._Element):
            copy = deepcopy(node)
            copy.tail = None
            nodes.append(copy)
        elif node.is_attribute:
            nodes.attrib.pop(node.attrname, None)
            nodes.set(node.attrname, str(node))
        elif len(nodes):
            nodes[-1].tail = (nodes[-1].tail or "") + node
        else:
            nodes.text = (nodes.text or "") + node
    if with_document and not found:
        return f"<nodes>\n{_document(root)}\n</nodes>\n"
    return etree.tostring(nodes, encoding="unicode", pretty_print=True)


def _libxml2_lines(error: "etree.XPathError", expression: str) -> "List[str]":
    """What libxml2 2.9 (virsh 9.0's, Debian 12) prints for a refused expression."""
    entries = [entry for entry in error.error_log if entry.domain_name == "XPATH"]
    if not entries:
        return [f"XPath error : {error}"]
    lines = []
    for entry in entries:
        if entry.type_name in ("XPATH_UNKNOWN_FUNC_ERROR", "XPATH_UNDEF_PREFIX_ERROR"):
            call = _unknown_call(expression)
            if call is not None and call[0] is not None:  # 2.9 says only this
                lines.append(f"xmlXPathCompOpEval: function {call[1]} bound to undefined "
                             f"prefix {call[0]}")
                continue
            if call is not None and entry.type_name == "XPATH_UNKNOWN_FUNC_ERROR":
                lines.append(f"xmlXPathCompOpEval: function {call[1]} not found")
        lines.append(f"XPath error : {entry.message}")
    return lines


def _unknown_call(expression: str) -> "Tuple[str | None, str] | None":
    """The first call in ``expression`` of a function that libxml2 does not have:
    (prefix or None, name)."""
    for match in _CALLS.finditer(expression):
        prefix, name = match.group(1), match.group(2)
        if name is None or (prefix is None and name in _NOT_CALLS):
            continue
        if prefix is not None or name not in _CORE_FUNCTIONS:
            return prefix, name
    return None
