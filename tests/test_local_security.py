"""Local security (issue 27): no other user on the host can stop, steer or
hijack a root ``virtsnap auto``.

Every attack is made by a real second account, ``virtsnap-intruder``
(:mod:`support.local_user`), with its own uid through ``setpriv``; root then
runs virtsnap as a subprocess (``python -m virtsnap``) on test:///default.
Each test shows the attack failing and the legitimate set-up (a root-owned
0600 policy file, a 0700 lock directory) working. The files live in a
directory under /tmp that the intruder can reach, as /run/lock and /tmp are.
"""

import errno
import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import virtsnap
from support.local_user import as_user, other_user
from virtsnap import _files
from virtsnap._files import UnsafeFileError
from virtsnap.policy.locks import DomainLock, default_lock_dir
from virtsnap.transfer import INDEX_FILE, export_snapshots

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib" / "systemd"


@pytest.fixture(scope="module")
def intruder():
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the local-security tests run as root (they create a user)")
        pytest.skip("needs root to create another user")
    return other_user()


@pytest.fixture
def arena():
    """A directory every user can enter, with a sticky world-writable ``shared``
    (as /run/lock or /tmp) and a root-only ``private`` (mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="virtsnap-sec-", dir="/tmp"))
    base.chmod(0o755)
    (base / "shared").mkdir(mode=0o777)
    (base / "shared").chmod(0o1777)
    (base / "private").mkdir(mode=0o700)
    yield base
    shutil.rmtree(base)


def policy_text(hook_out=None, hook=None, lock_dir=None):
    hook_line = ""
    if hook is not None:
        hook_line = f"pre_hook = {json.dumps(hook)}\n"
    elif hook_out is not None:
        hook_line = f'pre_hook = ["/bin/sh", "-c", "id -u > {hook_out}"]\n'
    defaults = f'[defaults]\nlock_dir = "{lock_dir}"\n' if lock_dir else ""
    return (f'{defaults}[[policy]]\nlabel = "hourly"\nuris = ["test:///default"]\n'
            f'domains = ["test"]\ninterval = "1h"\nkeep_last = 2\n{hook_line}')


def write_root_file(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def run_auto_as_root(config, lock_dir, path=None):
    """Root's ``virtsnap -c test:///default auto --config CONFIG --json``."""
    env = {**os.environ, "VIRTSNAP_LOCK_DIR": str(lock_dir)}
    if path is not None:
        env["PATH"] = path
    result = subprocess.run([sys.executable, "-m", "virtsnap", "-c", "test:///default", "auto",
                             "--config", str(config), "--json"], env=env, capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, result.stderr


def created(stdout):
    [host] = json.loads(stdout)["hosts"]
    [domain] = host["domains"]
    return [policy["created"] for policy in domain["policies"]]


def refused(result, path, reason):
    """The run exited 1 with one line naming ``path`` and ``reason``."""
    status, stdout, stderr = result
    assert status == 1 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith(f"error: {path}: "), stderr
    assert reason in stderr, stderr


# ---------------------------------------------------------------- lock directories


def test_a_lock_directory_planted_and_held_by_another_user_is_refused(intruder, arena):
    hook_out = arena / "private" / "hook-ran"
    config = write_root_file(arena / "private" / "policy.toml", policy_text(hook_out))
    planted = arena / "shared" / "virtsnap"
    lock_name = DomainLock(str(planted), "test:///default", "test", 0).filename
    as_user(intruder, ["mkdir", "-m", "777", str(planted)])
    holder = subprocess.Popen(
        ["setpriv", f"--reuid={intruder.uid}", f"--regid={intruder.gid}", "--init-groups", "--",
         "flock", "-x", str(planted / lock_name), "-c", "echo held; exec sleep 300"],
        stdout=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    try:
        assert holder.stdout.readline() == "held\n"
        refused(run_auto_as_root(config, planted), planted,
                f"refused as a lock directory: owned by {intruder.name}")
        assert os.listdir(planted) == [lock_name]   # nothing created inside
        assert not hook_out.exists()                # no hook ran, nothing was touched
    finally:
        holder.kill()
        holder.wait()
    own = arena / "private" / "locks"               # the legitimate case: root's, 0700
    status, stdout, stderr = run_auto_as_root(config, own)
    assert (status, stderr) == (0, "") and created(stdout)[0].startswith("auto-hourly-")
    assert stat.S_IMODE(own.stat().st_mode) == 0o700 and own.stat().st_uid == 0
    assert hook_out.read_text() == "0\n"


@pytest.mark.parametrize("mode, reason", [(0o777, "writable by group or others (mode 0777)"),
                                          (0o770, "writable by group or others (mode 0770)"),
                                          (0o1777, "writable by group or others (mode 1777)")])
def test_a_root_lock_directory_others_can_write_is_refused(intruder, arena, mode, reason):
    config = write_root_file(arena / "private" / "policy.toml", policy_text())
    shared = arena / "shared" / "locks"
    shared.mkdir()
    shared.chmod(mode)
    refused(run_auto_as_root(config, shared), shared, reason)
    assert os.listdir(shared) == []


def test_a_symlinked_lock_directory_is_refused_even_to_a_good_directory(intruder, arena):
    config = write_root_file(arena / "private" / "policy.toml", policy_text())
    good = arena / "private" / "locks"
    good.mkdir(mode=0o700)
    link = arena / "shared" / "virtsnap"
    as_user(intruder, ["ln", "-s", str(good), str(link)])
    refused(run_auto_as_root(config, link), link, "is a symbolic link")
    assert os.listdir(good) == []


def test_a_lock_file_symlink_is_not_followed(arena):
    locks = arena / "private" / "locks"
    locks.mkdir(mode=0o700)
    target = arena / "private" / "victim"
    lock = DomainLock(str(locks), "test:///default", "test", 0)
    os.symlink(target, lock.path)
    with pytest.raises(OSError) as caught:
        lock.__enter__()
    assert caught.value.errno == errno.ELOOP and not target.exists()


def test_the_default_lock_directories_are_out_of_reach_of_other_users(intruder, monkeypatch):
    monkeypatch.delenv("VIRTSNAP_LOCK_DIR", raising=False)
    assert default_lock_dir() == "/run/virtsnap"    # /run: root only, unlike /run/lock
    run_mode = os.stat("/run")
    assert run_mode.st_uid == 0 and not run_mode.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    program = "from virtsnap.policy.locks import default_lock_dir; print(default_lock_dir())"
    fallback = as_user(intruder, [sys.executable, "-c", program]).stdout
    assert fallback == f"{intruder.home}/.cache/virtsnap/locks\n"
    runtime = as_user(intruder, [sys.executable, "-c", program],
                      env={"XDG_RUNTIME_DIR": f"/run/user/{intruder.uid}"}).stdout
    assert runtime == f"/run/user/{intruder.uid}/virtsnap\n"


def test_a_non_root_run_refuses_a_lock_directory_it_does_not_own(intruder, arena):
    """The intruder's own runs use their home, and refuse root's (or anyone's) directory."""
    prune = [sys.executable, "-m", "virtsnap", "-c", "test:///default", "prune", "test",
             "--label", "hourly", "--keep-last", "1"]
    root_dir = arena / "root-locks"
    root_dir.mkdir(mode=0o755)
    result = as_user(intruder, prune, env={"VIRTSNAP_LOCK_DIR": str(root_dir)}, check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"error: {root_dir}: refused as a lock directory: owned by root "
                             f"(uid 0), not by the user running virtsnap ({intruder.name} "
                             f"(uid {intruder.uid}))\n")
    shutil.rmtree(Path(intruder.home) / ".cache", ignore_errors=True)
    ok = as_user(intruder, prune, check=False)
    assert (ok.returncode, ok.stderr) == (0, "")
    own = Path(intruder.home) / ".cache" / "virtsnap" / "locks"
    assert own.stat().st_uid == intruder.uid and stat.S_IMODE(own.stat().st_mode) == 0o700


# ---------------------------------------------------------------- policy files and hooks


def test_a_policy_file_of_another_user_is_refused(intruder, arena):
    """The intruder's own policy file, in a sticky directory, must not run its hook as root."""
    hook_out = arena / "shared" / "uid"
    config = arena / "shared" / "policy.toml"
    as_user(intruder, ["sh", "-c", f"cat > {config} && chmod 666 {config}"],
            input=policy_text(hook_out))
    refused(run_auto_as_root(config, arena / "private" / "locks"), config,
            f"owned by {intruder.name} (uid {intruder.uid}), not by root")
    assert not hook_out.exists() and not (arena / "private" / "locks").exists()


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_root_policy_file_others_can_write_is_refused(intruder, arena, mode):
    hook_out = arena / "shared" / "uid"
    config = write_root_file(arena / "policy.toml", policy_text(), mode)
    if mode & stat.S_IWOTH:   # the attack itself: the intruder adds a hook
        as_user(intruder, ["sh", "-c", f"cat > {config}"], input=policy_text(hook_out))
    refused(run_auto_as_root(config, arena / "private" / "locks"), config,
            f"writable by group or others (mode {mode:04o})")
    assert not hook_out.exists()


def test_a_policy_file_in_a_directory_of_another_user_is_refused(intruder, arena):
    home = arena / "intruder"
    home.mkdir()
    os.chown(home, intruder.uid, intruder.gid)
    config = write_root_file(home / "policy.toml", policy_text())   # root's file, 0600
    refused(run_auto_as_root(config, arena / "private" / "locks"), home,
            f"directory owned by {intruder.name}")


def test_a_policy_file_in_a_directory_others_can_write_is_refused(arena):
    loose = arena / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    config = write_root_file(loose / "policy.toml", policy_text())
    refused(run_auto_as_root(config, arena / "private" / "locks"), loose,
            "directory writable by others and not sticky (mode 0777)")


def test_a_symlink_of_another_user_to_a_good_policy_file_is_refused(intruder, arena):
    """A link in a sticky directory can be swapped by its owner at any time."""
    good = write_root_file(arena / "private" / "policy.toml", policy_text())
    link = arena / "shared" / "policy.toml"
    as_user(intruder, ["ln", "-s", str(good), str(link)])
    refused(run_auto_as_root(link, arena / "private" / "locks"), link,
            f"a symbolic link owned by {intruder.name}")
    root_link = arena / "root-link.toml"
    root_link.symlink_to(good)
    status, stdout, stderr = run_auto_as_root(root_link, arena / "private" / "locks")
    assert (status, stderr) == (0, "") and created(stdout)[0]


def hook_script(path, out, mode=0o755):
    path.write_text(f"#!/bin/sh\nid -u > {out}\n")
    path.chmod(mode)
    return path


def test_a_hook_of_another_user_is_refused(intruder, arena):
    hook_out = arena / "shared" / "uid"
    hook = arena / "shared" / "hook"
    as_user(intruder, ["sh", "-c", f"printf '#!/bin/sh\\nid -u > {hook_out}\\n' > {hook} && "
                                   f"chmod 755 {hook}"])
    config = write_root_file(arena / "private" / "policy.toml", policy_text(hook=[str(hook)]))
    refused(run_auto_as_root(config, arena / "private" / "locks"), hook,
            f"owned by {intruder.name} (uid {intruder.uid}), not by root (hook of policy "
            "'hourly')")
    assert not hook_out.exists()


def test_a_root_hook_others_can_write_is_refused(intruder, arena):
    hook_out = arena / "shared" / "uid"
    hook = hook_script(arena / "hook", hook_out, 0o757)
    as_user(intruder, ["sh", "-c", f"echo 'touch {hook_out}.intruder' >> {hook}"])
    config = write_root_file(arena / "private" / "policy.toml", policy_text(hook=[str(hook)]))
    refused(run_auto_as_root(config, arena / "private" / "locks"), hook,
            "writable by group or others (mode 0757)")
    assert not hook_out.exists() and not Path(f"{hook_out}.intruder").exists()


def test_a_hook_found_through_path_after_a_directory_of_another_user_is_refused(intruder,
                                                                                arena):
    """Whoever owns an earlier PATH directory could put their own hook ahead of root's."""
    bin_dir = arena / "bin"
    bin_dir.mkdir()
    hook_out = arena / "private" / "uid"
    hook_script(bin_dir / "virtsnap-test-hook", hook_out)
    theirs = arena / "intruder-bin"
    theirs.mkdir()
    os.chown(theirs, intruder.uid, intruder.gid)
    config = write_root_file(arena / "private" / "policy.toml",
                             policy_text(hook=["virtsnap-test-hook"]))
    locks = arena / "private" / "locks"
    refused(run_auto_as_root(config, locks, f"{theirs}:{bin_dir}:/usr/bin:/bin"), theirs,
            f"directory owned by {intruder.name}")
    assert not hook_out.exists()
    status, stdout, stderr = run_auto_as_root(config, locks, f"{bin_dir}:/usr/bin:/bin")
    assert (status, stderr) == (0, "") and created(stdout)[0]
    assert hook_out.read_text() == "0\n"   # the legitimate hook ran, as root


def test_the_legitimate_set_up_runs(arena):
    """Root's 0600 policy file in a 0700 directory, a root hook, a 0700 lock directory."""
    hook_out = arena / "private" / "uid"
    hook = hook_script(arena / "private" / "hook", hook_out, 0o700)
    config = write_root_file(arena / "private" / "policy.toml",
                             policy_text(hook=[str(hook)], lock_dir=arena / "private" / "l"))
    status, stdout, stderr = run_auto_as_root(config, arena / "unused")
    assert (status, stderr) == (0, "") and created(stdout)[0].startswith("auto-hourly-")
    assert hook_out.read_text() == "0\n"
    assert not (arena / "unused").exists()   # the file's lock_dir wins over the environment
    assert stat.S_IMODE((arena / "private" / "l").stat().st_mode) == 0o700


def test_a_metrics_directory_is_checked_like_a_policy_directory(intruder, arena):
    """check_trusted_dir, for ``--metrics-file``'s directory once it exists."""
    assert _files.check_trusted_dir(str(arena / "private")) == str(arena / "private")
    assert _files.check_trusted_dir(str(arena / "shared")) == str(arena / "shared")  # sticky
    theirs = arena / "metrics"
    theirs.mkdir()
    os.chown(theirs, intruder.uid, intruder.gid)
    with pytest.raises(UnsafeFileError, match=f"^{theirs}: directory owned by {intruder.name}"):
        _files.check_trusted_dir(str(theirs))


# ---------------------------------------------------------------- files virtsnap writes


@pytest.fixture
def exported_dom(dom):
    dom.create_snapshot(name="first")
    dom.create_snapshot(name="second")
    return dom


def test_an_export_replaces_planted_symlinks_and_never_writes_through_them(
        intruder, arena, exported_dom):
    victim = write_root_file(arena / "private" / "victim", "precious\n", 0o644)
    out = arena / "shared" / "export"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    for name in (INDEX_FILE, "snapshot-0001.xml", "snapshot-0002.xml"):
        as_user(intruder, ["ln", "-s", str(victim), str(out / name)])
    # the temporary name the old code used (pid known to everyone)
    as_user(intruder, ["ln", "-s", str(victim), str(out / f".{INDEX_FILE}.{os.getpid()}.tmp")])
    assert export_snapshots(exported_dom, out) == ["first", "second"]
    assert victim.read_text() == "precious\n"
    for name in (INDEX_FILE, "snapshot-0001.xml", "snapshot-0002.xml"):
        st = os.lstat(out / name)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600
    assert [entry["name"] for entry in json.loads((out / INDEX_FILE).read_text())["snapshots"]] \
        == ["first", "second"]


def test_an_export_into_a_directory_symlink_of_another_user_is_refused(
        intruder, arena, exported_dom):
    target = arena / "private" / "etc"
    target.mkdir()
    link = arena / "shared" / "backup"
    as_user(intruder, ["ln", "-s", str(target), str(link)])
    with pytest.raises(UnsafeFileError, match=f"^{link}: a symbolic link owned by "
                                              f"{intruder.name}"):
        export_snapshots(exported_dom, link)
    assert os.listdir(target) == []
    root_link = arena / "private" / "backup"       # root's own link is followed
    root_link.symlink_to(target)
    export_snapshots(exported_dom, root_link)
    assert sorted(os.listdir(target)) == [INDEX_FILE, "snapshot-0001.xml", "snapshot-0002.xml"]


def test_atomic_writes_leave_nothing_behind_on_failure(arena):
    path = arena / "private" / "file"
    path.write_text("old\n")
    with pytest.raises(ZeroDivisionError):
        with _files.atomic_writer(str(path), mode=0o640) as stream:
            stream.write(b"half")
            1 / 0
    assert path.read_text() == "old\n" and os.listdir(arena / "private") == ["file"]
    _files.write_atomic(str(path), b"new\n", mode=0o640)
    assert path.read_bytes() == b"new\n" and stat.S_IMODE(path.stat().st_mode) == 0o640


# ---------------------------------------------------------------- systemd units

HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
             "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "LockPersonality": "yes",
             "MemoryDenyWriteExecute": "yes", "RuntimeDirectory": "virtsnap",
             "RuntimeDirectoryMode": "0700"}
UNITS = {"root": CONTRIB / "virtsnap-auto.service",
         "dedicated user": CONTRIB / "dedicated-user" / "virtsnap-auto.service"}


def unit_service(path):
    import configparser
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(path)
    return unit["Service"]


def installed_unit(path, directory):
    """The unit under its own name in ``directory``, with this environment's virtsnap."""
    directory.mkdir()
    unit = directory / "virtsnap-auto.service"
    unit.write_text(path.read_text().replace("/usr/local/bin/virtsnap",
                                             str(Path(sys.executable).parent / "virtsnap")))
    shutil.copy(CONTRIB / "virtsnap-auto.timer", directory)
    return unit


def exposure(unit):
    """``systemd-analyze security --offline``'s overall exposure (systemd >= 250), or None."""
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr or "unrecognized option" in result.stderr:
        return None
    assert result.returncode == 0, result.stderr
    return float(result.stdout.rsplit("Overall exposure level for", 1)[1].split(":")[1].split()[0])


@pytest.mark.parametrize("kind", UNITS)
def test_the_systemd_units_are_hardened_and_valid(kind, tmp_path):
    service = unit_service(UNITS[kind])
    assert {key: service.get(key) for key in HARDENING} == HARDENING
    assert service["ProtectHome"] in ("yes", "read-only")
    assert service["ReadWritePaths"].startswith("-/")   # the metrics directory
    if kind == "dedicated user":
        assert (service["User"], service["SupplementaryGroups"]) == ("virtsnap", "libvirt")
        assert service["Environment"] == "VIRTSNAP_LOCK_DIR=/run/virtsnap"
        assert service["CapabilityBoundingSet"] == ""
    assert shutil.which("systemd-analyze"), "scripts/bootstrap installs systemd"
    unit = installed_unit(UNITS[kind], tmp_path / "units")
    result = subprocess.run(["systemd-analyze", "verify", str(unit),
                             str(unit.parent / "virtsnap-auto.timer")],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    score = exposure(unit)
    if score is not None:   # systemd 247 (Debian 11) has no offline review
        bare = tmp_path / "bare"
        bare.mkdir()
        stripped = [line for line in unit.read_text().splitlines(keepends=True)
                    if line.split("=")[0] not in HARDENING and not line.startswith(
                        ("Protect", "Private", "Restrict", "Capability", "Ambient", "User=",
                         "Group=", "SupplementaryGroups=", "SystemCall", "UMask"))]
        (bare / "virtsnap-auto.service").write_text("".join(stripped))
        unhardened = exposure(bare / "virtsnap-auto.service")
        assert score < 6.0 < 9.0 < unhardened, (score, unhardened)
        if kind == "dedicated user":   # no root, no capabilities: lower still
            assert score < exposure(installed_unit(UNITS["root"], tmp_path / "root"))



# ---------------------------------------------------------------- Ansible

VNC_PASSWORD = "s3cret-vnc-Passw0rd"


@pytest.mark.ansible
@pytest.mark.libvirtd
def test_ansible_never_shows_the_secure_xml_it_was_given(private_daemon, tmp_path):
    """A snapshot redefined from secure XML (with a VNC password), then listed:
    the password reaches libvirt, but no -vvv output or result holds it."""
    from support.ansible_env import run_playbook, shared_collection
    from support.private_daemon import define_domain

    uri = private_daemon.uri()
    with virtsnap.open(uri) as conn:   # the daemon's test driver lives while a client does
        define_domain(uri, "with-vnc", tmp_path,
                      devices=f"<graphics type='vnc' port='5900' passwd='{VNC_PASSWORD}'/>")
        dom = conn.get_domain_by_name("with-vnc")
        secure = dom.create_snapshot(name="s1").get_xml_description(virtsnap.XMLFlags.SECURE)
        assert VNC_PASSWORD in secure
        dom.get_snapshot_by_name("s1").delete()   # the test driver keeps no disk data
        tasks = [{"name": "redefine", "virtsnap.libvirt.snapshot": {
                      "uri": uri, "domain": "with-vnc", "name": "s1", "xml": secure,
                      "metadata_only": True}},
                 {"name": "info", "virtsnap.libvirt.snapshot_info": {
                      "uri": uri, "domain": "with-vnc"}}]
        run = run_playbook(shared_collection(), tmp_path / "run",
                           [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                           extra_args=["-vvv"])
        assert run.returncode == 0, run.output[-3000:]
        assert run.result("redefine")["changed"]
        assert [snap["name"] for snap in run.result("info")["snapshots"]] == ["s1"]
        again = dom.get_snapshot_by_name("s1").get_xml_description(virtsnap.XMLFlags.SECURE)
        assert VNC_PASSWORD in again                 # it did reach libvirt
    assert VNC_PASSWORD not in run.output
    assert VNC_PASSWORD not in json.dumps(run.records)


def test_the_security_page_shows_the_shipped_units():
    page = (ROOT / "docs" / "guides" / "security.md").read_text()
    blocks = [block.split("```", 1)[0] for block in page.split("```ini\n")[1:]]
    assert blocks == [UNITS["root"].read_text(), UNITS["dedicated user"].read_text()]


@pytest.mark.libvirtd
def test_a_dedicated_user_in_the_libvirt_group_runs_policies_without_root(libvirtd, intruder,
                                                                         arena):
    """The dedicated-user unit's set-up, live: libvirt's socket for group libvirt,
    a root-owned policy file the group may read; hooks run as that user."""
    from support.private_daemon import PrivateDaemon

    service = other_user("virtsnap-svc-test", groups=["libvirt"])
    daemon = PrivateDaemon(arena / "daemon")
    daemon.config.write_text(daemon.config.read_text() + 'unix_sock_group = "libvirt"\n'
                             'unix_sock_rw_perms = "0770"\nunix_sock_ro_perms = "0770"\n')
    daemon.start()
    try:
        with virtsnap.open(daemon.uri()) as conn:   # keeps the test driver's state
            out = Path(service.home) / "hook-uid"
            config = arena / "policy.toml"
            config.write_text(policy_text().replace('"test:///default"', json.dumps(daemon.uri()))
                              + f'pre_hook = ["/bin/sh", "-c", "id -u > {out}"]\n')
            os.chown(config, 0, service.gid)
            config.chmod(0o640)
            auto = [sys.executable, "-m", "virtsnap", "auto", "--config", str(config), "--json"]
            ran = as_user(service, auto, check=False)
            assert (ran.returncode, ran.stderr) == (0, ""), ran.stderr
            [name] = created(ran.stdout)
            assert conn.get_domain_by_name("test").get_snapshot_by_name(name).name == name
            assert out.read_text() == f"{service.uid}\n"   # the hook ran without root
            locks = Path(service.home) / ".cache" / "virtsnap" / "locks"
            assert locks.stat().st_uid == service.uid
            readable = arena / "readable.toml"    # the same policy, for anyone to read
            readable.write_text(config.read_text())
            readable.chmod(0o644)
            auto[auto.index(str(config))] = str(readable)
            denied = as_user(intruder, auto, check=False)   # not in group libvirt
            assert denied.returncode == 1 and "cannot connect" in denied.stdout
            assert "Permission denied" in denied.stdout, denied.stdout
    finally:
        daemon.stop()
