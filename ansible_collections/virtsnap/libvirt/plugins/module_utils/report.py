# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The snapshot_info module's logic: what a domain's snapshots are, read only."""

from __future__ import annotations

from ansible_collections.virtsnap.libvirt.plugins.module_utils.common import tree_nodes, virtsnap


def domain_report(dom):
    """``snapshots`` (JSON snapshot objects, in virsh's name order), ``current``
    and ``tree`` of one domain, from one bulk XML fetch."""
    from virtsnap.tree import SnapshotTree, virsh_sort_key

    infos = sorted(dom.snapshot_infos(), key=lambda info: virsh_sort_key(info.name))
    current = next((info.name for info in infos if info.is_current), None)
    return {
        "snapshots": [info.to_dict() for info in infos],
        "current": current,
        "tree": tree_nodes(SnapshotTree.from_infos(infos)),
    }


def all_domains_report(conn):
    """{domain name: domain_report} for every domain of ``conn``; a domain
    undefined while this runs is left out."""
    reports = {}
    for dom in conn.list_all_domains():
        try:
            reports[dom.name] = domain_report(dom)
        except virtsnap.DomainNotFoundError:
            continue
    return reports
