"""Helpers for the Ansible collection's tests (tests/test_ansible_*.py).

The collection's source is ``ansible_collections/virtsnap/libvirt`` in the
repository. :func:`installed_collection` builds its tarball with
``ansible-galaxy collection build`` and installs it into a temporary
collections path, which is the copy the playbook tests run.
:func:`run_playbook` runs ``ansible-playbook`` against localhost (or a given
inventory) with ``connection: local`` and this interpreter on the managed
side, and returns every task result with its start and end time, recorded by
``tests/ansible/callback_plugins/virtsnap_record.py``.
"""

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTION_SRC = ROOT / "ansible_collections" / "virtsnap" / "libvirt"
CALLBACKS = Path(__file__).resolve().parents[1] / "ansible" / "callback_plugins"
BIN = Path(sys.executable).parent


def ansible_bin(name):
    """An ansible command of the environment the tests run in."""
    return str(BIN / name)


def run(cmd, env=None, timeout=600, cwd=None):
    """Run ``cmd``; its CompletedProcess (text). Never raises for an exit status."""
    return subprocess.run([str(part) for part in cmd], env=env, cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)


def installed_collection(workdir):
    """Build the collection tarball and install it under ``workdir``; the collections path."""
    workdir = Path(workdir)
    built = run([ansible_bin("ansible-galaxy"), "collection", "build", "--force",
                 "--output-path", workdir / "dist", COLLECTION_SRC])
    assert built.returncode == 0, built.stdout + built.stderr
    tarballs = list((workdir / "dist").glob("virtsnap-libvirt-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    path = workdir / "collections"
    installed = run([ansible_bin("ansible-galaxy"), "collection", "install", "--force",
                     "-p", path, tarballs[0]], env=ansible_env(path, workdir))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return path


@functools.lru_cache(maxsize=None)
def shared_collection():
    """The collection built and installed once per test process: its collections path."""
    workdir = tempfile.mkdtemp(prefix="virtsnap-collection-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return installed_collection(workdir)


def ansible_env(collections_path, workdir):
    """The environment for an ansible command that sees only the installed collection."""
    workdir = Path(workdir)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(workdir / "ansible-remote"),
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "virtsnap_record",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    env.pop("ANSIBLE_CONFIG", None)
    return env


class PlaybookRun:
    """One ansible-playbook run: ``returncode``, ``output`` and the recorded ``results``."""

    def __init__(self, proc, records):
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.records = records

    def results(self, task):
        """{host: result} of the task named ``task``."""
        found = {r["host"]: r["result"] for r in self.records
                 if r["task"] == task and r["event"] != "start"}
        assert found, f"no result for task {task!r} in:\n{self.output}"
        return found

    def result(self, task, host="localhost"):
        return self.results(task)[host]

    def failed(self, task, host="localhost"):
        """Whether the task failed on ``host`` (the callback's event, not a result key)."""
        events = [r["event"] for r in self.records
                  if r["task"] == task and r["host"] == host and r["event"] != "start"]
        assert events, f"no result for task {task!r} on {host} in:\n{self.output}"
        return events[-1] == "failed"

    def timings(self, task):
        """{host: (start, end)}, the times the callback saw the task begin and end."""
        starts = {r["host"]: r["time"] for r in self.records
                  if r["task"] == task and r["event"] == "start"}
        ends = {r["host"]: r["time"] for r in self.records
                if r["task"] == task and r["event"] != "start"}
        return {host: (starts[host], ends[host]) for host in ends}


def run_playbook(collections_path, workdir, plays, *, inventory=None, extra_args=(),
                 env_extra=None, timeout=600, popen=False):
    """Write ``plays`` (a list of plays, as Python data) and run ansible-playbook on it.

    ``inventory`` is a dict in Ansible's YAML inventory form (default: localhost).
    With ``popen`` the process is returned still running, with ``finish()`` to
    wait for its PlaybookRun.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    number = len(list(workdir.glob("playbook-*.json")))
    playbook = workdir / f"playbook-{number}.json"  # JSON is YAML
    playbook.write_text(json.dumps(plays, indent=1))
    inventory_file = workdir / f"inventory-{number}.json"
    inventory_file.write_text(json.dumps(inventory or {
        "all": {"hosts": {"localhost": {"ansible_connection": "local"}}}}))
    record = workdir / f"record-{number}.jsonl"
    env = ansible_env(collections_path, workdir)
    env["VIRTSNAP_RECORD"] = str(record)
    env.update(env_extra or {})
    cmd = [ansible_bin("ansible-playbook"), "-i", str(inventory_file), *extra_args, str(playbook)]

    def collect(proc, stdout, stderr):
        records = ([json.loads(line) for line in record.read_text().splitlines()]
                   if record.exists() else [])
        return PlaybookRun(subprocess.CompletedProcess(cmd, proc, stdout, stderr), records)

    if popen:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

        def finish():
            stdout, stderr = proc.communicate(timeout=timeout)
            return collect(proc.returncode, stdout, stderr)

        proc.finish = finish
        return proc
    done = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    return collect(done.returncode, done.stdout, done.stderr)


def module_params(spec, **values):
    """The parameters a module sees for ``values``: the spec's defaults filled in."""
    params = {name: option.get("default") for name, option in spec.items()}
    params.update(values)
    return params
