# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every virtsnap.libvirt module shares: the virtsnap import, the connection,
errors as fail_json results, and the tree as nested nodes."""

from __future__ import annotations

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import virtsnap
except ImportError:
    virtsnap = None
    VIRTSNAP_IMPORT_ERROR = traceback.format_exc()
else:
    VIRTSNAP_IMPORT_ERROR = None

MIN_VIRTSNAP_VERSION = "0.1.0"

# The options of the doc fragment virtsnap.libvirt.connection, which every module takes.
CONNECTION_OPTIONS = {"uri": {"type": "str", "default": "qemu:///system"}}


def argument_spec(options, readonly=None):
    """A module's argument_spec: the connection's options, ``readonly`` with that default
    (unless None), then the module's own ``options``."""
    spec = dict(CONNECTION_OPTIONS)
    if readonly is not None:
        spec["readonly"] = {"type": "bool", "default": readonly}
    spec.update(options)
    return spec


def start_module(spec, **checks):
    """The AnsibleModule for ``spec`` (check mode supported; ``checks`` such as
    mutually_exclusive), once a recent enough virtsnap is known to be importable."""
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **checks)
    require_virtsnap(module)
    return module


def version_tuple(version):
    """(major, minor, patch) of a version string; missing parts count as 0."""
    numbers = [int(part) for part in re.findall(r"\d+", str(version))[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


def virtsnap_problem(installed_version):
    """Why virtsnap cannot be used, or None; ``installed_version`` is None when it is missing."""
    if installed_version is None:
        return missing_required_lib(
            "virtsnap", url="pip install virtsnap, on the managed node, into the Python "
                            "that runs the module")
    if version_tuple(installed_version) < version_tuple(MIN_VIRTSNAP_VERSION):
        return ("virtsnap %s is installed on the managed node, but this collection needs "
                "virtsnap >= %s: pip install --upgrade virtsnap"
                % (installed_version, MIN_VIRTSNAP_VERSION))
    return None


def require_virtsnap(module):
    """fail_json unless a recent enough virtsnap is importable on the managed node."""
    installed = None if virtsnap is None else getattr(virtsnap, "__version__", "0")
    problem = virtsnap_problem(installed)
    if problem is not None:
        module.fail_json(msg=problem, exception=VIRTSNAP_IMPORT_ERROR)


def error_result(exc, context):
    """The fail_json arguments for a virtsnap.LibvirtError: msg, libvirt's code, the class."""
    msg = "%s: %s" % (context, exc)
    if isinstance(exc, virtsnap.OperationDeniedError):
        msg += " (the connection is read-only)"
    return {"msg": msg, "code": exc.code, "exception_class": type(exc).__name__}


def open_connection(module, uri, readonly):
    """virtsnap.open(uri, readonly), or fail_json with the error."""
    try:
        return virtsnap.open(uri, readonly=readonly)
    except virtsnap.LibvirtError as exc:
        module.fail_json(**error_result(exc, "cannot connect to %s" % uri))
    return None  # not reached: fail_json exits


def find_domain(module, conn, name):
    """The domain ``name`` of ``conn``, or fail_json saying it is not there."""
    try:
        return conn.get_domain_by_name(name)
    except virtsnap.LibvirtError as exc:
        module.fail_json(**error_result(exc, "cannot find domain '%s' on %s" % (name, conn.uri)))
    return None  # not reached: fail_json exits


def tree_nodes(tree):
    """A SnapshotTree as [{"name", "children": [...]}, ...], built with a stack."""
    roots = []
    stack = [(name, roots) for name in reversed(tree.roots)]
    while stack:
        name, siblings = stack.pop()
        node = {"name": name, "children": []}
        siblings.append(node)
        stack.extend((child, node["children"]) for child in reversed(tree.children(name)))
    return roots
