"""auto, prune and import through the command line's one runtime: -r, broken pipes, a closed stdout.

``-r`` means a read-only connection for every command, auto and prune
included: libvirt refuses each change, nothing is created or deleted, and the
exit status is 1. Their output goes through the same Output as the snapshot
commands, so a reader that goes away and a closed stdout end them as they
end ``list``.
"""

import json
import os
import subprocess
import sys

import pytest

import virtsnap

pytestmark = pytest.mark.libvirtd

POLICY = """\
[[policy]]
label = "hourly"
uris = ["{uri}"]
domains = ["test"]
interval = "1h"
keep_last = 1
"""
OWNED = ["auto-hourly-20240101T000000Z", "auto-hourly-20240102T000000Z"]


def virtsnap_cli(*args, **options):
    env = {key: value for key, value in os.environ.items()
           if key not in ("LIBVIRT_DEFAULT_URI", "VIRTSNAP_DEBUG")}
    return subprocess.run([sys.executable, "-m", "virtsnap", *args], env=env, timeout=120,
                          **options)


@pytest.fixture
def daemon_domain(private_daemon, tmp_path):
    """The private daemon's test domain with two snapshots the hourly policy owns,
    a connection held open (the test driver forgets its state at the last close)."""
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        dom = conn.get_domain_by_name("test")
        for name in OWNED:
            dom.create_snapshot(f"<domainsnapshot><name>{name}</name></domainsnapshot>")
        config = tmp_path / "policy.toml"
        config.write_text(POLICY.format(uri=uri))
        yield uri, dom, config


def test_readonly_auto_changes_nothing_and_fails(daemon_domain):
    uri, dom, config = daemon_domain
    result = virtsnap_cli("-r", "auto", "--config", str(config), "--json",
                          capture_output=True, text=True)
    assert result.returncode == 1, result
    report = json.loads(result.stdout)
    assert report["ok"] is False
    refused = report["hosts"][0]["domains"][0]["policies"][0]["refused"]
    assert [entry["name"] for entry in refused] == OWNED[:1]
    assert "read only access prevents" in refused[0]["error"]
    assert result.stderr == (f"error: {uri} test [hourly]: libvirt refused to delete "
                             f"{OWNED[0]}\n")
    assert sorted(dom.list_snapshot_names()) == OWNED
    done = virtsnap_cli("auto", "--config", str(config), capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")  # read-write, the same run prunes
    assert dom.list_snapshot_names() == OWNED[1:]


def test_readonly_prune_deletes_nothing_and_fails(daemon_domain):
    uri, dom, _ = daemon_domain
    argv = ["-c", uri, "prune", "test", "--label", "hourly", "--keep-last", "1"]
    refused = virtsnap_cli("-r", *argv, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr, refused
    assert sorted(dom.list_snapshot_names()) == OWNED
    pruned = virtsnap_cli(*argv, capture_output=True, text=True)
    assert pruned.returncode == 0, pruned
    assert dom.list_snapshot_names() == OWNED[1:]


def test_auto_json_to_a_reader_that_went_away(daemon_domain):
    """`virtsnap auto --json | head -c0`: no internal error, no traceback, status 1."""
    _, _, config = daemon_domain
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = virtsnap_cli("auto", "--config", str(config), "--json", stdout=writer,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (1, "")


def test_auto_json_to_a_closed_stdout(daemon_domain):
    """`virtsnap auto --json >&-`: the report is lost, and the status says so."""
    _, dom, config = daemon_domain
    result = virtsnap_cli("auto", "--config", str(config), "--json", stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (
        1, "error: cannot write to stdout: Bad file descriptor\n")


def test_readonly_import_redefines_nothing_and_fails(daemon_domain, tmp_path):
    uri, dom, _ = daemon_domain
    dom.export_snapshots(tmp_path / "export")
    for snap in reversed(dom.list_all_snapshots(virtsnap.ListFlags.TOPOLOGICAL)):
        snap.delete()
    refused = virtsnap_cli("-r", "-c", uri, "import", "test", str(tmp_path / "export"),
                           capture_output=True, text=True)
    assert (refused.returncode, refused.stdout) == (1, ""), refused
    assert refused.stderr.startswith("error: ") and "read only access prevents" in refused.stderr
    assert dom.list_snapshot_names() == []
    imported = virtsnap_cli("-c", uri, "import", "test", str(tmp_path / "export"),
                            capture_output=True, text=True)
    assert (imported.returncode, imported.stderr) == (0, ""), imported
    assert sorted(dom.list_snapshot_names()) == OWNED
