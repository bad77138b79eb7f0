"""``virtsnap revert``/``delete`` on external snapshots and ``virtsnap check``, on a QEMU guest.

The success lines are virsh's; where this libvirt refuses, a note on stderr says
virtsnap did it. ``check`` is compared with qemu-img's view of the files.
"""

import json
import os
import subprocess
import sys

import pytest

from support.external import (
    backing_chain,
    build_chain,
    disk_file,
    external_cli,
    snapshot_image,
    view_layers,
)
from support.helpers import QEMU_URI
from support.qemu_guest import guest_fixture, qemu_conn  # noqa: F401 - fixture
from virtsnap import external

pytestmark = pytest.mark.libvirtd

guest = guest_fixture("extcli", running=False, scope="function")


@pytest.fixture
def dom(guest, qemu_conn):  # noqa: F811
    return qemu_conn.get_domain_by_name(guest.name)


def virtsnap_does_revert(dom):
    return dom.get_connect().get_lib_version() < external.REVERTS_EXTERNAL_SINCE


def test_cli_revert_and_delete(dom, guest):
    build_chain(dom, guest, 2)
    result = external_cli("revert", guest.name, "s1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Domain snapshot s1 reverted\n\n"
    if virtsnap_does_revert(dom):
        assert result.stderr.startswith("note: this libvirt refuses it; virtsnap did it: ")
    else:
        assert result.stderr == ""
    assert view_layers(disk_file(dom)) == [1]

    result = external_cli("delete", guest.name, "s2")  # outside the active chain now
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Domain snapshot s2 deleted\n\n"
    assert "virtsnap did it" in result.stderr
    assert dom.list_snapshot_names() == ["s1"]
    assert view_layers(disk_file(dom)) == [1]
    assert external_cli("check", guest.name).returncode == 0


def test_check_reports_missing_files_and_unreferenced_layers(dom, guest):
    build_chain(dom, guest, 2)
    result = external_cli("check", guest.name)
    assert (result.returncode, result.stdout) == (0, f"Domain {guest.name}: consistent\n")

    # put the disk back on s2's overlay's base by hand: s2's overlay is now needed by nothing
    s2_overlay = guest.path("s2.qcow2")
    xml = dom.get_xml_description(2).replace(s2_overlay, snapshot_image(
        dom.get_snapshot_by_name("s2")))
    dom.define_xml(xml)
    result = external_cli("check", guest.name, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["consistent"] is False
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("unreferenced-layer", s2_overlay)]

    # remove the file holding s1's data and s2's base: both snapshots and the disk lose it
    os.unlink(guest.path("s1.qcow2"))
    result = external_cli("check", guest.name)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    missing = guest.path("s1.qcow2")
    assert f"snapshot-image-missing: snapshot 's2' needs {missing}, which is gone" in lines
    assert f"missing-file: {missing} is missing" in lines


KILL = """
import os, signal, sys
import virtsnap
from virtsnap import external
with virtsnap.open(sys.argv[1]) as conn:
    dom = conn.get_domain_by_name(sys.argv[2])
    external.delete(dom.get_snapshot_by_name("s2"),
                    on_step=lambda step, index: index == 1 and os.kill(os.getpid(), signal.SIGKILL))
"""


def test_check_repair_finishes_an_interrupted_delete(dom, guest):
    build_chain(dom, guest, 3)
    external.revert(dom.get_snapshot_by_name("s1"))
    proc = subprocess.run([sys.executable, "-c", KILL, QEMU_URI, guest.name],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    result = external_cli("check", guest.name)
    assert result.returncode == 1
    assert result.stdout.startswith("unfinished-operation: delete of snapshot 's2' stopped "
                                    "after step 1 of ")
    result = external_cli("check", guest.name, "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"Domain {guest.name}: consistent"
    assert any(line.startswith("repaired: ") for line in result.stdout.splitlines())
    assert sorted(dom.list_snapshot_names()) == ["s1", "s3"]
    assert view_layers(snapshot_image(dom.get_snapshot_by_name("s3"))) == [1, 2, 3]
    assert backing_chain(snapshot_image(dom.get_snapshot_by_name("s3")))[-1] == guest.disk
