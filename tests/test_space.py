"""The min_free guard of snapshot policies, and the size parsers behind it.

The guard's figures come from storage pools on a private test-driver daemon
(tests/support/space.py): a 100 GiB pool with 95 GiB allocated has 5 GiB,
5%, free.
"""

import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import jsonschema
import libvirt
import pytest

import virtsnap
from support.private_daemon import define_domain
from support.space import disk_xml, pool_with_volume
from virtsnap.policy.config import ConfigError, parse_config
from virtsnap.policy.plan import snapshot_name
from virtsnap.policy.run import REPORT_SCHEMA, run
from virtsnap.space import (disk_usage, format_bytes, free_space, parse_size, parse_threshold,
                            space_guard)

GiB = 2 ** 30


def test_sizes_and_thresholds():
    assert parse_size("20GiB") == parse_size("20G") == 20 * GiB
    assert parse_size("512 MiB") == 512 * 2 ** 20 and parse_size("1TB") == 10 ** 12
    assert parse_size("1.5GiB") == 3 * GiB // 2 and parse_size("4096") == 4096
    assert parse_threshold("10%") == ("percent", 10.0)
    assert parse_threshold(" 20GiB ") == ("bytes", 20.0 * GiB)
    for bad in ("", "ten", "10 parsecs", "-1GiB", "101%", "%", "x%", None, 10):
        with pytest.raises(ValueError):
            parse_threshold(bad)
    assert [format_bytes(n) for n in (None, 0, 1023, 1024, 5 * GiB, 3 * 2 ** 40)] == \
        ["-", "0 B", "1023 B", "1.0 KiB", "5.0 GiB", "3.0 TiB"]


def test_min_free_in_a_policy_or_in_defaults():
    text = textwrap.dedent("""\
        [defaults]
        min_free = "10%"
        [[policy]]
        label = "a"
        [[policy]]
        label = "b"
        min_free = "20GiB"
        """)
    a, b = parse_config(text).policies
    assert (a.min_free, b.min_free) == ("10%", "20GiB")
    assert parse_config('[[policy]]\nlabel = "a"\n').policies[0].min_free is None
    for text, line in (('[[policy]]\nlabel = "a"\nmin_free = "lots"\n', 3),
                       ('[[policy]]\nlabel = "a"\nmin_free = 10\n', 3),
                       ('[defaults]\nmin_free = "200%"\n[[policy]]\nlabel = "x"\n', 2)):
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "p.toml")
        assert f"p.toml:{line}: key 'min_free'" in str(caught.value)


def policy_file(tmp_path, uri, domain, min_free, extra=""):
    path = tmp_path / f"{domain}.toml"
    path.write_text(textwrap.dedent(f"""\
        [[policy]]
        label = "hourly"
        uris = ["{uri}"]
        domains = ["{domain}"]
        interval = "1h"
        keep_last = 1
        min_free = "{min_free}"
        """) + extra)
    return path


def auto(config):
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    return result.returncode, report["hosts"][0]["domains"][0]["policies"][0]


@pytest.fixture
def full_pool(private_daemon, tmp_path, monkeypatch):
    """A domain "full" whose disk is in a pool with 5 GiB (5%) free; a connection held open."""
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    uri = private_daemon.uri()
    oracle = libvirt.open(uri)  # the test driver forgets everything with its last client
    path = pool_with_volume(oracle, "vs-full", used_gib=95)
    define_domain(uri, "full", tmp_path, disk_xml(path))
    yield uri, path
    oracle.close()


@pytest.mark.libvirtd
@pytest.mark.parametrize("min_free", ["10%", "20GiB"])
def test_below_min_free_no_snapshot_exit_1(full_pool, tmp_path, min_free):
    uri, path = full_pool
    status, report = auto(policy_file(tmp_path, uri, "full", min_free))
    assert status == 1
    assert report["status"] == "failed" and report["created"] is None
    assert report["due"]
    assert (f"free space below min_free {min_free}: vda: 5.0 GiB free of 100.0 GiB (5.0%) "
            "in pool vs-full; no snapshot taken") == report["error"]
    with virtsnap.open(uri) as conn:
        assert conn.get_domain_by_name("full").list_snapshot_names() == []
        space = free_space(conn, path)
        assert (space.free, space.total) == (5 * GiB, 100 * GiB)


@pytest.mark.libvirtd
def test_above_min_free_the_snapshot_is_taken(full_pool, tmp_path):
    uri, _ = full_pool
    status, report = auto(policy_file(tmp_path, uri, "full", "4GiB"))
    assert (status, report["status"], report["error"]) == (0, "ok", None)
    with virtsnap.open(uri) as conn:
        assert conn.get_domain_by_name("full").list_snapshot_names() == [report["created"]]


@pytest.mark.libvirtd
def test_pruning_still_runs_when_space_is_short(full_pool, tmp_path):
    uri, _ = full_pool
    config = parse_config(policy_file(tmp_path, uri, "full", "10%").read_text())
    with virtsnap.open(uri) as conn:
        dom = conn.get_domain_by_name("full")
        old = [snapshot_name("hourly", datetime.now(timezone.utc) - timedelta(hours=h))
               for h in (3, 2)]
        for name in old:
            dom.create_snapshot(name=name)
        later = datetime.now(timezone.utc) + timedelta(hours=2)  # so that one is due
        report = run(config, now=later, lock_wait=5)
        [policy] = report.hosts[0].domains[0].policies
        assert not report.ok and policy.space == "short" and "free space" in policy.error
        assert policy.created is None and policy.deleted == [old[0]]
        assert dom.list_snapshot_names() == [old[1]]


@pytest.mark.libvirtd
def test_unknown_free_space_takes_no_snapshot(private_daemon, tmp_path, monkeypatch):
    """A disk in no pool, on a path that does not exist here: free space cannot be known."""
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        define_domain(uri, "nowhere", tmp_path, disk_xml("/no/such/dir/disk.qcow2"))
        status, report = auto(policy_file(tmp_path, uri, "nowhere", "1%"))
        assert status == 1 and report["created"] is None
        assert ("free space below min_free 1%: vda (/no/such/dir/disk.qcow2): cannot be "
                "determined (no storage pool holds it)") in report["error"]
        assert space_guard(conn.get_domain_by_name("nowhere"), "1%") is not None
        assert conn.get_domain_by_name("nowhere").list_snapshot_names() == []


def test_the_filesystem_answers_for_a_local_file(tmp_path):
    """A local path in no pool: the filesystem's figures, as os.statvfs gives them."""
    with virtsnap.open("test:///default") as conn:
        space = free_space(conn, str(tmp_path / "disk.qcow2"))
        assert space.source == "filesystem" and 0 < space.total
        assert 0 <= space.free <= space.total
        assert free_space(conn, str(tmp_path / "disk.qcow2"), local=False) is None


def test_du_falls_back_to_qemu_img_where_libvirt_has_no_answer(tmp_path):
    """The test driver reports no block sizes: a local qcow2 chain is read with qemu-img."""
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2",
                    str(top)], check=True)
    images = json.loads(subprocess.run(["qemu-img", "info", "--output=json", "--backing-chain",
                                        str(top)], check=True, capture_output=True).stdout)
    with virtsnap.open("test:///default") as conn:
        xml = (f"<domain type='test'><name>du-fallback</name><memory>65536</memory>"
               f"<os><type>hvm</type></os><devices>{disk_xml(top)}</devices></domain>")
        dom = conn.to_libvirt().defineXML(xml)
        try:
            usage = disk_usage(conn.get_domain_by_name("du-fallback"))
            [disk] = usage.disks
            assert disk.complete and usage.notes == []
            assert [(layer.file, layer.allocation, layer.capacity, layer.source)
                    for layer in disk.chain] == [
                (image["filename"], image["actual-size"], image["virtual-size"], "qemu-img")
                for image in images]
            assert usage.total == sum(image["actual-size"] for image in images)
            remote = disk_usage(conn.get_domain_by_name("du-fallback"), use_qemu_img=False)
            assert [(layer.file, layer.allocation) for layer in remote.disks[0].chain] == \
                [(str(top), None)]
            assert not remote.disks[0].complete and remote.total is None
            assert "qemu-img" in remote.notes[0]
        finally:
            dom.undefine()
