"""The Ansible guide's playbook (ansible_collections/virtsnap/libvirt/docs/playbook.yml), run for real.

The collection's README, which is also the guide docs/guides/ansible.md, shows the
file verbatim. It runs against a private libvirtd's test
driver (its domain "test" standing for the guest): once with an upgrade that
succeeds, once with one that fails, which the rescue answers with a revert.
"""

import re

import pytest

import virtsnap
from support.ansible_env import COLLECTION_SRC, ROOT, ansible_bin, ansible_env, run, shared_collection

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

PLAYBOOK = COLLECTION_SRC / "docs" / "playbook.yml"


def test_readme_shows_the_playbook_verbatim():
    blocks = re.findall(r"```yaml\n(.*?)```", (COLLECTION_SRC / "README.md").read_text(), re.S)
    assert PLAYBOOK.read_text() in blocks
    guide = (ROOT / "docs" / "guides" / "ansible.md").read_text()
    assert "```{include} ../../ansible_collections/virtsnap/libvirt/README.md" in guide


def play(tmp_path, uri, *extra):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[hypervisors]\nhv1 ansible_connection=local\n")
    env = ansible_env(shared_collection(), tmp_path)
    return run([ansible_bin("ansible-playbook"), "-i", inventory, PLAYBOOK, "-e", f"libvirt_uri={uri}", "-e", "guest=test",
                *extra], env=env)


def test_playbook_upgrade_succeeds_then_fails_and_reverts(private_daemon, tmp_path):
    uri = private_daemon.uri()
    with virtsnap.open(uri) as held:  # the daemon's test driver lives while we hold this
        dom = held.get_domain_by_name("test")
        checked = play(tmp_path, uri, "--check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert dom.list_snapshot_names() == []

        ok = play(tmp_path, uri)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert dom.list_snapshot_names() == ["before-upgrade"]
        assert "['before-upgrade'], current: before-upgrade" in ok.stdout
        assert "rescued=0" in ok.stdout

        dom.create_snapshot(name="after-upgrade")  # the guest moved on
        failed = play(tmp_path, uri, "-e", "upgrade_command=/bin/false")
        assert failed.returncode == 0, failed.stdout + failed.stderr
        assert "rescued=1" in failed.stdout
        assert dom.current_snapshot().name == "before-upgrade"  # reverted
        assert dom.state() == virtsnap.DomainState.RUNNING
        assert sorted(dom.list_snapshot_names()) == ["after-upgrade", "before-upgrade"]
