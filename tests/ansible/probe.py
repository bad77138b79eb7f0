"""What virsh and qemu-img see of a guest's snapshots, as one JSON document.

Usage: probe.py URI DOMAIN DISK. Prints {"snapshots": [names], "current": name
or null, "state": virsh domstate, "image": [internal snapshot tags of DISK]}.
Used as a task between the playbook steps of tests/test_ansible_qemu.py.
"""

import json
import subprocess
import sys


def output(*cmd, check=True):
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout if proc.returncode == 0 else ""


def main(uri, domain, disk):
    virsh = ("virsh", "-q", "-c", uri)
    image = json.loads(output("qemu-img", "info", "-U", "--output=json", disk))
    print(json.dumps({
        "snapshots": sorted(output(*virsh, "snapshot-list", "--name", domain).split()),
        # no current snapshot: virsh fails with "no current snapshot"
        "current": output(*virsh, "snapshot-current", "--name", domain, check=False).strip()
        or None,
        "state": output(*virsh, "domstate", domain).strip(),
        "image": sorted(s["name"] for s in image.get("snapshots", [])),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
