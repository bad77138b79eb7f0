"""The package's namespace, and the one XML escape the core and the CLI share."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

import virtsnap
from virtsnap._snapshot import xml_escape
from virtsnap.cli.commands import snapshot_xml

DUNDERS = {"__all__", "__builtins__", "__cached__", "__dir__", "__doc__", "__file__",
           "__getattr__", "__loader__", "__name__", "__package__", "__path__", "__spec__",
           "__version__"}


def fresh_namespace(touch_every_name):
    """dir(virtsnap) and its globals in a fresh interpreter, submodules apart."""
    code = ("import json, types, virtsnap\n"
            f"if {touch_every_name}:\n"
            "    for name in virtsnap.__all__: getattr(virtsnap, name)\n"
            "modules = [n for n, v in vars(virtsnap).items() if isinstance(v, types.ModuleType)]\n"
            "print(json.dumps({'all': virtsnap.__all__, 'modules': modules,\n"
            "    'dir': [n for n in dir(virtsnap) if n not in modules],\n"
            "    'globals': [n for n in vars(virtsnap) if n not in modules]}))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("touch_every_name", [False, True])
def test_the_namespace_holds_the_documented_names_only(touch_every_name):
    """dir(virtsnap) and its globals are __all__ plus dunders (and the submodules
    that loading a name imports), before and after every name was loaded."""
    names = fresh_namespace(touch_every_name)
    assert names["dir"] == sorted(set(names["all"]) | DUNDERS)
    expected_globals = DUNDERS | (set(names["all"]) if touch_every_name else set())
    assert set(names["globals"]) == expected_globals
    assert bool(names["modules"]) == touch_every_name
    assert "TYPE_CHECKING" not in names["dir"] + names["modules"]


def test_transfer_error_is_exported():
    from virtsnap.transfer import TransferError

    assert virtsnap.TransferError is TransferError


TRICKY = ["a<b>&c", "quote ' and \" both", "cr\rlf\n", "]]>", "tab\there", "ünï"]


@pytest.mark.parametrize("text", TRICKY)
def test_xml_escape_round_trips_in_text_and_attributes(text):
    element = ElementTree.fromstring(f"<e a='{xml_escape(text)}' b=\"{xml_escape(text)}\">"
                                     f"{xml_escape(text)}</e>")
    assert element.text == text
    # An attribute value's \n and \t are normalised to spaces by every XML parser.
    assert element.get("a") == element.get("b") == text.replace("\n", " ").replace("\t", " ")


@pytest.mark.parametrize("text", TRICKY)
def test_core_and_cli_build_the_same_snapshot_names(conn, text):
    """create_snapshot(name=...) (the core) and the CLI's snapshot_xml() both escape
    with xml_escape: libvirt reads back the exact name and description either way."""
    dom = conn.get_domain_by_name("test")
    try:
        core = dom.create_snapshot(name="core " + text, description=text)
        cli = dom.create_snapshot(snapshot_xml("cli " + text, text, None, None))
        for snap, name in ((core, "core " + text), (cli, "cli " + text)):
            assert (snap.name, snap.info().description) == (name, text)
    finally:
        for snap in dom.list_all_snapshots():
            snap.delete()
