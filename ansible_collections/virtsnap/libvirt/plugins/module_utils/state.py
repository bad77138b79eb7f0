# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The snapshot module's logic: plan what a state needs, then do it.

:func:`plan` reads the domain and predicts the change (names and current
snapshot after it) without touching anything; check mode stops there.
:func:`apply` carries the plan out. :func:`run` does both and builds the
module's result.
"""

from __future__ import annotations

from xml.etree import ElementTree

from ansible_collections.virtsnap.libvirt.plugins.module_utils.common import argument_spec, virtsnap

ARGUMENT_SPEC = argument_spec({
    "domain": {"type": "str", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "default": "present",
              "choices": ["present", "absent", "current", "reverted"]},
    "description": {"type": "str"},
    "disk_only": {"type": "bool", "default": False},
    "quiesce": {"type": "str", "default": "false", "choices": ["true", "false", "try"]},
    "halt": {"type": "bool", "default": False},
    "atomic": {"type": "bool", "default": False},
    "live": {"type": "bool", "default": False},
    # Redefined metadata is often exported with its secrets (XMLFlags.SECURE):
    # never logged nor echoed back in the result's invocation.
    "xml": {"type": "str", "no_log": True},
    "children": {"type": "str", "default": "keep", "choices": ["keep", "delete", "only"]},
    "metadata_only": {"type": "bool", "default": False},
    "revert_state": {"type": "str", "default": "unchanged",
                     "choices": ["running", "paused", "unchanged"]},
    "force": {"type": "bool", "default": False},
}, readonly=False)
# Options that describe a new snapshot, which xml replaces.
CREATE_ONLY = ["description", "disk_only", "quiesce", "halt", "atomic", "live"]
# The error context per state, e.g. "cannot delete snapshot 'a' of domain 'vm1'".
CONTEXTS = {
    "present": "cannot create snapshot '{name}' of domain '{domain}'",
    "absent": "cannot delete snapshot '{name}' of domain '{domain}'",
    "current": "cannot make '{name}' the current snapshot of domain '{domain}'",
    "reverted": "cannot revert domain '{domain}' to snapshot '{name}'",
}
CREATE_OPTIONS = (("disk_only", "DISK_ONLY"), ("halt", "HALT"), ("atomic", "ATOMIC"),
                  ("live", "LIVE"))
REVERT_STATES = {"running": "RUNNING", "paused": "PAUSED", "unchanged": None}


class ReadOnlyError(ValueError):
    """A change is needed but the connection is read-only."""


class Plan:
    """What a state needs: ``action`` (None: nothing to do) and the snapshot
    names and current snapshot before and after it."""

    def __init__(self, action, before, after, current_before, current_after):
        self.action = action
        self.before = before
        self.after = after
        self.current_before = current_before
        self.current_after = current_after

    @property
    def changed(self):
        return self.action is not None


def sort_names(names):
    from virtsnap.tree import virsh_sort_key

    return sorted(names, key=virsh_sort_key)


def current_name(dom):
    return dom.current_snapshot().name if dom.has_current_snapshot() else None


def plan(dom, params):
    """The Plan for ``params`` (the snapshot module's parameters); reads only."""
    name, state = params["name"], params["state"]
    names = sort_names(dom.list_snapshot_names())
    current = current_name(dom)

    def change(action, after, current_after):
        return Plan(action, names, sort_names(after), current, current_after)

    unchanged = Plan(None, names, names, current, current)
    if state == "present":
        if name in names:
            return unchanged
        if params["metadata_only"]:  # CREATE_REDEFINE does not make it current
            return change("define", names + [name], current)
        return change("create", names + [name], name)
    if state == "absent":
        if name not in names:
            return unchanged
        snap = dom.get_snapshot_by_name(name)
        descendants = set(snap.list_child_snapshot_names(virtsnap.ListFlags.DESCENDANTS))
        parent = snap.get_parent()
        parent = None if parent is None else parent.name
        # libvirt's rule: a deleted current snapshot passes "current" to the parent
        # of what was deleted; with children=only, to the snapshot itself.
        if params["children"] == "only":
            if not descendants:
                return unchanged
            removed, heir = descendants, name
        elif params["children"] == "delete":
            removed, heir = descendants | {name}, parent
        else:
            removed, heir = {name}, parent
        return change("delete", [n for n in names if n not in removed],
                      heir if current in removed else current)
    snap = dom.get_snapshot_by_name(name)  # SnapshotNotFoundError if missing
    if state == "current":
        return unchanged if current == snap.name else change("make_current", names, name)
    # reverted: always a change (see the module's documentation of state=reverted)
    return change("revert", names, name)


def snapshot_xml(xml, name):
    """``xml`` with ``<name>name</name>``; ValueError if it names another snapshot."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise ValueError("xml does not parse: %s" % exc) from None
    if root.tag != "domainsnapshot":
        raise ValueError("xml must be a <domainsnapshot> document, not <%s>" % root.tag)
    element = root.find("name")
    if element is not None:
        if element.text != name:
            raise ValueError("xml names snapshot '%s' but name is '%s'" % (element.text, name))
        return xml
    element = ElementTree.Element("name")
    element.text = name
    root.insert(0, element)
    return ElementTree.tostring(root, encoding="unicode")


def create(dom, params, warnings):
    """Create (or, with metadata_only, redefine) the snapshot ``params["name"]``."""
    from virtsnap import external  # keeps an NVRAM copy beside an external snapshot

    flags = virtsnap.CreateFlags(0)
    for option, member in CREATE_OPTIONS:
        if params[option]:
            flags |= virtsnap.CreateFlags[member]
    if params["metadata_only"]:
        flags |= virtsnap.CreateFlags.REDEFINE
    if params["xml"] is not None:
        xml, name, description = snapshot_xml(params["xml"], params["name"]), None, None
    else:
        xml, name, description = None, params["name"], params["description"]
    if params["quiesce"] in ("true", "try"):
        try:
            return external.create(dom, xml, flags | virtsnap.CreateFlags.QUIESCE,
                                   name=name, description=description)
        except virtsnap.LibvirtError as exc:
            if params["quiesce"] == "true":
                raise
            if params["name"] in dom.list_snapshot_names():
                return dom.get_snapshot_by_name(params["name"])
            warnings.append("could not quiesce the guest's file systems (%s); "
                            "took the snapshot without quiescing" % exc)
    return external.create(dom, xml, flags, name=name, description=description)


def apply(dom, the_plan, params, warnings):
    """Carry out ``the_plan``; ``warnings`` collects what the user should know."""
    name = params["name"]
    if the_plan.action in ("create", "define"):
        create(dom, params, warnings)
        return
    snap = dom.get_snapshot_by_name(name)
    # virtsnap.external calls libvirt, or does what this libvirt refuses for external snapshots
    from virtsnap import external

    if the_plan.action == "delete":
        outcome = external.delete(snap, children=params["children"] == "delete",
                                  children_only=params["children"] == "only",
                                  metadata_only=params["metadata_only"])
        _say_virtsnap_did(outcome, warnings)
    elif the_plan.action == "make_current":
        xml = snap.get_xml_description(virtsnap.XMLFlags.SECURE)
        dom.create_snapshot(xml, virtsnap.CreateFlags.REDEFINE | virtsnap.CreateFlags.CURRENT)
    elif the_plan.action == "revert":
        state = REVERT_STATES[params["revert_state"]]
        outcome = external.revert(snap, running=state == "RUNNING", paused=state == "PAUSED",
                                  force=params["force"])
        _say_virtsnap_did(outcome, warnings)


def _say_virtsnap_did(outcome, warnings):
    if outcome.by == "virtsnap":
        warnings.append("this libvirt refuses it; virtsnap did it: %s" % "; ".join(outcome.steps))


def snapshot_dict(dom, name):
    """The JSON snapshot object (``snapshot`` in ``virtsnap json-schema``) for ``name``, or None
    if it does not exist."""
    if name not in dom.list_snapshot_names():
        return None
    return dom.get_snapshot_by_name(name).info().to_dict()


def run(dom, params, check_mode):
    """The snapshot module's result for ``params``: changed, snapshots, snapshot,
    diff and warnings. Raises LibvirtError, ValueError or ReadOnlyError."""
    the_plan = plan(dom, params)
    warnings = []
    if the_plan.changed and not check_mode:
        if dom.get_connect().readonly:
            raise ReadOnlyError(
                "%s: the connection is read-only (readonly: true), and this would change "
                "the domain's snapshots" % CONTEXTS[params["state"]].format(**params))
        apply(dom, the_plan, params, warnings)
        after, current = sort_names(dom.list_snapshot_names()), current_name(dom)
    else:
        after, current = the_plan.after, the_plan.current_after
    return {
        "changed": the_plan.changed,
        "snapshots": after,
        "snapshot": snapshot_dict(dom, params["name"]),
        "diff": {"before": {"snapshots": the_plan.before, "current": the_plan.current_before},
                 "after": {"snapshots": after, "current": current}},
        "warnings": warnings,
    }
