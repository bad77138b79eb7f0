# -*- coding: utf-8 -*-
# Copyright: virtsnap developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options, attributes, requirements and author every virtsnap.libvirt module shares
(a module's own attributes override these: snapshot supports diff mode)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  uri:
    description:
      - The libvirt connection URI, as C(virsh -c) takes it.
      - For example V(qemu:///system), V(qemu+ssh://root@host/system) or
        V(test+unix:///default?socket=/path/libvirt-sock).
    type: str
    default: qemu:///system
attributes:
  platform:
    platforms: posix
  diff_mode:
    support: none
author:
  - virtsnap developers (!UNKNOWN)
requirements:
  - virtsnap >= 0.1.0 in the Python that runs the module on the managed node (C(pip install virtsnap)).
  - libvirt's client library on the managed node (virtsnap links it).
notes:
  - The module runs on the managed node and reaches libvirt from there. To manage many
    hypervisors, either run it on each of them (default connection) or run it on one node
    with O(uri) pointing at each host's libvirtd (C(delegate_to), C(connection=local)).
"""
