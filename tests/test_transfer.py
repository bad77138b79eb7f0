"""Export snapshot metadata to a directory and import it on another domain or host."""

import gc
import json
import os
import xml.etree.ElementTree as ElementTree

import pytest

import virtsnap
from support.helpers import TEST_URI, delete_all_snapshots
from support.snapshots import SHAPES, define_snapshots, snapshot_outline
from support.system import file_mode
from virtsnap.transfer import INDEX_FILE, import_snapshots, retarget_snapshot_xml

TWO_DOMAINS = """<node>
  <domain type='test'>
    <name>alpha</name>
    <uuid>11111111-2222-3333-4444-555555555555</uuid>
    <memory>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
  <domain type='test'>
    <name>beta</name>
    <uuid>11111111-2222-3333-4444-666666666666</uuid>
    <memory>1048576</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  </domain>
</node>
"""

ODD_NAMES = {"a/b": None, "../x": "a/b", "..": "../x", "q</name>&\"]]>": "a/b", ".hidden": None}


def test_export_writes_private_files_and_a_topological_index(dom, tmp_path):
    define_snapshots(dom, SHAPES["branches"], current="c")
    target = tmp_path / "new" / "export"
    names = dom.export_snapshots(str(target))
    assert names == ["a", "b", "d", "f", "c", "e"]
    assert file_mode(target) == 0o700
    files = sorted(os.listdir(target))
    assert files == sorted([INDEX_FILE] + [f"snapshot-000{i}.xml" for i in range(1, 7)])
    assert all(file_mode(target / name) == 0o600 for name in files)
    index = json.loads((target / INDEX_FILE).read_text())
    assert index["format"] == "virtsnap-snapshots" and index["version"] == 1
    assert index["domain"] == {"name": "test", "uuid": dom.uuid}
    assert index["current"] == "c"
    assert [(e["name"], e["parent"]) for e in index["snapshots"]] == [
        (name, SHAPES["branches"][name]) for name in names]
    for entry in index["snapshots"]:
        xml = (target / entry["file"]).read_text()
        assert xml == dom.get_snapshot_by_name(entry["name"]).get_xml_description()


def test_export_names_files_safely(dom, tmp_path):
    define_snapshots(dom, ODD_NAMES)
    target = tmp_path / "export"
    dom.export_snapshots(target)
    assert sorted(os.listdir(tmp_path)) == ["export"]
    assert all(name == INDEX_FILE or name.startswith("snapshot-") for name in os.listdir(target))
    index = json.loads((target / INDEX_FILE).read_text(encoding="utf-8"))
    assert {entry["name"] for entry in index["snapshots"]} == set(ODD_NAMES)


def test_export_replaces_files_with_wider_modes(dom, tmp_path):
    define_snapshots(dom, SHAPES["chain"], current="c")
    (tmp_path / INDEX_FILE).write_text("old")
    os.chmod(tmp_path / INDEX_FILE, 0o644)
    dom.export_snapshots(tmp_path)
    assert file_mode(tmp_path / INDEX_FILE) == 0o600
    assert json.loads((tmp_path / INDEX_FILE).read_text())["current"] == "c"


def test_migration_to_a_fresh_host(tmp_path):
    """Export from one test driver instance, import into a new one: same tree."""
    with virtsnap.open(TEST_URI) as conn:
        dom = conn.get_domain_by_name("test")
        define_snapshots(dom, SHAPES["branches"], current="d",
                         descriptions={name: f"about {name}" for name in SHAPES["branches"]})
        define_snapshots(dom, {"x/../y": "e"})
        before = snapshot_outline(dom)
        xml_before = dom.snapshot_xml_descriptions()
        dom.export_snapshots(tmp_path)
        del dom
    gc.collect()  # no handle left: the next connection gets a fresh driver state

    with virtsnap.open(TEST_URI) as conn:
        dom = conn.get_domain_by_name("test")
        assert dom.num_of_snapshots() == 0
        imported = dom.import_snapshots(tmp_path)
        try:
            assert sorted(imported) == sorted(before[0])
            assert snapshot_outline(dom) == before
            assert dom.snapshot_xml_descriptions() == xml_before
        finally:
            delete_all_snapshots(dom)


def test_import_onto_another_domain_rewrites_its_identity(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text(TWO_DOMAINS)
    with virtsnap.open(f"test://{node}") as conn:
        alpha = conn.get_domain_by_name("alpha")
        beta = conn.get_domain_by_name("beta")
        for name, parent in SHAPES["forest"].items():
            if parent is not None:
                alpha.get_snapshot_by_name(parent).revert_to()
            alpha.create_snapshot(name=name, description=f"<{name}> & more")
        alpha.export_snapshots(tmp_path / "export")
        beta.import_snapshots(tmp_path / "export")
        assert snapshot_outline(beta) == snapshot_outline(alpha)
        for xml in beta.snapshot_xml_descriptions().values():
            embedded = ElementTree.fromstring(xml).find("domain")
            assert (embedded.findtext("name"), embedded.findtext("uuid")) == ("beta", beta.uuid)


def test_redefining_another_domains_xml_needs_the_rewrite(tmp_path):
    """Why import rewrites: libvirt refuses a definition with another domain's UUID."""
    node = tmp_path / "node.xml"
    node.write_text(TWO_DOMAINS)
    with virtsnap.open(f"test://{node}") as conn:
        xml = conn.get_domain_by_name("alpha").create_snapshot(name="s").get_xml_description()
        beta = conn.get_domain_by_name("beta")
        with pytest.raises(virtsnap.InvalidArgumentError, match="must use uuid"):
            beta.create_snapshot(xml, virtsnap.CreateFlags.REDEFINE)
        beta.create_snapshot(retarget_snapshot_xml(xml, "beta", beta.uuid),
                             virtsnap.CreateFlags.REDEFINE)
        assert beta.list_snapshot_names() == ["s"]


def test_current_snapshot_with_children_is_current_after_import(dom, tmp_path):
    define_snapshots(dom, SHAPES["chain"], current="a")
    dom.export_snapshots(tmp_path)
    delete_all_snapshots(dom)
    dom.import_snapshots(tmp_path)
    assert dom.current_snapshot().name == "a"
    assert dom.snapshot_parents() == SHAPES["chain"]


def test_import_follows_the_xml_parents_not_the_index_order(dom, tmp_path):
    define_snapshots(dom, SHAPES["deep"])
    dom.export_snapshots(tmp_path)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    index["snapshots"].reverse()
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    delete_all_snapshots(dom)
    assert import_snapshots(dom, tmp_path) == list(SHAPES["deep"])
    assert dom.snapshot_parents() == SHAPES["deep"]


def test_retarget_keeps_same_domain_xml_untouched_and_namespaces():
    xml = ("<domainsnapshot><name>s</name><domain type='kvm' "
           "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>old</name>"
           "<uuid>u1</uuid><qemu:commandline><qemu:arg value='-x'/></qemu:commandline>"
           "</domain><inactiveDomain><name>old</name><uuid>u1</uuid></inactiveDomain>"
           "</domainsnapshot>")
    assert retarget_snapshot_xml(xml, "old", "u1") is xml
    rewritten = retarget_snapshot_xml(xml, "new", "u2")
    assert "<qemu:commandline>" in rewritten
    root = ElementTree.fromstring(rewritten)
    for tag in ("domain", "inactiveDomain"):
        assert (root.findtext(f"{tag}/name"), root.findtext(f"{tag}/uuid")) == ("new", "u2")
    assert root.findtext("name") == "s"


@pytest.mark.parametrize("change, message", [
    (lambda index: index.update(format="other"), "not a virtsnap snapshot index"),
    (lambda index: index.update(version=99), "unsupported index version"),
    (lambda index: index["snapshots"][0].update(file="../escape.xml"), "bad snapshot entry"),
    (lambda index: index["snapshots"][0].update(file="/etc/passwd"), "bad snapshot entry"),
    (lambda index: index["snapshots"].append(dict(index["snapshots"][0])), "listed twice"),
    (lambda index: index.update(current="nope"), "not in the index"),
    (lambda index: index["snapshots"][0].update(name="other"), "does not hold snapshot"),
])
def test_import_rejects_a_bad_export(dom, tmp_path, change, message):
    define_snapshots(dom, SHAPES["chain"])
    dom.export_snapshots(tmp_path)
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    change(index)
    (tmp_path / INDEX_FILE).write_text(json.dumps(index))
    delete_all_snapshots(dom)
    with pytest.raises(ValueError, match=message):
        dom.import_snapshots(tmp_path)
    assert dom.num_of_snapshots() == 0


def test_import_rejects_parents_in_a_cycle(dom, tmp_path):
    define_snapshots(dom, SHAPES["chain"])
    dom.export_snapshots(tmp_path)
    first = tmp_path / json.loads((tmp_path / INDEX_FILE).read_text())["snapshots"][0]["file"]
    root = ElementTree.fromstring(first.read_text())
    ElementTree.SubElement(ElementTree.SubElement(root, "parent"), "name").text = "c"
    first.write_text(ElementTree.tostring(root, encoding="unicode"))  # a -> c -> b -> a
    delete_all_snapshots(dom)
    with pytest.raises(ValueError, match="cycle"):
        dom.import_snapshots(tmp_path)
    assert dom.num_of_snapshots() == 0


def test_import_of_a_missing_directory(dom, tmp_path):
    with pytest.raises(FileNotFoundError):
        dom.import_snapshots(tmp_path / "nothing-here")
