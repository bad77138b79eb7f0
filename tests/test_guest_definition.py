"""The test guests' definition (tests/libvirtd_env.py) under the daemon's security drivers."""

import xml.etree.ElementTree as ElementTree

from libvirtd_env import confining_security_models, guest_xml

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
