# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The snapshot_policy module's logic: virtsnap's policy engine (``virtsnap auto``)
run once, with its plan and report as the module's result."""

from __future__ import annotations


class UnknownLabel(ValueError):
    """``labels`` names a label that no policy has."""


def load(params):
    """The engine's Config from ``policy`` (a mapping, e.g. inline YAML) or ``policy_file``.

    Raises ValueError (virtsnap.policy.ConfigError) naming what is wrong, or, as
    root, PermissionError for a policy file others could change.
    """
    from virtsnap.policy import config_from_document
    from virtsnap.policy.trust import load_trusted_config

    if params["policy_file"] is not None:
        return load_trusted_config(params["policy_file"])
    return config_from_document(params["policy"], "policy option")


def plan_entries(report):
    """One {"uri", "domain", "label", "create", "delete"} per domain and label with work planned."""
    entries = []
    for host in report["hosts"]:
        for domain in host["domains"]:
            for policy in domain["policies"]:
                planned = policy["planned"]
                if planned["create"] is not None or planned["delete"]:
                    entries.append({"uri": host["uri"], "domain": domain["name"],
                                    "label": policy["label"], "create": planned["create"],
                                    "delete": planned["delete"]})
    return entries


def problems(report):
    """Every error of a run, one line each: a host that failed, a domain, a label."""
    lines = []
    for host in report["hosts"]:
        if host["error"]:
            lines.append("%s: %s" % (host["uri"], host["error"]))
        for domain in host["domains"]:
            where = "%s %s" % (host["uri"], domain["name"])
            if domain["error"]:
                lines.append("%s: %s" % (where, domain["error"]))
            lines.extend("%s [%s]: %s" % (where, policy["label"], policy["error"])
                         for policy in domain["policies"] if policy["error"])
    return lines


def run(params, check_mode):
    """Run the policies once (a dry run in check mode): the module's result.

    ``changed`` is whether the plan creates or deletes anything (check mode)
    or whether anything was created or deleted.
    """
    from virtsnap.policy.run import check_run_options, run as run_policies

    check_run_options(params["workers"], params["lock_wait"])
    config = load(params)
    unknown = sorted(set(params["labels"] or ()) - {policy.label for policy in config.policies})
    if unknown:  # as virtsnap auto --label refuses them
        raise UnknownLabel("%s: no policy with label %s" % (config.filename, ", ".join(unknown)))
    report = run_policies(config, labels=params["labels"], domains=params["domains"] or (),
                          dry_run=check_mode, workers=params["workers"],
                          lock_wait=params["lock_wait"], default_uri=params["uri"]).to_dict()
    planned = plan_entries(report)
    if check_mode:
        changed = bool(planned)
    else:
        changed = any(policy["created"] is not None or policy["deleted"]
                      for host in report["hosts"] for domain in host["domains"]
                      for policy in domain["policies"])
    warnings = ["%s %s [%s]: %s" % (host["uri"], domain["name"], policy["label"], text)
                for host in report["hosts"] for domain in host["domains"]
                for policy in domain["policies"] for text in policy["warnings"]]
    return {"changed": changed, "plan": planned, "report": report,
            "problems": problems(report), "warnings": warnings}
