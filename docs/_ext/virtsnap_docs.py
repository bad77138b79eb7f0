"""Sphinx extension for virtsnap's docs: what the reference is generated from.

- Signatures of the compiled core (``virtsnap._snapshot``) come from its
  type stub ``_snapshot.pyi``: Cython embeds untyped signatures, the stub
  has the types (:func:`stub_signatures`).
- ``{cli-reference}`` renders the command line from the parser's own
  definitions (:func:`cli_commands` is the one place that reads them).
- ``{json-schema} module:NAME`` prints a JSON Schema from the code that
  defines it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective



# ---------------------------------------------------------------- the stub

@functools.lru_cache(maxsize=None)
def stub_signatures() -> Dict[str, Tuple[str, Optional[str]]]:
    """``{"Class.method" or "function": ("(args)", "return annotation")}`` from the stub."""
    import virtsnap

    stub = Path(virtsnap.__file__).with_name("_snapshot.pyi")
    tree = ast.parse(stub.read_text())
    out: Dict[str, Tuple[str, Optional[str]]] = {}

    def record(prefix: str, body: List[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef):
                args = node.args
                if args.args and args.args[0].arg == "self":
                    args.args = args.args[1:]
                returns = ast.unparse(node.returns) if node.returns is not None else None
                out[prefix + node.name] = (f"({ast.unparse(args)})", returns)
            elif isinstance(node, ast.ClassDef):
                record(node.name + ".", node.body)

    record("", tree.body)
    return out


def _from_core(obj: Any) -> bool:
    owner = getattr(obj, "__objclass__", obj)
    return getattr(owner, "__module__", None) == "virtsnap._snapshot"


def _signature_from_stub(app: Any, what: str, name: str, obj: Any, options: Any,
                         signature: Optional[str], return_annotation: Optional[str]) -> Any:
    if not _from_core(obj):
        # A dataclass field's default_factory shows as "<factory>", which is not
        # Python: Sphinx would then split the signature at every comma.
        if signature and "<factory>" in signature:
            return signature.replace("<factory>", "..."), return_annotation
        return None
    if what == "class":  # handles come from open() and lookups, never from a constructor
        return ("", None) if isinstance(obj, type) and obj.__module__ == "virtsnap._snapshot" \
            and not issubclass(obj, int) else None
    if what not in ("function", "method"):
        return None
    parts = name.split(".")
    key = ".".join(parts[-2:]) if what == "method" else parts[-1]
    typed = stub_signatures().get(key)
    return typed if typed is not None else None


# ---------------------------------------------------------------- the command line

class Option(NamedTuple):
    names: Tuple[str, ...]     # ("--tree",) or ("DOMAIN",) for a positional
    metavar: Optional[str]
    help: str
    required: bool
    own: bool                  # virtsnap's own: virsh has no such option


class Command(NamedTuple):
    name: str
    help: str
    usage: str
    virsh: Tuple[str, ...]     # the virsh commands it follows, if any
    options: List[Option]


def cli_commands() -> List[Command]:
    """Every command with its options, read from the grammar's table
    (:data:`virtsnap.cli.grammar.COMMANDS`), the one definition that the parser,
    ``--help`` and completion also read."""
    from virtsnap.cli import grammar

    commands = []
    for command in grammar.COMMANDS:
        options = []
        for option in command.options:
            if option.type == grammar.DATA or (option.positional and option.type != grammar.BOOL):
                names: Tuple[str, ...] = (f"--{option.name}", option.name.upper())
            else:
                names = (f"--{option.name}",)
            metavar = None if option.type == grammar.BOOL else option.metavar
            options.append(Option(names, metavar, option.help, bool(option.required),
                                  command.own or option.own))
        virsh = (command.virsh,) if command.virsh else ()
        commands.append(Command(command.name, command.help,
                                grammar.synopsis(command, strict=False), virsh, options))
    return commands


def _paragraph(*children: nodes.Node) -> nodes.paragraph:
    para = nodes.paragraph()
    para.extend(children)
    return para


class CliReference(SphinxDirective):
    """Every subcommand: a section with its usage and a table of its options."""

    def run(self) -> List[nodes.Node]:
        out: List[nodes.Node] = []
        for command in cli_commands():
            section = nodes.section(ids=[f"cli-{command.name}"], names=[f"virtsnap {command.name}"])
            section += nodes.title(text=f"virtsnap {command.name}")
            section += _paragraph(nodes.Text(command.help[:1].upper() + command.help[1:] + "."))
            if command.virsh:
                followed: List[nodes.Node] = []
                for index, name in enumerate(command.virsh):
                    if index:
                        followed.append(nodes.Text(" and "))
                    followed.append(nodes.literal(text=f"virsh {name}"))
                section += _paragraph(nodes.Text("Follows "), *followed,
                                      nodes.Text(": the same options and output, except those marked "
                                                 "virtsnap's own."))
            else:
                section += _paragraph(nodes.Text("virtsnap's own: virsh has no such command."))
            section += nodes.literal_block(text=command.usage, language="text")
            section += self._table(command.options)
            out.append(section)
        return out

    def _table(self, options: List[Option]) -> nodes.table:
        table = nodes.table(classes=["cli-options"], width="100%")
        group = nodes.tgroup(cols=3)
        table += group
        for width in (30, 55, 15):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body
        head += self._row("option", "meaning", "origin", header=True)
        for option in options:
            text = ", ".join(option.names) + (f" {option.metavar}" if option.metavar else "")
            origin = "virtsnap's own" if option.own else "virsh"
            body += self._row(nodes.literal(text=text), option.help or "-", origin)
        return table

    @staticmethod
    def _row(*cells: Any, header: bool = False) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += _paragraph(cell if isinstance(cell, nodes.Node) else nodes.Text(cell))
            row += entry
        return row


class JsonSchema(SphinxDirective):
    """``{json-schema} virtsnap.cli.schema:JSON_SCHEMA``: the object, as indented JSON."""

    required_arguments = 1
    option_spec = {"caption": directives.unchanged}

    def run(self) -> List[nodes.Node]:
        module, _, name = self.arguments[0].partition(":")
        schema = getattr(importlib.import_module(module), name)
        text = json.dumps(schema, indent=2, ensure_ascii=False)
        block = nodes.literal_block(text, text, language="json")
        return [block]


def _public_bases(app: Any, name: str, obj: Any, options: Any, bases: List[type]) -> None:
    """Leave private helper bases (``_Subscription``) out of "Bases:"."""
    bases[:] = [base for base in bases  # typing's generics have no __name__ on Python 3.9
                if not getattr(base, "__name__", "").startswith("_")] or [object]


def _show_enum_members(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> Any:
    """List the members of the flag and enum classes, which have no docstrings of
    their own (their values come from libvirt's headers)."""
    import enum

    if isinstance(obj, enum.Enum) and obj.name == name:
        return False
    return None


def setup(app: Any) -> Dict[str, Any]:
    app.connect("autodoc-skip-member", _show_enum_members)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-process-signature", _signature_from_stub)
    app.add_directive("cli-reference", CliReference)
    app.add_directive("json-schema", JsonSchema)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
