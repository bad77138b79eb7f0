"""What a root run of ``virtsnap auto`` trusts: the policy file and the hooks.

API::

    load_trusted_config(path) -> Config     # ConfigError, UnsafeFileError
    check_hooks(config) -> None             # UnsafeFileError

As root, the policy file and each hook executable (found through ``PATH``)
must be owned by root and writable by nobody else, and so must every
directory above them (others may write a sticky one); otherwise the run
refuses before it touches a domain or runs a hook. Other users' runs only
act with their own rights, so nothing is checked for them.
"""

from __future__ import annotations

import os
from typing import Union

from virtsnap._files import UnsafeFileError, check_trusted_program, read_trusted_file
from virtsnap.policy.config import ConfigError, load_config, parse_config
from virtsnap.policy.plan import Config

__all__ = ["UnsafeFileError", "check_hooks", "load_trusted_config"]


def load_trusted_config(path: Union[str, "os.PathLike[str]"]) -> Config:
    """:func:`~virtsnap.policy.config.load_config`; as root, read only from a trusted file."""
    filename = os.fspath(path)
    if os.geteuid() != 0:
        return load_config(filename)
    try:
        data = read_trusted_file(filename)
    except UnsafeFileError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc}", filename) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read: {exc}", filename) from None
    return parse_config(text, filename)


def check_hooks(config: Config) -> None:
    """As root, check every pre_hook and post_hook executable of ``config``."""
    if os.geteuid() != 0:
        return
    for policy in config.policies:
        for hook in (policy.pre_hook, policy.post_hook):
            if hook:
                try:
                    check_trusted_program(hook[0])
                except UnsafeFileError as exc:
                    raise UnsafeFileError(exc.path, f"{exc.reason} (hook of policy "
                                                    f"{policy.label!r})") from None
                except OSError as exc:
                    raise UnsafeFileError(hook[0], f"cannot check the hook of policy "
                                                   f"{policy.label!r}: {exc}") from None
