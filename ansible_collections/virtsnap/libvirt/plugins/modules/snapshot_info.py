#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot_info
short_description: Report the snapshots of libvirt domains
version_added: 0.1.0
description:
  - Lists the snapshots of one domain or of every domain, with the current snapshot and the
    snapshot tree, through virtsnap's bulk calls (one XML fetch per domain).
  - Read only; by default it opens a read-only connection, so it also works where only
    read-only access to libvirt is allowed. It never reports C(changed).
  - Any libvirt failure fails the task with RV(ignore:msg), libvirt's error RV(ignore:code) and the
    virtsnap RV(ignore:exception_class).
extends_documentation_fragment:
  - virtsnap.libvirt.connection
  - ansible.builtin.action_common_attributes
options:
  domain:
    description:
      - Name of the domain, or V(all) for every domain of the connection (results in RV(domains)).
    type: str
    required: true
  readonly:
    description:
      - Open a read-only connection.
    type: bool
    default: true
  sizes:
    description:
      - Also return RV(usage), what the domain's disks and snapshots use on disk (C(virtsnap du)).
      - The sizes come from libvirt (domain statistics with the backing chain, storage volumes);
        only where libvirt has no answer, and only for a local URI, from C(qemu-img info -U) run on
        the managed host. A size nothing could tell is V(null).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: It changes nothing, in check mode or not.
seealso:
  - module: virtsnap.libvirt.snapshot
"""

EXAMPLES = r"""
- name: Snapshots of one domain
  virtsnap.libvirt.snapshot_info:
    domain: web1
  register: web1_snapshots

- name: Show the current one
  ansible.builtin.debug:
    msg: "{{ web1_snapshots.current }}"

- name: What the snapshots of web1 cost on disk
  virtsnap.libvirt.snapshot_info:
    domain: web1
    sizes: true
  register: web1_usage

- name: Every domain of a remote host
  virtsnap.libvirt.snapshot_info:
    uri: qemu+ssh://root@host2/system
    domain: all
  register: host2

- name: Names of the snapshots of every domain there
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.snapshots | map(attribute='name') | list }}"
  loop: "{{ host2.domains | dict2items }}"
"""

RETURN = r"""
snapshots:
  description:
    - The domain's snapshots, in virsh's name order; each the JSON snapshot object of virtsnap's JSON
      schema (C(virtsnap json-schema), version 1), with the keys documented for RV(virtsnap.libvirt.snapshot#module:snapshot)
      (V(name), V(domain), V(description), V(state), V(creation_time), V(parent), V(is_current),
      V(location), V(memory), V(disks)).
  returned: when O(domain) is not V(all)
  type: list
  elements: dict
current:
  description: Name of the current snapshot, V(null) if there is none.
  returned: when O(domain) is not V(all)
  type: str
  sample: before-upgrade
tree:
  description:
    - "The snapshot forest: a list of root nodes, each a dict with C(name) and C(children)
      (a list of nodes); roots and siblings in virsh's name order."
  returned: when O(domain) is not V(all)
  type: list
  elements: dict
  sample: [{"name": "base", "children": [{"name": "before-upgrade", "children": []}]}]
usage:
  description:
    - With O(sizes=true), the document of C(virtsnap du DOMAIN --json) (schema C(du) of
      C(virtsnap json-schema)) - V(disks), each with its backing chain top first (V(file),
      V(allocation) in bytes, V(snapshot) that made the image, V(source) of the figure), V(snapshots)
      with V(vmstate), V(memory) and V(frees) where known, V(total) and V(notes).
  returned: when O(sizes=true) and O(domain) is not V(all)
  type: dict
  sample: {"domain": "web1", "uri": "qemu:///system", "disks": [], "snapshots": [], "total": 0,
           "notes": []}
domains:
  description:
    - With O(domain=all), one entry per domain name, each with RV(snapshots), RV(current) and RV(tree),
      and RV(usage) with O(sizes=true).
      A domain undefined while the module runs is left out.
  returned: when O(domain) is V(all)
  type: dict
  sample: {"web1": {"snapshots": [], "current": null, "tree": []}}
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
    argument_spec,
    error_result,
    find_domain,
    open_connection,
    start_module,
    virtsnap,
)
from ansible_collections.virtsnap.libvirt.plugins.module_utils.report import (
    all_domains_report,
    domain_report,
)

try:
    from virtsnap.space import disk_usage
except ImportError:  # reported by require_virtsnap()
    disk_usage = None


def add_usage(conn, domains):
    """``usage`` for each domain report of ``domains``; one undefined meanwhile is left out."""
    for name in list(domains):
        try:
            domains[name]["usage"] = disk_usage(conn.get_domain_by_name(name)).to_dict()
        except virtsnap.DomainNotFoundError:
            del domains[name]


def main():
    module = start_module(argument_spec({
        "domain": {"type": "str", "required": True},
        "sizes": {"type": "bool", "default": False},
    }, readonly=True))
    params = module.params
    conn = open_connection(module, params["uri"], params["readonly"])
    try:
        if params["domain"] == "all":
            result = {"domains": all_domains_report(conn)}
            if params["sizes"]:
                add_usage(conn, result["domains"])
        else:
            dom = find_domain(module, conn, params["domain"])
            result = domain_report(dom)
            if params["sizes"]:
                result["usage"] = disk_usage(dom).to_dict()
    except virtsnap.LibvirtError as exc:
        module.fail_json(**error_result(
            exc, "cannot read the snapshots of domain '%s' on %s" % (params["domain"], params["uri"])))
    finally:
        conn.close()
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
