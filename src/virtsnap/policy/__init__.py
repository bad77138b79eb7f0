"""Snapshot policies (``virtsnap auto``): configuration, plan and run.

- :mod:`virtsnap.policy.config` reads and checks a TOML policy file;
- :mod:`virtsnap.policy.plan` is the pure retention planner;
- :mod:`virtsnap.policy.run` applies plans through libvirt.

The names of the first two are re-exported here.
"""

from virtsnap.policy.config import (ConfigError, config_from_document, load_config, parse_config,
                                    parse_interval)
from virtsnap.policy.plan import (PERIODS, Config, OwnedSnapshot, Plan, Policy, Retention,
                                  owned_time, plan, retain, select, snapshot_name)

__all__ = [
    "PERIODS",
    "Config",
    "ConfigError",
    "OwnedSnapshot",
    "Plan",
    "Policy",
    "Retention",
    "config_from_document",
    "load_config",
    "owned_time",
    "parse_config",
    "parse_interval",
    "plan",
    "retain",
    "select",
    "snapshot_name",
]
