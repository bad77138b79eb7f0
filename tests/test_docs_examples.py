"""Every Python example of the documentation runs: the ```python blocks of
README.md and of each docs/**/*.md page, in order, one process per page,
against libvirt's test driver (test:///default). Blocks that must not run
are fenced ```console or ```text."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from support.docs import ROOT, markdown_pages

FENCE = re.compile(r"^(`{3,})([^\n`]*)\n(.*?)^\1[ \t]*$", re.S | re.M)
# Fences that are not run: shell sessions, files, output; and MyST directives.
NOT_RUN = {"console", "text", "sh", "toml", "ini", "yaml", "json"}

RUNNER = r'''
import sys
for label, source in BLOCKS:
    print(f"--- {label}", flush=True)
    exec(compile(source, label, "exec"), {"__name__": "__main__"})
'''


def python_blocks(page):
    """(label, source) of each ```python block of ``page``, labelled with its line."""
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        language = match.group(2).strip()
        if language == "python":
            line = text.count("\n", 0, match.start()) + 2
            blocks.append((f"{page.relative_to(ROOT)}:{line}", match.group(3)))
    return blocks


def fence_languages(page):
    return {match.group(2).strip() for match in FENCE.finditer(page.read_text())}


PAGES_WITH_EXAMPLES = [page for page in markdown_pages() if python_blocks(page)]


def test_the_readme_and_the_guides_have_examples():
    names = {str(page.relative_to(ROOT)) for page in PAGES_WITH_EXAMPLES}
    assert "README.md" in names
    assert {"docs/guides/quickstart.md", "docs/guides/asyncio-and-events.md"} <= names


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_fence_is_python_or_marked_as_not_run(page):
    unknown = {language for language in fence_languages(page)
               if language != "python" and language not in NOT_RUN and not language.startswith("{")}
    assert not unknown, f"{page}: fences {unknown} are neither run (python) nor marked console/text"


@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=lambda page: str(page.relative_to(ROOT)))
def test_the_page_examples_run(page, tmp_path):
    blocks = python_blocks(page)
    script = tmp_path / "examples.py"
    script.write_text(f"BLOCKS = {blocks!r}\n{RUNNER}")
    env = {key: value for key, value in os.environ.items() if key != "LIBVIRT_DEFAULT_URI"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stderr == ""
    assert result.stdout.count("\n--- ") + result.stdout.startswith("--- ") == len(blocks)
