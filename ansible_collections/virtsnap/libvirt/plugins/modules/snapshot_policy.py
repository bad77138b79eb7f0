#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot_policy
short_description: Take and prune snapshots by policy (virtsnap auto)
version_added: 0.1.0
description:
  - Runs virtsnap's snapshot-policy engine once, as C(virtsnap auto) does, for the domains its
    policies select on their hosts. It takes the snapshot that is due and prunes what the
    retention rules no longer keep (Proxmox Backup Server's C(keep_last), C(keep_hourly),
    C(keep_daily), C(keep_weekly), C(keep_monthly), C(keep_yearly)).
  - A policy owns only the snapshots named C(auto-<label>-<UTC time>) and never touches any
    other snapshot.
  - The policy is given inline (O(policy), for example as YAML in the playbook) or as a TOML
    file on the managed node (O(policy_file)); both have the same tables and keys, described in
    virtsnap's docs (docs/guides/scheduled-snapshots.md).
  - In check mode only the planner runs; RV(plan) says what a run would create and delete, and
    C(changed) is whether it would create or delete anything.
  - O(uri) is the host of the policies that name none (neither C(uris) nor C(defaults.uri)).
  - The task fails when anything planned failed (a host that cannot be reached, a hook, a
    deletion libvirt refused); RV(report) then says exactly what was done.
extends_documentation_fragment:
  - virtsnap.libvirt.connection
  - ansible.builtin.action_common_attributes
options:
  policy:
    description:
      - The policy document, a dict with an optional C(defaults) table and a C(policy) list
        of tables (C(label), C(uris), C(domains), C(interval), the C(keep_*) counts,
        C(quiesce), C(disk_only), C(pre_hook), C(post_hook), C(hook_timeout), C(timezone)).
    type: dict
  policy_file:
    description:
      - Path of a TOML policy file on the managed node (what C(virtsnap auto --config) reads).
    type: path
  labels:
    description:
      - Run only the policies with these labels (default all). A label that no policy has fails
        the task, as C(virtsnap auto --label) does.
    type: list
    elements: str
  domains:
    description:
      - Only these domains, as fnmatch globs; V(!glob) excludes (default all the policies select).
    type: list
    elements: str
  workers:
    description:
      - How many hosts and domains are worked on at once (threads; one connection per URI); at
        least 1.
    type: int
    default: 4
  lock_wait:
    description:
      - Seconds to wait for another run's lock on a domain before skipping it (not in check mode,
        which takes no lock); from 0 to 86400.
    type: float
    default: 60.0
attributes:
  check_mode:
    support: full
    details: Runs the planner only; RV(plan) is what a run would do.
seealso:
  - module: virtsnap.libvirt.snapshot
  - module: virtsnap.libvirt.snapshot_info
"""

EXAMPLES = r"""
- name: Hourly snapshots of the web servers, 24 hourly and 7 daily kept
  virtsnap.libvirt.snapshot_policy:
    policy:
      defaults:
        timezone: Europe/Berlin
      policy:
        - label: hourly
          domains: ["web-*", "!web-test"]
          interval: 1h
          keep_last: 3
          keep_hourly: 24
          keep_daily: 7
          quiesce: try

- name: What the policy file would do now
  virtsnap.libvirt.snapshot_policy:
    policy_file: /etc/virtsnap/policy.toml
  check_mode: true
  register: planned

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ item.domain }} [{{ item.label }}]: create {{ item.create }}, delete {{ item.delete }}"
  loop: "{{ planned.plan }}"
"""

RETURN = r"""
plan:
  description:
    - One entry per host, domain and label with something planned, in the order of the report;
      in check mode what a run would do, otherwise what this run set out to do.
  returned: always
  type: list
  elements: dict
  contains:
    uri:
      description: The host's URI.
      type: str
      returned: always
    domain:
      description: The domain's name.
      type: str
      returned: always
    label:
      description: The policy's label.
      type: str
      returned: always
    create:
      description: The snapshot to take, V(null) if none is due.
      type: str
      returned: always
      sample: auto-hourly-20261201T080000Z
    delete:
      description: The snapshots to prune, oldest first.
      type: list
      elements: str
      returned: always
report:
  description:
    - The engine's report (C(virtsnap auto --json), schema version 1), per host, domain and label,
      with C(planned), C(created), C(deleted), C(kept) and their reasons, C(refused), C(warnings),
      C(hooks) and errors.
  returned: always
  type: dict
problems:
  description: Every error of the run, one line each (empty when it succeeded).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.virtsnap.libvirt.plugins.module_utils.common import (
    argument_spec,
    start_module,
)
from ansible_collections.virtsnap.libvirt.plugins.module_utils.policy import run


def main():
    module = start_module(argument_spec({
        "policy": {"type": "dict"},
        "policy_file": {"type": "path"},
        "labels": {"type": "list", "elements": "str"},
        "domains": {"type": "list", "elements": "str"},
        "workers": {"type": "int", "default": 4},
        "lock_wait": {"type": "float", "default": 60.0},
    }), mutually_exclusive=[["policy", "policy_file"]],
        required_one_of=[["policy", "policy_file"]])
    try:
        result = run(module.params, module.check_mode)
    except ImportError as exc:  # a virtsnap without the policy engine
        module.fail_json(msg="the virtsnap on the managed node has no policy engine (%s): "
                             "pip install --upgrade virtsnap" % exc)
    except (TypeError, ValueError) as exc:
        from virtsnap.policy import ConfigError
        # a ConfigError's text is virtsnap auto's (FILE:LINE: key 'x': ...); the others
        # name the option (workers, lock_wait) or the unknown label
        module.fail_json(msg=("bad policy: %s" if isinstance(exc, ConfigError) else "%s") % exc)
    except PermissionError as exc:  # a file others could change (virtsnap.policy.trust)
        module.fail_json(msg="refused: %s" % exc)
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result["problems"]:
        module.fail_json(msg="; ".join(result["problems"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
