"""benchmarks/readme.py rewrites only the performance page's marked section (that the section is
current is scripts/checks.py readme, a step of scripts/run-tests)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_module():
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "benchmarks" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rewrite_replaces_only_the_marked_section():
    readme = _readme_module()
    text = f"intro\n{readme.BEGIN}\nold figures\n{readme.END}\nrest\n"
    assert readme.rewrite(text, "new\n") == f"intro\n{readme.BEGIN}\nnew\n{readme.END}\nrest\n"
