"""Every file, test or documentation section that a comment, docstring or page
cites exists: a citation that outlives what it names misleads the reader."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from support.docs import ROOT

# Where citations are written: the repository's text files, as git lists them.
SUFFIXES = {".py", ".pyx", ".pxd", ".pxi", ".h", ".c", ".md", ".toml", ".yml", ".yaml", ".txt",
            ".cfg", ".in", ".service", ".timer", ".sh", ".supp", ""}

# A path into the repository: a top-level directory, then at least one component.
PATH = re.compile(r"(?<![\w./-])((?:src|tests|docs|benchmarks|scripts|contrib|examples|"
                  r"ansible_collections|\.ci)/[\w.+-]+(?:/[\w.+-]+)*)(?:::(\w+))?")
# Files that runs or builds write, cited as outputs, never committed.
WRITTEN_BY_RUNS = {
    "benchmarks/results.json",       # benchmarks/run.py --json (make bench)
    "benchmarks/quick.json",         # scripts/run-tests
    "benchmarks/cli-virsh-quick.json",
    "benchmarks/bench_c",            # benchmarks/run.py compiles bench.c
    "src/snapshot.c",                # Cython's output
    "docs/_build",                   # make docs
    "docs/_build/html",
    "ansible_collections/virtsnap/libvirt/tests/output",   # ansible-test
}
# A section cited by its title, e.g. README's "Compatibility" or section "Ansible".
SECTION = re.compile(r"README(?:'s)?\s+(?:\(section\s+)?\"([^\"\n]+)\""
                     r"|\"([^\"\n]+)\"\s+(?:section\s+)?in\s+the\s+README"
                     r"|section\s+\"([^\"\n]+)\"")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


# Directories of generated or third-party files, never cited from.
SKIPPED_DIRS = {".git", "build", "dist", "wheelhouse", "_build", "__pycache__", ".hypothesis",
                ".mypy_cache", ".pytest_cache", ".nocc-bin", "output"}


def tracked_files():
    """The repository's text files (a walk, not git: the wheel's test runs have no .git)."""
    this = Path(__file__).resolve()   # its examples of dangling citations are data
    files = []
    for directory, subdirs, names in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith(".venv")
                      and not d.endswith(".egg-info")]
        for name in names:
            path = Path(directory) / name
            if path.suffix in SUFFIXES and path != this and path.is_file() \
                    and str(path.relative_to(ROOT)) not in WRITTEN_BY_RUNS \
                    and path.stat().st_size < 2_000_000:
                files.append(path)
    return sorted(files)


def headings():
    titles = set()
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")]:
        if "_build" in page.parts:
            continue
        titles.update(match.group(1).strip().strip("`")
                      for match in re.finditer(r"^#+\s+(.+)$", page.read_text(), re.M))
    return titles


def functions_in(path):
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def citations(path):
    """(line, cited path, test name or None) of every repository path ``path`` mentions."""
    text = path.read_text(errors="replace")
    for match in PATH.finditer(text):
        cited = match.group(1).rstrip(".,;:")
        if text[match.end(1):match.end(1) + 1] in ("*", "<", "{", "$"):
            continue  # a pattern (tests/test_ansible_*.py), not a file
        yield text.count("\n", 0, match.start()) + 1, cited, match.group(2)
    if path.suffix == ".md":
        for match in MARKDOWN_LINK.finditer(text):
            target = match.group(1)
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (path.parent / target).resolve()
            yield text.count("\n", 0, match.start()) + 1, str(resolved.relative_to(ROOT)), None


def broken_citations():
    broken = []
    for path in tracked_files():
        relative = path.relative_to(ROOT)
        for line, cited, test in citations(path):
            bases = [base for base in (ROOT, *path.parents) if ROOT in (base, *base.parents)]
            if any(str((base / cited).relative_to(ROOT)) in WRITTEN_BY_RUNS for base in bases):
                continue
            target = next((base / cited for base in bases if (base / cited).exists()), ROOT / cited)
            if not target.exists():
                broken.append(f"{relative}:{line}: {cited} does not exist")
            elif test and target.suffix == ".py" and test not in functions_in(target):
                broken.append(f"{relative}:{line}: {cited} has no {test}")
    return broken


def broken_sections():
    titles = headings()
    broken = []
    for path in tracked_files():
        text = path.read_text(errors="replace")
        for match in SECTION.finditer(text):
            title = next(group for group in match.groups() if group)
            if title not in titles:
                line = text.count("\n", 0, match.start()) + 1
                broken.append(f"{path.relative_to(ROOT)}:{line}: no section {title!r}")
    return broken


def test_every_cited_file_and_test_exists():
    assert broken_citations() == []


def test_every_cited_section_exists():
    assert broken_sections() == []


@pytest.mark.parametrize("text, expected", [
    ("# see tests/test_nothing_here.py", ["tests/test_nothing_here.py does not exist"]),
    ("`tests/test_citations.py::test_no_such_test`", ["tests/test_citations.py has no test_no_such_test"]),
    ("[guide](absent.md)", ["docs/guides/absent.md does not exist"]),
    ("see tests/test_citations.py and docs/guides/quickstart.md.", []),
])
def test_the_check_finds_a_dangling_citation(tmp_path, monkeypatch, text, expected):
    page = ROOT / "docs" / "guides" / "quickstart.md"   # a real file, read as if it held ``text``
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text if self == page else
                        Path.read_bytes(self).decode("utf-8", "replace"))
    found = [message.split(": ", 1)[1] for message in broken_citations()
             if message.startswith("docs/guides/quickstart.md:")]
    assert found == expected


def test_the_check_finds_a_dangling_section(monkeypatch):
    page = ROOT / "src" / "snapshot.pyx"
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (
        '# see "Bulk calls and workers" in the README' if self == page else original(self, *a, **k)))
    assert broken_sections() == ["src/snapshot.pyx:1: no section 'Bulk calls and workers'"]
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (
        "# see the README's \"Bulk calls and workers\"" if self == page else original(self, *a, **k)))
    assert broken_sections() == ["src/snapshot.pyx:1: no section 'Bulk calls and workers'"]
