"""The performance page's benchmark figures (docs/guides/performance.md) are those of
benchmarks/figures/latest.json, rendered."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_module():
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "benchmarks" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_figures_are_rendered_from_the_published_run():
    readme = _readme_module()
    report = json.loads(readme.PUBLISHED.read_text())
    assert report["instruction_counts"] and report["targets"]
    assert readme.current_section(readme.PAGE.read_text()) == readme.render(report)


def test_rewrite_replaces_only_the_marked_section():
    readme = _readme_module()
    text = f"intro\n{readme.BEGIN}\nold figures\n{readme.END}\nrest\n"
    assert readme.rewrite(text, "new\n") == f"intro\n{readme.BEGIN}\nnew\n{readme.END}\nrest\n"
