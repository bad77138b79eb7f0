"""An Ansible callback for the tests: one JSON line per task start and result.

Each line has ``event`` (start, ok, failed, skipped, unreachable), ``host``,
``task`` (its name), ``time`` (time.time() when the controller saw it) and,
except for start, ``result`` (the module's result). The file is $VIRTSNAP_RECORD.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: virtsnap_record
type: aggregate
short_description: record task starts and results as JSON lines (virtsnap's tests)
description: Writes one JSON line per task start and result to $VIRTSNAP_RECORD.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "virtsnap_record"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, event, host, task, result=None):
        line = {"event": event, "host": host, "task": task.get_name(), "time": time.time()}
        if result is not None:
            line["result"] = result
        with open(os.environ["VIRTSNAP_RECORD"], "a", encoding="utf-8") as stream:
            stream.write(json.dumps(line, default=str) + "\n")

    def v2_runner_on_start(self, host, task):
        self._write("start", host.get_name(), task)

    def _result(self, event, result):
        self._write(event, result._host.get_name(), result._task, dict(result._result))

    def v2_runner_on_ok(self, result):
        self._result("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result("failed", result)

    def v2_runner_on_skipped(self, result):
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._result("unreachable", result)
