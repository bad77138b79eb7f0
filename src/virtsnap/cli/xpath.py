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
    from typing import Callable, List, Mapping, Optional, Tuple

    Node = Tuple[str, Optional[etree._Element], str, str]

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
        found, messages = [], _libxml2_lines(root, exc, expression)
    if not isinstance(found, list):
        raise CommandError(f"internal error: Incorrect xpath '{expression}'")
    nodes = [_node(item) for item in found]
    # lxml leaves the document node out of a node set; it can only come first.
    counted = 0.0 if messages else root.xpath(f"count(({expression}))")
    with_document = isinstance(counted, float) and counted > len(nodes)
    if wrap:
        return _wrapped(root, nodes, with_document), messages
    texts = [_dump(node) for node in nodes]
    if with_document:
        texts.insert(0, _document(root))
    return "".join(text + "\n" for text in texts), messages


def _node(item: object) -> "Node":
    """An item of lxml's node set as (kind, element, name, value): kind "element" (comments
    and processing instructions too), "attribute", "text" or "namespace"."""
    if isinstance(item, etree._Element):
        return "element", item, "", ""
    if isinstance(item, tuple):  # a namespace node: (prefix, URI)
        return "namespace", None, str(item[0]), str(item[1])
    if isinstance(item, etree._ElementUnicodeResult) and item.is_attribute:
        parent = item.getparent()
        return "attribute", parent, str(item.attrname), str(item)
    return "text", None, "", str(item)


def _dump(node: "Node") -> str:
    """One node as ``xmlNodeDump(format=1)`` writes it."""
    kind, element, name, value = node
    if kind == "element":
        assert element is not None
        return etree.tostring(element, encoding="unicode", pretty_print=True,
                              with_tail=False).rstrip("\n")
    if kind == "namespace":  # libxml2 writes none for the implicit xml prefix
        return "" if name == "xml" else _attribute_text({name: value}, None, "")
    if kind == "attribute":
        return _attribute_text(element.nsmap if element is not None else {}, name, value)
    holder = etree.Element("x")
    holder.text = value
    return etree.tostring(holder, encoding="unicode")[len("<x>"):-len("</x>")]


def _attribute_text(nsmap: "Mapping[Optional[str], str]", name: "str | None", value: str) -> str:
    """`` name="value"`` as libxml2 writes it where ``nsmap``'s prefixes are declared (or
    ``nsmap``'s one declaration when ``name`` is None)."""
    # a None prefix is the default namespace, which lxml's stubs do not know
    element = etree.Element("x", nsmap=nsmap)  # type: ignore[arg-type]
    bare = etree.tostring(element, encoding="unicode")[:-len("/>")]
    if name is None:
        return bare[len("<x"):]
    element.set(name, value)
    return etree.tostring(element, encoding="unicode")[len(bare):-len("/>")]


def _document(root: "etree._Element") -> str:
    """The document node: the XML declaration and every top-level node."""
    return _DECLARATION + etree.tostring(root.getroottree(), encoding="unicode",
                                         pretty_print=True)


def _wrapped(root: "etree._Element", found: "List[Node]", with_document: bool) -> str:
    """The nodes copied under ``<nodes>``, as libxml2's xmlAddChild adds them: text merges
    with the text before it, an attribute replaces one of the same name."""
    if with_document and not found:
        return f"<nodes>\n{_document(root)}\n</nodes>\n"
    nodes = etree.Element("nodes")
    for kind, element, name, value in found:
        if kind == "element":
            assert element is not None
            copy = deepcopy(element)
            copy.tail = None
            nodes.append(copy)
        elif kind == "attribute":
            if name in nodes.attrib:
                del nodes.attrib[name]
            nodes.set(name, value)
        elif kind == "text" and len(nodes):
            nodes[-1].tail = (nodes[-1].tail or "") + value
        elif kind == "text":
            nodes.text = (nodes.text or "") + value
        # virsh copies a namespace node as if it were an element: undefined, left out
    return etree.tostring(nodes, encoding="unicode", pretty_print=True)


def _libxml2_lines(root: "etree._Element", error: "etree.XPathError", expression: str
                   ) -> "List[str]":
    """What libxml2 2.9 (virsh 9.0's, Debian 12) prints for a refused expression."""
    entries = [entry for entry in error.error_log if entry.domain_name == "XPATH"]
    if not entries:
        return [f"XPath error : {error}"]
    lines = []
    for entry in entries:
        if entry.type_name in ("XPATH_UNKNOWN_FUNC_ERROR", "XPATH_UNDEF_PREFIX_ERROR"):
            call = _first_unknown_call(root, expression)
            if call is not None and call.prefix is not None:  # 2.9 says only this
                lines.append(f"xmlXPathCompOpEval: function {call.name} bound to undefined "
                             f"prefix {call.prefix}")
                continue
            if call is not None and entry.type_name == "XPATH_UNKNOWN_FUNC_ERROR":
                lines.append(f"xmlXPathCompOpEval: function {call.name} not found")
        lines.append(f"XPath error : {entry.message}")
    return lines


class _Called(Exception):
    """An unknown function was reached: the one libxml2 names."""

    def __init__(self, prefix: "str | None", name: str) -> None:
        super().__init__(name)
        self.prefix = prefix
        self.name = name


def _first_unknown_call(root: "etree._Element", expression: str) -> "_Called | None":
    """The unknown function that evaluation reaches first: each call in the text of a
    function libxml2 lacks is registered to raise, and the engine evaluates again."""
    calls = set()
    for match in _CALLS.finditer(expression):
        prefix, name = match.group(1), match.group(2)
        if name is not None and (prefix is not None or name not in _CORE_FUNCTIONS | _NOT_CALLS):
            calls.add((prefix, name))
    prefixes = {prefix: f"urn:virtsnap:{prefix}" for prefix, _ in calls if prefix is not None}

    def raiser(prefix: "str | None", name: str) -> "Callable[..., object]":
        def call(context: object, *args: object) -> object:
            raise _Called(prefix, name)
        return call

    extensions = {(prefixes.get(prefix) if prefix else None, name): raiser(prefix, name)
                  for prefix, name in calls}
    try:
        root.xpath(expression, namespaces=prefixes, extensions=extensions)
    except _Called as called:
        return called
    except etree.XPathError:
        pass
    return None
