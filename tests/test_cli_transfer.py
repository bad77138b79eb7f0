"""``virtsnap export --security-info`` and ``virtsnap import --replace``."""

import json
import subprocess
import sys

import pytest

import virtsnap
from support.private_daemon import define_domain
from support.snapshots import SHAPES, define_snapshots
from support.system import cli
from virtsnap.transfer import INDEX_FILE

VNC_PASSWORD = "s3cr3t-Pa55"


def test_import_replaces_only_with_replace(dom, tmp_path, capsys):
    define_snapshots(dom, SHAPES["chain"], current="c", descriptions={"b": "exported"})
    assert cli(capsys, "export", "test", str(tmp_path))[0] == 0
    dom.get_snapshot_by_name("c").delete()
    assert cli(capsys, "import", "test", str(tmp_path)) == (
        1, "", "error: domain test already has snapshot(s) 'a', 'b'; "
               "--replace overwrites them\n")
    assert dom.snapshot_parents() == {"a": None, "b": "a"}
    assert cli(capsys, "import", "test", str(tmp_path), "--replace") == (
        0, "Imported 3 snapshot(s) into domain test\n", "")
    assert dom.snapshot_parents() == SHAPES["chain"] and dom.current_snapshot().name == "c"


@pytest.mark.libvirtd
def test_export_security_info_writes_the_password(private_daemon, tmp_path):
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:  # keeps the daemon's test driver state
        define_domain(uri, "with-vnc", tmp_path,
                      devices=f"<graphics type='vnc' port='5900' passwd='{VNC_PASSWORD}'/>")
        conn.get_domain_by_name("with-vnc").create_snapshot(name="s")
        for directory, options in (("plain", []), ("secure", ["--security-info"])):
            result = subprocess.run(
                [sys.executable, "-m", "virtsnap", "-c", uri, "export", "with-vnc",
                 str(tmp_path / directory), *options], capture_output=True, text=True, timeout=60)
            assert (result.returncode, result.stderr) == (0, ""), result
        for directory, has_password in (("plain", False), ("secure", True)):
            index = json.loads((tmp_path / directory / INDEX_FILE).read_text())
            xml = (tmp_path / directory / index["snapshots"][0]["file"]).read_text()
            assert (f"passwd='{VNC_PASSWORD}'" in xml) is has_password
