#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot_group
short_description: Snapshot several libvirt domains at one point in time, all or nothing
version_added: 0.1.0
description:
  - Takes, deletes or reverts to one snapshot of the same name on several domains (a group),
    through virtsnap's C(virtsnap.group).
  - O(state=present) pauses every running member at once (or, with O(quiesce), freezes their
    file systems through the guest agent), takes every member's snapshot, then resumes them in
    the reverse order. If any member fails, the snapshots already taken are deleted, every
    member is resumed, and the task fails naming the member and libvirt's error.
  - Idempotent for O(state=present) and O(state=absent); O(state=reverted) always reverts.
extends_documentation_fragment:
  - virtsnap.libvirt.connection
  - ansible.builtin.action_common_attributes
options:
  members:
    description:
      - The group's domains. A plain name is a domain on O(uri); C(URI/NAME), for example
        V(qemu+ssh://db1/system/db), is domain C(NAME) on C(URI). The name is what follows the
        last C(/), which must come after the first C(/) of the URI's path.
      - One connection is opened per URI.
    type: list
    elements: str
    required: true
  name:
    description:
      - Name of the group snapshot (the same on every member).
    type: str
    required: true
  state:
    description:
      - V(present) takes the group snapshot unless every member has it. When only some members
        have a snapshot of that name, the task fails and changes nothing.
      - V(absent) deletes the group snapshot from every member that has it.
      - V(reverted) reverts every member to it, in order; each member comes back in the state
        it had before the group's pause (a running member runs). Always reports C(changed).
    type: str
    choices: [present, absent, reverted]
    default: present
  description:
    description:
      - Description of a new group snapshot; the group's record is added below it.
    type: str
  quiesce:
    description:
      - Freeze the running members' file systems through the QEMU guest agent instead of
        pausing them (C(virDomainFSFreeze)). Every running member needs the agent.
    type: bool
    default: false
  disk_only:
    description:
      - Snapshot the disks only, not the memory.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Predicts RV(ignore:changed) and RV(group) and changes nothing.
seealso:
  - module: virtsnap.libvirt.snapshot
"""

EXAMPLES = r"""
- name: One point in time for the database and its application server
  virtsnap.libvirt.snapshot_group:
    members:
      - qemu+ssh://root@db1/system/db
      - qemu+ssh://root@app1/system/app
    name: before-upgrade
    description: release 4.2

- name: File systems frozen by the guest agent instead of paused guests
  virtsnap.libvirt.snapshot_group:
    members: [db, app]
    name: nightly
    quiesce: true
    disk_only: true

- name: Back to the point in time, every member in the state it had
  virtsnap.libvirt.snapshot_group:
    members: [db, app]
    name: before-upgrade
    state: reverted

- name: Delete it everywhere
  virtsnap.libvirt.snapshot_group:
    members: [db, app]
    name: before-upgrade
    state: absent
"""

RETURN = r"""
group:
  description:
    - The group snapshot after the task (before it, in check mode), V(null) when no member
      has it.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the group snapshot.
      type: str
      returned: always
    members:
      description: The members recorded when it was taken, as C(URI/NAME).
      type: list
      elements: str
      returned: always
    present:
      description: The members given that hold it, as C(URI/NAME).
      type: list
      elements: str
      returned: always
    complete:
      description: Whether every recorded member was given and holds it.
      type: bool
      returned: always
    creation_time:
      description: When it was taken (the earliest member), ISO 8601 in UTC.
      type: str
      returned: always
    description:
      description: The description given when it was taken, V(null) if none.
      type: str
      returned: always
members:
  description:
    - What the task did to each member, in order (empty when nothing was done or in check mode).
    - C(state) is the member's state before the group's pause; C(stopped) is V(paused),
      V(frozen) or V(null); C(stopped_for) how long, in seconds.
  returned: always
  type: list
  elements: dict
  sample: [{member: "qemu:///system/db", state: running, stopped: paused, stopped_for: 0.042,
            frozen_filesystems: null}]
failed_member:
  description: The member (C(URI/NAME)) at which the task failed.
  returned: failure
  type: str
done:
  description:
    - With O(state=reverted) or O(state=absent), the members already done when a member failed.
  returned: failure
  type: list
  elements: str
code:
  description: libvirt's error code (C(virErrorNumber)) when the task failed in libvirt.
  returned: failure
  type: int
exception_class:
  description: The virtsnap exception class when the task failed in libvirt.
  returned: failure
  type: str
"""

from ansible_collections.virtsnap.libvirt.plugins.module_utils.common import (
    argument_spec,
    error_result,
    start_module,
    virtsnap,
)

ARGUMENT_SPEC = argument_spec({
    "members": {"type": "list", "elements": "str", "required": True},
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent", "reverted"], "default": "present"},
    "description": {"type": "str"},
    "quiesce": {"type": "bool", "default": False},
    "disk_only": {"type": "bool", "default": False},
})


def holders(members, name):
    """The members that hold a snapshot ``name``."""
    return [dom for dom in members if name in dom.list_snapshot_names()]


def point(members, name):
    from virtsnap.group import group_list

    found = [p for p in group_list(members) if p.name == name]
    return found[0].to_dict() if found else None


def apply(module, members):
    """(changed, member reports) for the task; fail_json on a refused request."""
    from virtsnap.group import group_create, group_delete, group_revert, member_label

    params = module.params
    name = params["name"]
    have = holders(members, name)
    if params["state"] == "present":
        if len(have) == len(members):
            return False, []
        if have:
            module.fail_json(msg="group snapshot '%s' exists on some members only (%s); "
                                 "nothing was changed" % (name, ", ".join(
                                     member_label(dom) for dom in have)),
                             failed_member=member_label(have[0]))
        if module.check_mode:
            return True, []
        result = group_create(members, name, description=params["description"],
                              quiesce=params["quiesce"], disk_only=params["disk_only"])
        return True, result.to_dict()["members"]
    if params["state"] == "absent":
        if not have:
            return False, []
        if module.check_mode:
            return True, []
        return True, group_delete(have, name).to_dict()["members"]
    if len(have) != len(members):
        missing = [member_label(dom) for dom in members if dom not in have]
        module.fail_json(msg="cannot revert to group snapshot '%s': missing on %s; nothing "
                             "was changed" % (name, ", ".join(missing)),
                         failed_member=missing[0])
    if module.check_mode:
        return True, []
    return True, group_revert(members, name).to_dict()["members"]


def main():
    module = start_module(ARGUMENT_SPEC)
    from virtsnap.group import GroupError, open_members

    params = module.params
    context = "group snapshot '%s' (%s)" % (params["name"], params["state"])
    try:
        members = open_members(params["members"], params["uri"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except virtsnap.LibvirtError as exc:
        module.fail_json(**error_result(exc, "cannot reach the members"))
    with members:
        try:
            changed, reports = apply(module, members)
            group = point(members, params["name"])
        except GroupError as exc:
            failure = error_result(exc, context)
            module.fail_json(failed_member=exc.member, done=exc.done, **failure)
        except virtsnap.LibvirtError as exc:
            module.fail_json(**error_result(exc, context))
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    module.exit_json(changed=changed, group=group, members=reports)


if __name__ == "__main__":
    main()
