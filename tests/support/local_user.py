"""Another local user, to attack a root run of virtsnap the way a real one would.

``other_user()`` creates the account ``virtsnap-intruder`` (no login shell,
its own home) if it is missing and returns it; ``as_user(user, argv)`` runs a
command with that user's uid, gid and groups (``setpriv``), never a shell
unless asked for. The tests run as root, as in CI.
"""

import os
import pwd
import subprocess
from typing import NamedTuple

NAME = "virtsnap-intruder"


class LocalUser(NamedTuple):
    name: str
    uid: int
    gid: int
    home: str


def other_user(name: str = NAME, groups=()) -> LocalUser:
    """The account ``name`` (created if missing), also in ``groups``."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin",
                        "--user-group", name], check=True, capture_output=True, timeout=60)
        entry = pwd.getpwnam(name)
    for group in groups:
        subprocess.run(["usermod", "--append", "--groups", group, name], check=True,
                       capture_output=True, timeout=60)
    os.makedirs(entry.pw_dir, exist_ok=True)
    os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
    return LocalUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def as_user(user: LocalUser, argv, *, env=None, check=True, **kwargs):
    """``subprocess.run(argv)`` as ``user`` (text output captured)."""
    environment = {"PATH": "/usr/bin:/bin", "HOME": user.home, "LANG": "C.UTF-8"}
    environment.update(env or {})
    command = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
               "--", *argv]
    return subprocess.run(command, env=environment, capture_output=True, text=True,
                          check=check, timeout=kwargs.pop("timeout", 60), **kwargs)
