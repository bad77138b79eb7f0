"""What the documentation covers: the public API, its docstrings, the built site.

Shared by tests/test_docs.py and tests/test_docs_examples.py.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List, Tuple

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"

# The modules whose public names (their __all__) the reference documents.
DOCUMENTED_MODULES = (
    "virtsnap", "virtsnap.aio", "virtsnap.events", "virtsnap.info", "virtsnap.tree",
    "virtsnap.transfer", "virtsnap.policy.config", "virtsnap.policy.plan", "virtsnap.policy.run",
)

_EMBEDDED_SIGNATURE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?$")


def real_docstring(doc: Any) -> str:
    """A docstring without the signature line that Cython's embedsignature adds."""
    if not isinstance(doc, str):
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    if lines and _EMBEDDED_SIGNATURE.match(lines[0]):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _attribute_docs(module_name: str) -> "dict[tuple[str, str], list[str]]":
    from sphinx.pycode import ModuleAnalyzer

    analyzer = ModuleAnalyzer.for_module(module_name)
    analyzer.analyze()
    return analyzer.attr_docs


def public_members() -> Iterator[Tuple[str, Any, str]]:
    """(qualified name, object, docstring) for every public member of the
    documented modules: classes, functions, methods, properties, data,
    dataclass fields; members defined once are reported once."""
    seen = set()
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            home = getattr(obj, "__module__", module_name) if inspect.isclass(obj) or callable(obj) \
                else module_name
            qualified = f"{module_name}.{name}"
            key = (home, getattr(obj, "__qualname__", name)) if inspect.isclass(obj) or callable(obj) \
                else qualified
            if key in seen:
                continue
            seen.add(key)
            if inspect.isclass(obj):
                yield qualified, obj, real_docstring(obj.__doc__)
                yield from _class_members(qualified, obj)
            elif callable(obj):
                yield qualified, obj, real_docstring(obj.__doc__)
            else:
                docs = _attribute_docs(module_name).get(("", name)) or _page_data_doc(qualified)
                yield qualified, obj, "\n".join(docs or [])


def _page_data_doc(qualified: str) -> List[str]:
    """The text of an ``autodata`` directive for ``qualified`` in the reference pages:
    where data of a compiled module is documented, having no source for ``#:``."""
    for page in sorted((DOCS / "reference").glob("*.md")):
        match = re.search(rf"^\.\. autodata:: {re.escape(qualified)}\n((?:\n|   .*\n)+)",
                          page.read_text(), re.M)
        if match:
            return [line.strip() for line in match.group(1).splitlines() if line.strip()]
    return []


def _class_members(qualified: str, cls: type) -> Iterator[Tuple[str, Any, str]]:
    if issubclass(cls, enum.Enum):
        return  # the members are values, documented by the class
    fields = {field.name for field in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    field_docs = {}
    if fields:
        module = cls.__module__
        field_docs = {name: "\n".join(lines) for (owner, name), lines in _attribute_docs(module).items()
                      if owner == cls.__qualname__}
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        fields = set(cls._fields)
        field_docs = {name: "\n".join(lines)
                      for (owner, name), lines in _attribute_docs(cls.__module__).items()
                      if owner == cls.__qualname__}
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("_fields",):
            continue
        if name in fields:  # a field, or a property in its place (SnapshotInfo.creation_time)
            doc = field_docs.get(name) or (member.__doc__ if isinstance(member, property) else "")
            yield f"{qualified}.{name}", member, doc or ""
            continue
        if isinstance(getattr(cls, name, None), enum.Enum):
            continue  # DomainSnapshot.CREATE_HALT: a flag, documented by its class
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, (int, str, float, tuple, frozenset, dict)):
            continue
        yield f"{qualified}.{name}", member, real_docstring(getattr(member, "__doc__", None))
    for name in fields - set(vars(cls)):
        yield f"{qualified}.{name}", None, field_docs.get(name, "")


def build_site(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """sphinx-build of docs/ into ``out`` with this interpreter's Sphinx and virtsnap.

    Warnings are not errors here: the Sphinx of an old Python (3.9 gets 7.x)
    words some differently; `make docs`, which CI runs, builds with -W.
    """
    return subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-n",
                           "-q", "-E", *extra, str(DOCS), str(out)],
                          capture_output=True, text=True, timeout=600)


def inventory_names(objects_inv: Path) -> "dict[str, set[str]]":
    """{role: names} of a built site's objects.inv, read with Sphinx's own reader."""
    from sphinx.util.inventory import InventoryFile

    with open(objects_inv, "rb") as stream:
        inventory = InventoryFile.load(stream, "", lambda base, path: path)
    data = getattr(inventory, "data", inventory)
    return {role: set(entries) for role, entries in data.items()}


def markdown_pages() -> List[Path]:
    """Every Markdown page whose examples run: README.md and docs/**/*.md."""
    return [ROOT / "README.md"] + sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
