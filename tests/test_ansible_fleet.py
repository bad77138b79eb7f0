"""A fleet: one playbook with forks=3 over three libvirt daemons, each reached by its own URI.

Each "host" is a private libvirtd (tests/support/private_daemon.py) serving the test
driver on its own socket, in the inventory as ``test+unix:///default?socket=...``.
The test holds a connection to each for the whole run, since the test driver
behind a daemon forgets its state when the last connection closes.

Parallelism is shown without timing thresholds: the daemons are frozen
(SIGSTOP) before the playbook starts, so each host's snapshot module blocks in
libvirt; they are resumed only once three snapshot modules run at the same
time. With forks=1 that moment never comes (the test would fail). The
callback's per-host start of that task (called before its worker starts)
comes before that moment and every end after it, by construction; the test
checks that too and prints the per-host timings.
"""

import time
from pathlib import Path

import pytest

import virtsnap
from support.ansible_env import run_playbook, shared_collection
from support.private_daemon import PrivateDaemon
from support.system import wait_until

pytestmark = [pytest.mark.ansible, pytest.mark.libvirtd, pytest.mark.usefixtures("libvirtd")]

HOSTS = ("hv1", "hv2", "hv3")


@pytest.fixture
def fleet(tmp_path):
    """{host: (daemon, held connection)} for three private daemons; stopped by PID."""
    daemons = {}
    try:
        for host in HOSTS:
            daemon = PrivateDaemon(tmp_path / host).start()
            daemons[host] = (daemon, virtsnap.open(daemon.uri()))
        yield daemons
    finally:
        for daemon, conn in daemons.values():
            conn.close()
            daemon.stop()  # SIGCONT first, in case it is still frozen


def module_processes(marker):
    """PIDs of running snapshot modules whose AnsiballZ file lies under ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # the interpreter running the module, not the /bin/sh -c that started it
        if (len(argv) > 1 and b"AnsiballZ_snapshot.py" in argv[1]
                and marker.encode() in argv[1] and not argv[0].endswith(b"sh")):
            pids.append(int(entry.name))
    return pids


def test_fleet_snapshot_info_delete_in_parallel(fleet, tmp_path):
    collection = shared_collection()
    inventory = {"all": {"hosts": {
        host: {"ansible_connection": "local", "vs_uri": daemon.uri()}
        for host, (daemon, _) in fleet.items()}}}
    args = {"uri": "{{ vs_uri }}", "domain": "test"}
    name = "fleet-{{ inventory_hostname }}"
    tasks = [
        {"name": "snapshot", "virtsnap.libvirt.snapshot": {**args, "name": name}},
        {"name": "info", "virtsnap.libvirt.snapshot_info": {"uri": "{{ vs_uri }}",
                                                            "domain": "all"}},
        {"name": "delete", "virtsnap.libvirt.snapshot": {**args, "name": name,
                                                         "state": "absent"}},
        {"name": "info after", "virtsnap.libvirt.snapshot_info": args},
    ]
    plays = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    workdir = tmp_path / "run"
    for daemon, _ in fleet.values():
        daemon.pause()
    proc = run_playbook(collection, workdir, plays, inventory=inventory,
                        extra_args=["--forks", "3"], popen=True)
    try:
        concurrent = wait_until(lambda: len(module_processes(str(workdir))) >= 3, timeout=120,
                                interval=0.1)
        seen_at = time.time()
    finally:
        for daemon, _ in fleet.values():
            daemon.resume()
    run = proc.finish()
    assert concurrent, "three snapshot modules never ran at once:\n" + run.output
    assert run.returncode == 0, run.output

    timings = run.timings("snapshot")
    assert set(timings) == set(HOSTS)
    for host, (start, end) in sorted(timings.items()):
        print(f"{host}: snapshot task from {start:.3f} to {end:.3f} ({end - start:.2f} s)")
    # every host's task began before the moment all three ran, and ended after it
    assert max(start for start, _ in timings.values()) < seen_at
    assert min(end for _, end in timings.values()) > seen_at

    for host, (daemon, conn) in fleet.items():
        created = run.result("snapshot", host)
        assert created["changed"] is True and created["snapshots"] == [f"fleet-{host}"]
        # each host's own daemon: its info shows its own snapshot and no other host's
        info = run.result("info", host)["domains"]
        assert list(info) == ["test"]
        assert [s["name"] for s in info["test"]["snapshots"]] == [f"fleet-{host}"]
        assert info["test"]["current"] == f"fleet-{host}"
        assert info["test"]["tree"] == [{"name": f"fleet-{host}", "children": []}]
        assert run.result("delete", host)["changed"] is True
        assert run.result("info after", host)["snapshots"] == []
        assert conn.get_domain_by_name("test").list_snapshot_names() == []
