"""``virtsnap auto --json`` in a child process, its report checked against the schema."""

import json
import subprocess
import sys

import jsonschema

from virtsnap.policy.run import REPORT_SCHEMA

# An hourly policy on the test driver's domain; a test appends its retention and other keys.
HOURLY_POLICY = """\
[[policy]]
label = "hourly"
uris = ["test:///default"]
domains = ["test"]
interval = "1h"
"""


def run_auto(config, timeout=300):
    """(exit status, the first domain's first policy report, stderr) of one run."""
    result = subprocess.run([sys.executable, "-m", "virtsnap", "auto", "--config", str(config),
                             "--json"], capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    report = json.loads(result.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    return result.returncode, report["hosts"][0]["domains"][0]["policies"][0], result.stderr
