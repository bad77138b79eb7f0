#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Manage one libvirt domain snapshot
version_added: 0.1.0
description:
  - Create, delete, make current or revert to one snapshot of a libvirt domain, through virtsnap.
  - Idempotent for O(state=present), O(state=absent) and O(state=current);
    O(state=reverted) always reverts (see there).
  - Any libvirt failure fails the task with RV(ignore:msg), libvirt's error RV(ignore:code) and the
    virtsnap RV(ignore:exception_class).
extends_documentation_fragment:
  - virtsnap.libvirt.connection
  - ansible.builtin.action_common_attributes
options:
  domain:
    description:
      - Name of the domain.
    type: str
    required: true
  name:
    description:
      - Name of the snapshot.
    type: str
    required: true
  state:
    description:
      - V(present) creates the snapshot if no snapshot of that name exists. An existing
        snapshot is left as it is, whatever the other options say.
      - V(absent) deletes it if it exists (see O(children) and O(metadata_only)).
      - V(current) makes it the current snapshot without reverting the domain, by redefining
        it with libvirt's C(CREATE_REDEFINE | CREATE_CURRENT). Unchanged when it already is current.
      - V(reverted) reverts the domain to it. This always reverts and always reports
        C(changed). libvirt cannot tell whether a guest changed since its current snapshot
        (a running guest changes all the time, a shut-off guest's disk can be written by
        other tools), so "already at the snapshot" is not something the module can know;
        like V(restarted) for services, V(reverted) is an action. Guard it with C(when) if it
        should run only sometimes.
      - V(current) and V(reverted) fail when the snapshot does not exist.
    type: str
    choices: [present, absent, current, reverted]
    default: present
  description:
    description:
      - Description of a new snapshot (O(state=present)).
    type: str
  disk_only:
    description:
      - Snapshot the disks only, not the memory (C(CREATE_DISK_ONLY)). For O(state=present).
    type: bool
    default: false
  quiesce:
    description:
      - Freeze the guest's file systems during the snapshot (C(CREATE_QUIESCE)); needs the
        QEMU guest agent and O(disk_only=true). For O(state=present).
      - V(try) quiesces when the guest agent allows it and otherwise takes the snapshot
        without, with a warning.
    type: str
    choices: ['true', 'false', try]
    default: 'false'
  halt:
    description:
      - Stop the domain once the snapshot is taken (C(CREATE_HALT)). For O(state=present).
    type: bool
    default: false
  atomic:
    description:
      - All disks are snapshotted or none (C(CREATE_ATOMIC)). For O(state=present).
    type: bool
    default: false
  live:
    description:
      - Take the memory state while the guest keeps running (C(CREATE_LIVE)). For O(state=present).
    type: bool
    default: false
  xml:
    description:
      - A C(<domainsnapshot>) document to create the snapshot from, instead of O(description),
        O(disk_only), O(quiesce), O(halt), O(atomic) and O(live).
      - Its C(<name>) must be O(name) or absent (then O(name) is added).
      - It may hold secrets (for example metadata exported with passwords), so Ansible never
        logs it or returns it; no result of this collection holds secure XML.
    type: str
  children:
    description:
      - With O(state=absent), what happens to the snapshot's descendants.
      - V(keep) deletes the snapshot only; its children move up to its parent.
      - V(delete) deletes it with all its descendants (C(DELETE_CHILDREN)).
      - V(only) deletes the descendants and keeps the snapshot (C(DELETE_CHILDREN_ONLY));
        unchanged when it has none.
    type: str
    choices: [keep, delete, only]
    default: keep
  metadata_only:
    description:
      - With O(state=absent), delete libvirt's metadata only and keep the data in the
        disk images (C(DELETE_METADATA_ONLY)).
      - With O(state=present), define the snapshot's metadata from O(xml) without taking a
        snapshot (C(CREATE_REDEFINE)), for example to restore exported metadata; needs O(xml).
    type: bool
    default: false
  revert_state:
    description:
      - With O(state=reverted), the state the domain is left in.
      - V(unchanged) is the state saved in the snapshot (running, paused or shut off).
    type: str
    choices: [running, paused, unchanged]
    default: unchanged
  force:
    description:
      - With O(state=reverted), revert even when libvirt considers it risky (C(REVERT_FORCE)).
    type: bool
    default: false
  readonly:
    description:
      - Open a read-only connection. Tasks that would change something then fail with a
        message saying so; check mode and tasks with nothing to change succeed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Predicts RV(ignore:changed) and the snapshot list afterwards, and changes nothing.
  diff_mode:
    support: full
    details: The snapshot names and the current snapshot, before and after.
seealso:
  - module: virtsnap.libvirt.snapshot_info
"""

EXAMPLES = r"""
- name: Snapshot before the upgrade (nothing happens if it exists)
  virtsnap.libvirt.snapshot:
    domain: web1
    name: before-upgrade
    description: kernel 6.12

- name: Disk-only, quiesced if the guest agent answers
  virtsnap.libvirt.snapshot:
    domain: db1
    name: nightly
    disk_only: true
    quiesce: try

- name: Revert, and have the guest running afterwards
  virtsnap.libvirt.snapshot:
    domain: web1
    name: before-upgrade
    state: reverted
    revert_state: running

- name: Mark a snapshot current without reverting
  virtsnap.libvirt.snapshot:
    domain: web1
    name: before-upgrade
    state: current

- name: Delete a snapshot and everything below it, on a remote host
  virtsnap.libvirt.snapshot:
    uri: qemu+ssh://root@host2/system
    domain: web1
    name: before-upgrade
    state: absent
    children: delete
"""

RETURN = r"""
snapshot:
  description:
    - The snapshot after the task, as the JSON snapshot object of virtsnap's JSON schema
      (C(virtsnap json-schema), version 1). V(null) when it does not exist (deleted, or not yet created in check mode).
    - In check mode, the snapshot as it is before the task.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the snapshot.
      type: str
      returned: always
    domain:
      description: Name of the domain.
      type: str
      returned: always
    description:
      description: Its description, V(null) if none.
      type: str
      returned: always
    state:
      description: The domain state saved in the snapshot (V(running), V(paused), V(shutoff), V(disk-snapshot), ...).
      type: str
      returned: always
    creation_time:
      description: When it was taken, ISO 8601 in UTC.
      type: str
      returned: always
      sample: "2026-05-01T12:00:00+00:00"
    parent:
      description: Name of its parent, V(null) for a root.
      type: str
      returned: always
    is_current:
      description: Whether it is the domain's current snapshot.
      type: bool
      returned: always
    location:
      description: V(internal) or V(external).
      type: str
      returned: always
    memory:
      description: How the memory was saved, as C(mode) (V(no), V(internal) or V(external)) and C(file) (or V(null)).
      type: dict
      returned: always
    disks:
      description: One entry per disk, with C(name) (the target, such as V(vda)), C(mode), C(driver_type) and C(source) (the overlay of an external snapshot).
      type: list
      elements: dict
      returned: always
snapshots:
  description: The domain's snapshot names after the task (predicted in check mode), in virsh's order.
  returned: always
  type: list
  elements: str
  sample: [base, before-upgrade]
code:
  description: libvirt's error code (C(virErrorNumber)) when the task failed in libvirt.
  returned: failure
  type: int
  sample: 42
exception_class:
  description: The virtsnap exception class when the task failed in libvirt.
  returned: failure
  type: str
  sample: DomainNotFoundError
"""

from ansible_collections.virtsnap.libvirt.plugins.module_utils.common import (
    error_result,
    find_domain,
    open_connection,
    start_module,
    virtsnap,
)
from ansible_collections.virtsnap.libvirt.plugins.module_utils.state import (
    ARGUMENT_SPEC,
    CONTEXTS,
    CREATE_ONLY,
    run,
)


def main():
    module = start_module(ARGUMENT_SPEC,
                          mutually_exclusive=[["xml", option] for option in CREATE_ONLY])
    params = module.params
    if params["metadata_only"] and params["state"] == "present" and params["xml"] is None:
        module.fail_json(msg="metadata_only with state=present needs xml (the metadata to define)")
    context = CONTEXTS[params["state"]].format(**params)
    conn = open_connection(module, params["uri"], params["readonly"])
    try:
        dom = find_domain(module, conn, params["domain"])
        result = run(dom, params, module.check_mode)
    except virtsnap.LibvirtError as exc:
        module.fail_json(**error_result(exc, context))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    finally:
        conn.close()
    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        del result["diff"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
