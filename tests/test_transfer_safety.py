"""Export and import lose nothing: import is all or nothing, export holds every snapshot.

libvirt's in-process test driver refuses what real libvirt refuses; a
snapshot file that libvirt cannot parse (an unknown ``<state>``) makes it
refuse one step of an import.
"""

import json

import pytest

import virtsnap
from support.helpers import TEST_URI, delete_all_snapshots
from support.snapshots import SHAPES, define_snapshots
from support.system import file_mode
from virtsnap import XMLFlags
from virtsnap.transfer import (INDEX_FILE, SnapshotExistsError, SnapshotsChangedError,
                               export_snapshots, import_snapshots)

FIVE = {"a": None, "b": "a", "c": "b", "d": "c", "e": "d"}
VNC_PASSWORD = "s3cr3t-Pa55"


def everything(dom):
    """Every snapshot's full XML (which holds its parent and description) and the current one."""
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    return dom.snapshot_xml_descriptions(XMLFlags.SECURE), current


def spoil(directory, name):
    """Make libvirt refuse the file of snapshot ``name`` (our own checks still pass)."""
    index = json.loads((directory / INDEX_FILE).read_text())
    [entry] = [entry for entry in index["snapshots"] if entry["name"] == name]
    path = directory / entry["file"]
    path.write_text(path.read_text().replace("<state>running</state>", "<state>bogus</state>"))


def test_a_refused_step_leaves_the_domain_as_it_was(dom, tmp_path):
    define_snapshots(dom, FIVE, current="e")
    dom.export_snapshots(tmp_path)
    delete_all_snapshots(dom)
    define_snapshots(dom, {"kept": None, "other": "kept"}, current="kept")
    before = everything(dom)
    spoil(tmp_path, "d")  # the 4th of 5
    with pytest.raises(virtsnap.LibvirtError, match="bogus"):
        dom.import_snapshots(tmp_path)
    assert everything(dom) == before


def test_a_refused_step_restores_what_replace_overwrote(dom, tmp_path):
    define_snapshots(dom, FIVE, current="e", descriptions={"b": "exported"})
    dom.export_snapshots(tmp_path)
    delete_all_snapshots(dom)
    define_snapshots(dom, {"a": None, "b": "a", "z": "a"}, current="b",
                     descriptions={"a": "old a", "b": "old b"})
    before = everything(dom)
    spoil(tmp_path, "d")
    with pytest.raises(virtsnap.LibvirtError):
        dom.import_snapshots(tmp_path, replace=True)
    assert everything(dom) == before


class InterruptedAt:
    """A real domain whose import is interrupted (Ctrl-C) before its ``n``-th redefinition."""

    def __init__(self, dom, n):
        self.dom, self.left = dom, n

    def __getattr__(self, attribute):
        return getattr(self.dom, attribute)

    def create_snapshot(self, *args, **kwargs):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        return self.dom.create_snapshot(*args, **kwargs)


def test_an_interrupted_import_is_undone(dom, tmp_path):
    define_snapshots(dom, FIVE, current="e")
    dom.export_snapshots(tmp_path)
    delete_all_snapshots(dom)
    define_snapshots(dom, {"kept": None}, current="kept")
    before = everything(dom)
    with pytest.raises(KeyboardInterrupt):
        import_snapshots(InterruptedAt(dom, 4), tmp_path)
    assert everything(dom) == before


def test_import_refuses_to_overwrite_unless_asked(dom, tmp_path):
    define_snapshots(dom, SHAPES["chain"], current="c", descriptions={"b": "exported"})
    dom.export_snapshots(tmp_path)
    delete_all_snapshots(dom)
    define_snapshots(dom, {"b": None, "x": "b"}, current="x", descriptions={"b": "mine"})
    before = everything(dom)
    with pytest.raises(SnapshotExistsError, match="'b'"):
        dom.import_snapshots(tmp_path)
    assert everything(dom) == before
    assert dom.import_snapshots(tmp_path, replace=True) == ["a", "b", "c"]
    assert dom.snapshot_parents() == {"a": None, "b": "a", "c": "b", "x": "b"}
    assert dom.get_snapshot_by_name("b").info().description == "exported"
    assert dom.current_snapshot().name == "c"


@pytest.mark.parametrize("current", [["x"], {"name": "a"}, 1])
def test_a_current_that_is_no_name_is_a_value_error(dom, tmp_path, current):
    define_snapshots(dom, SHAPES["chain"])
    dom.export_snapshots(tmp_path)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    index["current"] = current
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    delete_all_snapshots(dom)
    with pytest.raises(ValueError) as raised:
        dom.import_snapshots(tmp_path)
    assert str(tmp_path / INDEX_FILE) in str(raised.value) and "'current'" in str(raised.value)
    assert dom.num_of_snapshots() == 0


def test_carriage_returns_survive_export_and_import(dom, tmp_path):
    """"a\\rb" and "a\\nb" are two snapshots: both go out and come back, CRs intact."""
    dom.create_snapshot(name="a\rb", description="line\r\nend\r")
    dom.create_snapshot(name="a\nb", description="plain")
    before = everything(dom)
    assert sorted(dom.export_snapshots(tmp_path)) == ["a\nb", "a\rb"]
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert [(e["name"], e["parent"]) for e in index["snapshots"]] == [("a\rb", None),
                                                                      ("a\nb", "a\rb")]
    delete_all_snapshots(dom)
    assert sorted(dom.import_snapshots(tmp_path)) == ["a\nb", "a\rb"]
    assert everything(dom) == before


class CreatesMeanwhile:
    """A real domain that another client changes while the export reads its XML."""

    def __init__(self, dom, change):
        self.dom, self.change = dom, change

    def __getattr__(self, attribute):
        return getattr(self.dom, attribute)

    def snapshot_xml_descriptions(self, flags=0):
        documents = self.dom.snapshot_xml_descriptions(flags)
        with virtsnap.open(TEST_URI) as other:  # the same in-process driver state
            self.change(other.get_domain_by_name("test"))
        return documents


@pytest.mark.parametrize("change, named", [
    (lambda other: other.create_snapshot(name="newcomer"), "newcomer"),
    (lambda other: other.get_snapshot_by_name("c").delete(), "'c'"),
    (lambda other: other.get_snapshot_by_name("b").delete(), "'c'"),  # c moves up to a
])
def test_export_fails_loudly_when_snapshots_change(dom, tmp_path, change, named):
    define_snapshots(dom, SHAPES["chain"], current="c")
    with pytest.raises(SnapshotsChangedError, match=named):
        export_snapshots(CreatesMeanwhile(dom, change), tmp_path / "out")
    assert not (tmp_path / "out").exists()


SECURE_NODE = f"""<node>
  <domain type='test'>
    <name>vnc</name>
    <memory>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>
    <devices><graphics type='vnc' port='5900' passwd='{VNC_PASSWORD}'/></devices>
  </domain>
</node>
"""


def test_secure_export_keeps_passwords_and_the_default_leaves_them_out(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text(SECURE_NODE)
    with virtsnap.open(f"test://{node}") as conn:
        dom = conn.get_domain_by_name("vnc")
        dom.create_snapshot(name="s")
        dom.export_snapshots(tmp_path / "plain")
        dom.export_snapshots(tmp_path / "secure", secure=True)
        [plain] = [p for p in (tmp_path / "plain").iterdir() if p.name != INDEX_FILE]
        [secure] = [p for p in (tmp_path / "secure").iterdir() if p.name != INDEX_FILE]
        assert VNC_PASSWORD not in plain.read_text() and "<graphics type='vnc'" in plain.read_text()
        assert f"passwd='{VNC_PASSWORD}'" in secure.read_text() and file_mode(secure) == 0o600
        dom.get_snapshot_by_name("s").delete()
        dom.import_snapshots(tmp_path / "secure")
        assert VNC_PASSWORD in dom.get_snapshot_by_name("s").get_xml_description(XMLFlags.SECURE)
