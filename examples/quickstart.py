"""virtsnap quick start on libvirt's built-in test driver (no daemon needed).

Creates a small snapshot tree, lists it, reads XML, reverts and deletes,
printing each step. Run: python examples/quickstart.py [URI]
"""

import sys

import virtsnap
from virtsnap import DeleteFlags, ListFlags, RevertFlags


def main(uri="test:///default"):
    print(f"virtsnap {virtsnap.__version__}, libvirt {virtsnap.libvirt_version()}")
    with virtsnap.open(uri) as conn:
        dom = conn.get_domain_by_name("test")
        print(f"1. connected to {conn.uri}; domain {dom.name!r} is {dom.state().name}")

        base = dom.create_snapshot(name="base", description="clean install")
        dom.create_snapshot(name="configured")
        base.revert_to()
        dom.create_snapshot(name="experiment")
        print(f"2. created {dom.num_of_snapshots()} snapshots: {sorted(dom.list_snapshot_names())}")

        for snap in dom.list_all_snapshots(ListFlags.TOPOLOGICAL):
            parent = snap.get_parent()
            print(f"   {snap.name:<12} parent={parent.name if parent else '-':<6}"
                  f" current={snap.is_current()}")

        xml = base.get_xml_description()
        print(f"3. XML of 'base' ({len(xml)} bytes) starts: {xml.splitlines()[1].strip()}")

        base.revert_to(RevertFlags.PAUSED)
        print(f"4. reverted to 'base' paused: state={dom.state().name},"
              f" current={dom.current_snapshot().name}")

        base.delete(DeleteFlags.CHILDREN)
        print(f"5. deleted 'base' and its children: {dom.num_of_snapshots()} snapshots left")


if __name__ == "__main__":
    main(*sys.argv[1:])
