"""Messages a user acts on: the option to pass, the file at fault, once, and prune's lookups."""

from datetime import datetime, timezone

import pytest

from support.helpers import TEST_URI
from support.snapshots import redefine
from support.system import cli
from virtsnap.policy import snapshot_name
from virtsnap.policy.run import DomainLock
from virtsnap.transfer import SnapshotExistsError


def test_an_import_clash_tells_a_cli_user_to_pass_replace(dom, tmp_path, capsys):
    dom.create_snapshot(name="base")
    dom.export_snapshots(tmp_path / "export")
    with pytest.raises(SnapshotExistsError, match=r"'base'; replace=True overwrites them$"):
        dom.import_snapshots(tmp_path / "export")
    status, out, err = cli(capsys, "import", "test", str(tmp_path / "export"))
    assert (status, out) == (1, "")
    assert err == "error: domain test already has snapshot(s) 'base'; --replace overwrites them\n"


def test_an_index_that_is_not_utf8_is_named(dom, tmp_path, capsys):
    dom.create_snapshot(name="base")
    dom.export_snapshots(tmp_path / "export")
    index = tmp_path / "export" / "index.json"
    index.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(ValueError) as caught:
        dom.import_snapshots(tmp_path / "export")
    assert str(caught.value) == f"{index}: not UTF-8 text (byte 12 is b'\\xff')"
    status, _, err = cli(capsys, "import", "test", str(tmp_path / "export"))
    assert (status, err) == (1, f"error: {caught.value}\n")


@pytest.fixture
def owned(dom):
    times = [1767225600 + hours * 3600 for hours in range(3)]   # 2026-01-01 00:00 UTC onwards
    names = [snapshot_name("x", datetime.fromtimestamp(when, timezone.utc)) for when in times]
    redefine(dom, [(name, when, "owned") for name, when in zip(names, times)])
    return names


def test_prune_takes_a_uuid_like_virsh(dom, owned, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    status, out, err = cli(capsys, "prune", dom.uuid, "--label", "x", "--keep-last", "1")
    assert (status, out, err) == (0, "", "")
    assert dom.list_snapshot_names() == [owned[-1]]


def test_prune_of_an_unknown_domain_says_so_once(dom, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "locks"))
    for extra in ([], ["-v"], ["--dry-run"]):
        status, out, err = cli(capsys, "prune", "nope", "--label", "x", "--keep-last", "1", *extra)
        assert status == 1
        assert (out + err).count("Domain not found") == 1, (extra, out, err)


def test_prune_shares_the_lock_dir_of_the_policy_file(dom, owned, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIRTSNAP_LOCK_DIR", str(tmp_path / "elsewhere"))
    locks = tmp_path / "policy-locks"
    config = tmp_path / "policy.toml"
    config.write_text(f'[defaults]\nlock_dir = "{locks}"\n[[policy]]\nlabel = "x"\n')
    with DomainLock(str(locks), TEST_URI, "test", 0):       # an auto run holds the domain
        status, out, err = cli(capsys, "prune", "test", "--label", "x", "--keep-last", "1",
                               "--config", str(config), "--lock-wait", "0")
    assert status == 1 and "another virtsnap run holds the lock of domain 'test'" in err
    assert sorted(dom.list_snapshot_names()) == sorted(owned)
    status, _, err = cli(capsys, "prune", "test", "--label", "x", "--keep-last", "1",
                         "--config", str(config))
    assert (status, err) == (0, "")
    assert dom.list_snapshot_names() == [owned[-1]]
