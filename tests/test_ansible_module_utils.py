"""The collection's module_utils (plan, apply, report) on libvirt's test driver.

Every check-mode prediction is compared with what libvirt then really does, on
the same tree. What the test driver lacks (DELETE_METADATA_ONLY, a guest agent
to refuse quiescing) is tested on QEMU in test_ansible_qemu.py. The modules themselves run through ansible-playbook in
test_ansible_qemu.py and test_ansible_fleet.py.
"""

import sys

import pytest

import virtsnap
from support.ansible_env import ROOT, module_params
from virtsnap.tree import SnapshotTree, virsh_sort_key

pytestmark = pytest.mark.ansible

if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # ansible_collections/ (a namespace package) is found there


@pytest.fixture(scope="module")
def utils():
    """The collection's module_utils, imported from the source tree."""
    from ansible_collections.virtsnap.libvirt.plugins.module_utils import (
        common,
        policy,
        report,
        state,
    )

    return common, state, report, policy


def params(utils, **values):
    return module_params(utils[1].ARGUMENT_SPEC, uri="test:///default", domain="test", **values)


def build_tree(dom):
    """a -> b -> c and a -> d; current d."""
    dom.create_snapshot(name="a")
    dom.create_snapshot(name="b")
    dom.create_snapshot(name="c")
    dom.get_snapshot_by_name("a").revert_to()
    dom.create_snapshot(name="d")


def observed(dom):
    names = sorted(dom.list_snapshot_names(), key=virsh_sort_key)
    current = dom.current_snapshot().name if dom.has_current_snapshot() else None
    return names, current


def test_version_check(utils):
    common = utils[0]
    assert common.version_tuple("0.1.0") == (0, 1, 0)
    assert common.version_tuple("1.2") == (1, 2, 0)
    assert common.version_tuple("2.0.0rc1") == (2, 0, 0)
    assert common.virtsnap_problem(virtsnap.__version__) is None
    missing = common.virtsnap_problem(None)
    assert "virtsnap" in missing and "pip install virtsnap" in missing
    old = common.virtsnap_problem("0.0.9")
    assert "0.0.9" in old and common.MIN_VIRTSNAP_VERSION in old and "--upgrade" in old


def test_present_check_mode_predicts_then_creates_once(utils, dom):
    state = utils[1]
    p = params(utils, name="base", description="clean")
    predicted = state.run(dom, p, check_mode=True)
    assert dom.list_snapshot_names() == []
    assert predicted["changed"] is True and predicted["snapshot"] is None
    done = state.run(dom, p, check_mode=False)
    assert done["changed"] is True
    assert done["diff"] == predicted["diff"]
    assert done["snapshots"] == predicted["snapshots"] == ["base"]
    assert done["snapshot"] == dom.get_snapshot_by_name("base").info().to_dict()
    assert done["snapshot"]["description"] == "clean" and done["snapshot"]["is_current"]
    again = state.run(dom, p, check_mode=False)
    assert again["changed"] is False and again["snapshots"] == ["base"]
    assert again["diff"]["before"] == again["diff"]["after"]


@pytest.mark.parametrize("children", ["keep", "delete", "only"])
@pytest.mark.parametrize("target,current", [("a", "d"), ("b", "c"), ("b", "b"), ("a", "a")])
def test_absent_predicts_libvirt(utils, dom, children, target, current):
    state = utils[1]
    build_tree(dom)
    if current != "d":
        dom.create_snapshot(dom.get_snapshot_by_name(current).get_xml_description(),
                            virtsnap.CreateFlags.REDEFINE | virtsnap.CreateFlags.CURRENT)
    p = params(utils, name=target, state="absent", children=children)
    before = observed(dom)
    predicted = state.run(dom, p, check_mode=True)
    assert observed(dom) == before
    done = state.run(dom, p, check_mode=False)
    assert done["changed"] is predicted["changed"]
    assert done["diff"] == predicted["diff"]
    names, now_current = observed(dom)
    assert done["diff"]["after"] == {"snapshots": names, "current": now_current}
    assert state.run(dom, p, check_mode=False)["changed"] is False


def test_absent_children_only_without_children_is_no_change(utils, dom):
    state = utils[1]
    build_tree(dom)
    result = state.run(dom, params(utils, name="c", state="absent", children="only"), False)
    assert result["changed"] is False and "c" in dom.list_snapshot_names()


def test_current_redefines_without_reverting(utils, dom):
    state = utils[1]
    build_tree(dom)
    p = params(utils, name="b", state="current")
    predicted = state.run(dom, p, check_mode=True)
    assert observed(dom)[1] == "d"
    done = state.run(dom, p, check_mode=False)
    assert predicted["changed"] and done["changed"]
    assert done["diff"] == predicted["diff"]
    assert observed(dom)[1] == "b" and done["snapshot"]["is_current"]
    assert dom.get_snapshot_by_name("c").get_parent().name == "b"  # tree untouched
    assert state.run(dom, p, check_mode=False)["changed"] is False


def test_reverted_always_changes(utils, dom):
    state = utils[1]
    build_tree(dom)
    p = params(utils, name="d", state="reverted", revert_state="paused")
    predicted = state.run(dom, p, check_mode=True)
    assert predicted["changed"] is True and dom.state() == virtsnap.DomainState.RUNNING
    done = state.run(dom, p, check_mode=False)
    assert done["changed"] is True and dom.state() == virtsnap.DomainState.PAUSED
    # d was already current: reverting again is still a change (documented choice)
    assert state.run(dom, p, check_mode=False)["changed"] is True
    running = params(utils, name="b", state="reverted", revert_state="running")
    assert state.run(dom, running, False)["diff"]["after"]["current"] == "b"
    assert dom.state() == virtsnap.DomainState.RUNNING


@pytest.mark.parametrize("state_name", ["current", "reverted"])
def test_current_and_reverted_need_the_snapshot(utils, dom, state_name):
    state = utils[1]
    with pytest.raises(virtsnap.SnapshotNotFoundError):
        state.run(dom, params(utils, name="nope", state=state_name), check_mode=True)


def test_readonly_refuses_changes_but_plans(utils, dom):
    state = utils[1]
    build_tree(dom)
    with virtsnap.open("test:///default", readonly=True) as ro:
        ro_dom = ro.get_domain_by_name("test")
        p = params(utils, name="new", readonly=True)
        assert state.run(ro_dom, p, check_mode=True)["changed"] is True
        with pytest.raises(state.ReadOnlyError, match="read-only"):
            state.run(ro_dom, p, check_mode=False)
        unchanged = params(utils, name="a", readonly=True)
        assert state.run(ro_dom, unchanged, check_mode=False)["changed"] is False
    assert "new" not in dom.list_snapshot_names()


def test_xml_gets_the_name(utils, dom):
    state = utils[1]
    xml = "<domainsnapshot><description>from xml</description></domainsnapshot>"
    result = state.run(dom, params(utils, name="x", xml=xml), check_mode=False)
    assert result["snapshot"]["name"] == "x"
    assert result["snapshot"]["description"] == "from xml"
    with pytest.raises(ValueError, match="names snapshot 'y'"):
        state.snapshot_xml("<domainsnapshot><name>y</name></domainsnapshot>", "x")
    with pytest.raises(ValueError, match="<domain>"):
        state.snapshot_xml("<domain/>", "x")
    with pytest.raises(ValueError, match="does not parse"):
        state.snapshot_xml("<domainsnapshot>", "x")


def test_metadata_only_present_redefines_from_xml(utils, dom):
    state = utils[1]
    build_tree(dom)
    xml = dom.get_snapshot_by_name("c").get_xml_description(virtsnap.XMLFlags.SECURE)
    dom.get_snapshot_by_name("c").delete()  # the test driver has no METADATA_ONLY
    p = params(utils, name="c", metadata_only=True, xml=xml)
    predicted = state.run(dom, p, check_mode=True)
    done = state.run(dom, p, check_mode=False)
    assert done["diff"] == predicted["diff"] and done["changed"]
    assert observed(dom) == (["a", "b", "c", "d"], "d")
    assert done["snapshot"]["parent"] == "b"


def test_domain_report_matches_the_tree(utils, dom):
    report = utils[2]
    build_tree(dom)
    got = report.domain_report(dom)
    assert got["current"] == "d"
    assert [s["name"] for s in got["snapshots"]] == ["a", "b", "c", "d"]
    assert got["snapshots"] == [i.to_dict() for i in
                                sorted(dom.snapshot_infos(), key=lambda i: i.name)]
    assert got["tree"] == [{"name": "a", "children": [
        {"name": "b", "children": [{"name": "c", "children": []}]},
        {"name": "d", "children": []}]}]
    everything = report.all_domains_report(dom.get_connect())
    assert everything == {"test": got}


def test_tree_nodes_of_a_deep_chain_needs_no_recursion(utils):
    common = utils[0]
    depth = sys.getrecursionlimit() * 3
    parents = {f"s{i}": (f"s{i - 1}" if i else None) for i in range(depth)}
    node = common.tree_nodes(SnapshotTree(parents))[0]
    for i in range(depth - 1):
        assert node["name"] == f"s{i}" and len(node["children"]) == 1
        node = node["children"][0]
    assert node == {"name": f"s{depth - 1}", "children": []}


def test_policy_check_mode_plan_is_what_the_run_does(utils, dom, tmp_path):
    policy = utils[3]
    from support.snapshots import redefine

    old = ["auto-hourly-20260101T000000Z", "auto-hourly-20260101T010000Z"]
    redefine(dom, [(name, 1767225600 + 3600 * i, "old") for i, name in enumerate(old)])
    document = {"defaults": {"lock_dir": str(tmp_path)},
                "policy": [{"label": "hourly", "uris": ["test:///default"],
                            "interval": "1h", "keep_last": 1}]}
    params = {"uri": "qemu:///system", "policy": document, "policy_file": None,
              "labels": None, "domains": None, "workers": 2, "lock_wait": 5.0}
    checked = policy.run(params, check_mode=True)
    assert sorted(dom.list_snapshot_names()) == old
    [entry] = checked["plan"]
    assert checked["changed"] and entry["delete"] == old and entry["create"].startswith(
        "auto-hourly-")
    done = policy.run(params, check_mode=False)
    assert done["changed"] and done["problems"] == [] and done["plan"][0]["delete"] == old
    assert dom.list_snapshot_names() == [done["plan"][0]["create"]]
    again = policy.run(params, check_mode=False)
    assert again["changed"] is False and again["plan"] == []
    with pytest.raises(ValueError, match="keep_last"):
        policy.run({**params, "policy": {"policy": [{"label": "x", "keep_last": "2"}]}}, True)
