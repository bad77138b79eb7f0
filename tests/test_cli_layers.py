"""The package's layers: no import cycle, no private name taken from another module,
and the command line typed (explicit ``Any`` counted).

Imports are read from the sources (ast), wherever they are written: at the top,
inside functions (they run when called) and inside ``if TYPE_CHECKING:`` blocks
(mypy follows them), so a lazy import cannot hide a cycle. Importing
``a.b.c`` also runs ``a/b/__init__.py``: that edge counts too, unless that
package is one the importing module lives in (it is already being imported).
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "src" / "virtsnap"
ROOT = "virtsnap"


def modules():
    """module name -> source path, for every .py of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name, path, known):
    """(imported module, names taken from it, local name bound to the module or None)
    for each import in ``path``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], alias.asname or alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                if f"{base}.{alias.name}" in known or f"{base}.{alias.name}" == f"{ROOT}._snapshot":
                    yield f"{base}.{alias.name}", [], alias.asname or alias.name  # a submodule
                else:
                    yield base, [alias.name], None


def graph():
    known = modules()
    edges = {name: set() for name in known}
    for name, path in known.items():
        own_packages = {name.rsplit(".", depth)[0] for depth in range(name.count(".") + 1)}
        for target, _, _ in imports(name, path, known):
            explicit = target
            while target and target.startswith(ROOT):
                if target in known and target != name and (
                        target == explicit or target not in own_packages):
                    edges[name].add(target)
                target = target.rpartition(".")[0]  # its packages run first
    return edges


def cycles(edges, within):
    """Every strongly connected component of more than one module among ``within``."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(start):  # Tarjan's algorithm, iterative
        work = [(start, iter(sorted(edges[start] & within)))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child] & within))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for name in sorted(within):
        if name not in index:
            visit(name)
    return found


def test_the_command_line_and_the_policies_have_no_import_cycle():
    edges = graph()
    application = {name for name in edges if name.startswith((f"{ROOT}.cli", f"{ROOT}.policy"))}
    # The application packages, with every module they reach.
    reached = set(application)
    for name in application:
        reached |= edges[name]
    assert cycles(edges, {name for name in reached if name != ROOT}) == []


def private(name):
    return name.startswith("_") and not name.startswith("__")


def expressions(tree):
    """The nodes of ``tree`` and of the type expressions written as strings in it."""
    for node in ast.walk(tree):
        yield node
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                yield from ast.walk(ast.parse(node.value, mode="eval"))
            except (SyntaxError, ValueError):  # 3.9: ValueError for a string with NUL
                continue


def test_no_module_takes_a_private_name_from_another():
    """Every module of the package uses the others' public names only, imported
    (``from m import _x``) or read (``m._x``, in code or in a string annotation).
    The core's hooks for events and aio are public names of virtsnap._snapshot."""
    known = modules()
    every = set(known) | {f"{ROOT}._snapshot"}  # the private modules are the package's own
    taken = []
    for name, path in known.items():
        bound = {}  # local name -> the package module it stands for
        for target, names, local in imports(name, path, known):
            taken += [f"{name}: from {target} import {imported}"
                      for imported in names if private(imported) and target != name]
            if local is not None:  # "import a.b" binds a; "import a.b as c" binds a.b
                bound[local] = local if local == target.partition(".")[0] else target
        for node in expressions(ast.parse(path.read_text(), str(path))):
            parts = []
            while isinstance(node, ast.Attribute):
                parts.insert(0, node.attr)
                node = node.value
            if not parts or not isinstance(node, ast.Name) or node.id not in bound:
                continue
            module = bound[node.id]
            for part in parts:
                if module not in every:
                    break
                if private(part) and module != name and f"{module}.{part}" not in every:
                    taken.append(f"{name}: {module}.{part}")
                module = f"{module}.{part}"
    assert taken == []


def explicit_any(path):
    """Uses of ``Any`` in annotations and type expressions of ``path`` (imports left out)."""
    tree = ast.parse(path.read_text(), str(path))
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "Any":
            count += 1
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                inner = ast.parse(node.value, mode="eval")
            except (SyntaxError, ValueError):  # 3.9: ValueError for a string with NUL
                continue
            count += sum(isinstance(sub, ast.Name) and sub.id == "Any" for sub in ast.walk(inner))
    return count


def test_the_package_is_typed_without_any():
    """Handles by their classes, documents and the core's dict results as TypedDicts,
    TOML values as a union, aio's calls through a ParamSpec: the one explicit Any of the
    package is the parsed arguments' attributes in virtsnap.cli.grammar (the issue's
    bound is 10)."""
    counts = {str(path.relative_to(PACKAGE)): explicit_any(path) for path in PACKAGE.rglob("*.py")}
    assert {path: count for path, count in counts.items() if count} == {"cli/grammar.py": 1}
