"""Security: no XML injection through names, read-only really is, secrets stay secret.

- ``create_snapshot(name=..., description=...)`` builds the snapshot XML
  itself: whatever the strings hold, they must come back exactly, as data.
- A read-only connection cannot create, delete or revert, nor read secure
  XML; in-process test:///default enforces read-only in libvirt's public API
  just as the daemon does, so both are tested.
- ``get_xml_description`` leaves out secrets (a VNC password here) unless
  XML_SECURE is passed; the domain with a password is defined with virsh on a
  private daemon (test_daemon_faults).
"""

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import virtsnap
from support.helpers import delete_all_snapshots
from support.private_daemon import define_domain
from support.snapshots import snapshot_state
from virtsnap import OperationDeniedError


HOSTILE = [
    "</name><description>injected</description><name>",
    "</description></domainsnapshot><domainsnapshot><name>x",
    "a & b", "&amp;", "&lt;tag&gt;", "&#x41;", "&xxe;",
    "\"double\" 'single'", "]]>", "<![CDATA[raw]]>",
    "<!ENTITY xxe SYSTEM 'file:///etc/passwd'>",
    "<!DOCTYPE d [<!ENTITY x 'y'>]>",
    "<?xml version='1.0'?>", "<!-- comment -->",
    "<memory snapshot='external' file='/etc/shadow'/>",
    " leading and trailing ", "tab\tand\nnewline", "\u2028\x85",
    "ünïcödé ✓ 😀", "a/b", "..", "-", "x" * 10_000,
]


@pytest.fixture
def test_dom(uri):
    with virtsnap.open(uri) as conn:
        dom = conn.get_domain_by_name("test")
        delete_all_snapshots(dom)
        yield dom
        delete_all_snapshots(dom)


def parsed(snap, flags=0):
    return ET.fromstring(snap.get_xml_description(flags))


def as_xml_reads(text):
    """``text`` as an XML parser reads it back from libvirt's XML.

    libvirt writes a stored carriage return raw, and XML end-of-line handling
    reads a raw CR (or CRLF) as LF: only the XML view loses it.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_stored_exactly(dom, name, description):
    snap = dom.create_snapshot(name=name, description=description)
    try:
        assert snap.name == name
        assert dom.get_snapshot_by_name(name).name == name
        root = parsed(snap)
        assert root.findtext("name") == as_xml_reads(name)
        assert root.findtext("description") == as_xml_reads(description)
        # Nothing smuggled in: one name, one description, no external memory.
        assert len(root.findall("name")) == 1 and len(root.findall("description")) == 1
        assert root.find("memory").get("file") is None
        assert dom.list_snapshot_names() == [name]
    finally:
        snap.delete()


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:30]))
def test_hostile_name_and_description_are_stored_exactly(test_dom, text):
    assert_stored_exactly(test_dom, text, text)
    assert_stored_exactly(test_dom, "plain", text)


def _xml_char(c):
    """Characters XML 1.0 can carry (libvirt rejects the rest with XMLError)."""
    o = ord(c)
    return (o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD
            or 0x10000 <= o <= 0x10FFFF)


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",)).filter(_xml_char),
                   min_size=1, max_size=80)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=XML_TEXT, description=XML_TEXT)
def test_any_text_round_trips(test_dom, name, description):
    assert_stored_exactly(test_dom, name, description)


@pytest.mark.parametrize("text", ["a\rb", "a\r\nb", "\r"], ids=["CR", "CRLF", "only CR"])
def test_carriage_return_is_stored_exactly(test_dom, text):
    """Sent as a character reference: raw, XML end-of-line handling would make it LF."""
    assert_stored_exactly(test_dom, text, text)


def test_empty_name_is_refused(test_dom):
    """libvirt would replace an empty name by one of its own: refused before any call."""
    with pytest.raises(ValueError, match="empty"):
        test_dom.create_snapshot(name="")
    assert test_dom.list_snapshot_names() == []


def test_name_and_xml_together_are_refused(test_dom):
    with pytest.raises(ValueError):
        test_dom.create_snapshot("<domainsnapshot/>", name="x")
    assert test_dom.list_snapshot_names() == []


# ---------------------------------------------------------------- read-only

MUTATIONS = {
    "create": lambda d, s: d.create_snapshot(name="ro-new"),
    "create from XML": lambda d, s: d.create_snapshot("<domainsnapshot><name>ro-x</name>"
                                                      "</domainsnapshot>"),
    "redefine": lambda d, s: d.create_snapshot(s.get_xml_description(),
                                               virtsnap.CreateFlags.REDEFINE),
    "delete": lambda d, s: s.delete(),
    "delete children": lambda d, s: s.delete(virtsnap.DeleteFlags.CHILDREN),
    "delete metadata": lambda d, s: s.delete(virtsnap.DeleteFlags.METADATA_ONLY),
    "revert": lambda d, s: s.revert_to(),
    "revert forced": lambda d, s: s.revert_to(virtsnap.RevertFlags.FORCE),
    "secure XML": lambda d, s: s.get_xml_description(virtsnap.XMLFlags.SECURE),
    "secure bulk XML": lambda d, s: d.snapshot_xml_descriptions(virtsnap.XMLFlags.SECURE),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_read_only_connection_cannot_mutate(test_dom, uri, mutation):
    base = test_dom.create_snapshot(name="base")
    test_dom.create_snapshot(name="child")
    base.revert_to()
    before = snapshot_state(test_dom)
    with virtsnap.open(uri, readonly=True) as ro:
        assert ro.readonly
        ro_dom = ro.get_domain_by_name("test")
        ro_snap = ro_dom.get_snapshot_by_name("base")
        with pytest.raises(OperationDeniedError):
            MUTATIONS[mutation](ro_dom, ro_snap)
        # Reading works, and nothing changed.
        assert sorted(ro_dom.list_snapshot_names()) == ["base", "child"]
        assert snapshot_state(ro_dom) == before
    assert snapshot_state(test_dom) == before


# ---------------------------------------------------------------- secure XML

VNC_PASSWORD = "s3cr3t-Pa55"


@pytest.mark.libvirtd
def test_secure_data_only_with_the_secure_flag(libvirtd, private_daemon, tmp_path):
    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:
        define_domain(uri, "with-vnc", tmp_path,
                      devices=f"<graphics type='vnc' port='5900' passwd='{VNC_PASSWORD}'/>")
        dom = conn.get_domain_by_name("with-vnc")
        snap = dom.create_snapshot(name="secret")

        plain = snap.get_xml_description()
        graphics = ET.fromstring(plain).find("domain/devices/graphics")
        assert graphics is not None and graphics.get("type") == "vnc"
        assert graphics.get("passwd") is None and VNC_PASSWORD not in plain
        assert VNC_PASSWORD not in dom.snapshot_xml_descriptions()["secret"]

        secure = snap.get_xml_description(virtsnap.XMLFlags.SECURE)
        graphics = ET.fromstring(secure).find("domain/devices/graphics")
        assert graphics.get("passwd") == VNC_PASSWORD
        assert VNC_PASSWORD in dom.snapshot_xml_descriptions(virtsnap.XMLFlags.SECURE)["secret"]

        with virtsnap.open(uri, readonly=True) as ro:
            ro_snap = ro.get_domain_by_name("with-vnc").get_snapshot_by_name("secret")
            assert VNC_PASSWORD not in ro_snap.get_xml_description()
            with pytest.raises(OperationDeniedError):
                ro_snap.get_xml_description(virtsnap.XMLFlags.SECURE)
