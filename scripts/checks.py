"""The tooling checks that scripts/run-tests runs as steps of their own, after pytest.

    python scripts/checks.py types            mypy --strict and stubtest
    python scripts/checks.py valgrind [ROUNDS] no leak or memcheck error through virtsnap
    python scripts/checks.py ansible-sanity   ansible-test sanity on the collection
    python scripts/checks.py readme           the docs' generated benchmark sections are current

Each runs with the interpreter that has virtsnap installed (the test
environment) and exits non-zero, saying why, when its check fails.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------- types

def mypy(*paths):
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                           "--cache-dir", os.devnull, *map(str, paths)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def types():
    """mypy --strict accepts the package and its correct use (tests/typecheck/correct.py),
    reports exactly the lines marked "# E:" of misspelt.py, and stubtest finds the
    stub and the compiled module in agreement."""
    rc, out = mypy(ROOT / "src" / "virtsnap", TESTS / "typecheck" / "correct.py")
    check(rc == 0, "mypy --strict rejects the package or its correct use:\n" + out)
    source = TESTS / "typecheck" / "misspelt.py"
    rc, out = mypy(source)
    expected = {n for n, line in enumerate(source.read_text().splitlines(), 1) if "# E:" in line}
    reported = {int(m) for m in re.findall(rf"{re.escape(source.name)}:(\d+): error", out)}
    check(rc == 1 and reported == expected,
          f"mypy --strict on misspelt.py: expected errors on lines {sorted(expected)}:\n" + out)
    stubtest = subprocess.run([sys.executable, "-m", "mypy.stubtest", "virtsnap._snapshot",
                               "--allowlist", str(TESTS / "stubtest-allowlist.txt")],
                              capture_output=True, text=True, timeout=600)
    check(stubtest.returncode == 0, "stubtest:\n" + stubtest.stdout + stubtest.stderr)


# ---------------------------------------------------------------- valgrind

VIRTSNAP_FRAME = re.compile(r"(_snapshot[.]cpython|__pyx_)")
LEAK_RE = re.compile(r"are definitely lost")
EVAL_FRAME = "_PyEval_EvalFrameDefault"
VERSION_SUPPRESSION = re.compile(
    r"used_suppression: +\d+ (libvirt-\d+\.\d+-\S+) .* suppressed: [\d,]+ bytes in ([\d,]+) blocks")


def virtsnap_records(log):
    """(leak records, error records) of a memcheck log that are virtsnap's.

    A record is virtsnap's when, from the innermost frame out, a frame of the
    compiled module comes before any frame of CPython's eval loop (the same
    rule as tests/valgrind/run.sh).
    """
    leaks, errors = [], []
    for record in re.split(r"^==\d+== *$", log, flags=re.M):
        lines = [line for line in record.strip().splitlines() if line.startswith("==")]
        if not lines:
            continue
        head, frames = lines[0], lines[1:]
        for frame in frames:
            if EVAL_FRAME in frame:
                break
            if VIRTSNAP_FRAME.search(frame):
                (leaks if LEAK_RE.search(head) else errors).append(record.strip())
                break
    return leaks, errors


def version_suppressed_blocks(log):
    """{name: blocks hidden} for the entries of a libvirt-X.Y.supp file (valgrind -s)."""
    return {m[1]: int(m[2].replace(",", "")) for m in VERSION_SUPPRESSION.finditer(log)}


def valgrind(rounds="300"):
    """tests/valgrind/run.sh: ``rounds`` rounds of the workload (about 20 calls each)
    under memcheck; nothing lost or wrong through virtsnap's module."""
    rounds = int(rounds)
    check(shutil.which("valgrind") is not None, "valgrind is not installed (scripts/bootstrap valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "memcheck.log"
        env = dict(os.environ, PYTHON=sys.executable, VALGRIND_LOG=str(log))
        proc = subprocess.run([str(TESTS / "valgrind" / "run.sh"), str(rounds)], env=env,
                              capture_output=True, text=True, timeout=1500)
        text = log.read_text() if log.exists() else ""
    check(f"workload done: {rounds} rounds" in proc.stdout, proc.stdout + proc.stderr)
    print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("valgrind-check")))
    leaks, errors = virtsnap_records(text)
    check(leaks == [] and errors == [], "\n\n".join(leaks + errors)[:5000])
    # A libvirt-X.Y.supp entry hides one-time allocations only, never one per round.
    hidden = version_suppressed_blocks(text)
    check(all(blocks < rounds for blocks in hidden.values()), f"per-round suppressions: {hidden}")
    check(proc.returncode == 0, proc.stdout[-3000:])
    check(re.search(r"ERROR SUMMARY: \d+ errors", text) is not None, "no memcheck summary")


# ---------------------------------------------------------------- ansible-test sanity

def pip_bootstrap_script(home):
    """Where ansible-test looks for its cached get-pip script under ``home``."""
    from ansible_test._internal.python_requirements import get_venv_packages

    from types import SimpleNamespace

    version = get_venv_packages(SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"]
    return Path(home) / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"


def ansible_sanity(home=None):
    """Every sanity test ansible-test has for the collection, on this Python, with
    nothing waived.

    ansible-test keeps its virtual environments and caches under $HOME/.ansible:
    it gets a HOME of its own (``home``, by default virtsnap/ansible-test-home in
    the user's cache directory, kept between runs so that its environments are
    built once), never the user's ~/.ansible. There tests/ansible/get_pip.py
    stands in for the get-pip script ansible-test would download from outside
    the package registries.
    """
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = Path(home or cache / "virtsnap" / "ansible-test-home")
    collection = ROOT / "ansible_collections" / "virtsnap" / "libvirt"
    check(not list((collection / "tests" / "sanity").glob("ignore-*.txt")), "a sanity test is waived")
    script = pip_bootstrap_script(home)
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(TESTS / "ansible" / "get_pip.py", script)
    env = dict(os.environ, HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"))
    sanity = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-test"), "sanity", "--venv", "--color", "no",
         "--python", "%d.%d" % sys.version_info[:2]],
        cwd=collection, env=env, capture_output=True, text=True, timeout=1500)
    output = sanity.stdout + sanity.stderr
    check(sanity.returncode == 0 and "ERROR" not in output, output[-6000:])
    for test in ("ansible-doc", "compile", "import", "pep8", "pylint", "validate-modules",
                 "yamllint"):
        check(f'Running sanity test "{test}"' in output, f"sanity test {test} did not run")


# ---------------------------------------------------------------- README

def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def readme():
    """The docs' generated sections equal what benchmarks/ renders from the published
    JSON: the benchmark figures, the virsh table and the asyncio figures, all on
    docs/guides/performance.md."""
    figures = load(ROOT / "benchmarks" / "readme.py", "bench_readme")
    text = figures.PAGE.read_text()
    report = json.loads(figures.PUBLISHED.read_text())
    check(report["instruction_counts"] and report["targets"], "benchmarks: empty published run")
    check(figures.current_section(text) == figures.render(report),
          "performance page: the benchmark figures differ from benchmarks/figures (make bench-readme)")
    table = load(ROOT / "benchmarks" / "readme_virsh_table.py", "readme_virsh_table")
    results = json.loads((ROOT / "benchmarks" / "cli-virsh.json").read_text())
    check({row["n"] for row in results["rows"]} == {1000, 10_000}
          and all(row["identical_output"] for row in results["rows"]),
          "benchmarks/cli-virsh.json: a row is missing or its outputs differed")
    check(table.rewrite(text, table.render(results)) == text,
          "performance page: the virsh table differs from benchmarks/cli-virsh.json")
    aio = load(ROOT / "benchmarks" / "aio.py", "bench_aio")
    aio_report = json.loads(aio.PUBLISHED.read_text())
    check(aio_report["n"] == 1000 and set(aio_report["results"]) >= {"aio", "to_thread", "latency_aio"},
          "benchmarks: the published asyncio run is incomplete")
    check(aio.page_section(text) == aio.rendered_section(aio_report),
          "performance page: the asyncio figures differ from the published run")


CHECKS = {"types": types, "valgrind": valgrind, "ansible-sanity": ansible_sanity,
          "readme": readme}


def main(argv):
    if not argv or argv[0] not in CHECKS:
        sys.exit(f"usage: checks.py {{{','.join(CHECKS)}}} [ARGS]")
    try:
        CHECKS[argv[0]](*argv[1:])
    except CheckFailed as failure:
        print(f"check {argv[0]} FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"check {argv[0]}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
