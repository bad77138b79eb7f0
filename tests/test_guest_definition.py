"""The test guests' definition (tests/support/libvirtd_env.py) under the daemon's security drivers."""

import glob
import os
import xml.etree.ElementTree as ElementTree

import pytest

from support.helpers import QEMU_URI, virsh
from support.libvirtd_env import confining_security_models, guest_xml

CAPABILITIES = """<capabilities><host>
  <secmodel><model>{first}</model><doi>0</doi></secmodel>
  <secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+64055</baselabel></secmodel>
</host></capabilities>"""


def seclabels(xml):
    return [(label.get("type"), label.get("model"), label.findtext("label"))
            for label in ElementTree.fromstring(xml).findall("seclabel")]


def test_only_drivers_besides_dac_are_turned_off():
    assert confining_security_models(CAPABILITIES.format(first="none")) == []
    assert confining_security_models(CAPABILITIES.format(first="apparmor")) == ["apparmor"]


def test_a_guest_is_unconfined_by_apparmor_and_keeps_its_static_dac_label():
    models = confining_security_models(CAPABILITIES.format(first="apparmor"))
    assert seclabels(guest_xml("g", "/tmp/disk.qcow2", models)) == [
        ("static", "dac", "+0:+0"), ("none", "apparmor", None)]
    assert seclabels(guest_xml("g", "/tmp/disk.qcow2")) == [("static", "dac", "+0:+0")]


QEMU_CAPS_CACHE = "/var/cache/libvirt/qemu/capabilities"


def cached_caps():
    return {path: os.stat(path).st_mtime_ns for path in glob.glob(f"{QEMU_CAPS_CACHE}/*.xml")}


@pytest.mark.libvirtd
def test_the_daemon_keeps_its_qemu_capabilities_between_lookups(libvirtd):
    # A lookup whose cache check fails re-probes QEMU and rewrites the file:
    # about 4 s per guest start. It fails where QEMU's user cannot open
    # /dev/kvm (scripts/libvirtd-up gives it group kvm where no udev ran).
    virsh("version", uri=QEMU_URI)
    before = cached_caps()
    assert before, f"no QEMU capabilities cached in {QEMU_CAPS_CACHE}"
    for _ in range(3):
        virsh("version", uri=QEMU_URI)
    assert cached_caps() == before, "libvirtd re-probed QEMU: can QEMU's user open /dev/kvm?"
