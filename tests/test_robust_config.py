"""Policy values are checked before anything is touched: one line, FILE:LINE: key 'x': ...

The same documents go through ``virtsnap auto`` (exit 1, the line on stderr)
and through the Ansible module's logic, which must give the same text.
"""

import math
import re
import sys
import textwrap

import pytest

from support.ansible_env import ROOT
from virtsnap.cli import main
from virtsnap.policy import ConfigError, load_config

HEAD = """\
[defaults]
uri = "test:///default"

[[policy]]
label = "hourly"
domains = ["test"]
"""
# (the line added as line 7, the key named, words in the message)
HOSTILE = [
    ('interval = "99999999999999999999d"', "interval", "too long"),
    ('interval = "1' + "0" * 5000 + 's"', "interval", "too long"),
    ('pre_hook = "echo \\"unterminated"', "pre_hook", "cannot split the command line"),
    ('post_hook = ["", "x"]', "post_hook", "non-empty list of strings"),
    ('pre_hook = ["a\\u0000b"]', "pre_hook", "without NUL"),
    ("hook_timeout = nan", "hook_timeout", "above 0"),
    ("hook_timeout = inf", "hook_timeout", "above 0"),
    ("hook_timeout = -inf", "hook_timeout", "above 0"),
    ("hook_timeout = 1e300", "hook_timeout", "at most 604800"),
    ("keep_last = 99999999999999999999999", "keep_last", "at most 1000000"),
    ("keep_daily = 1e3", "keep_daily", "must be int, not float"),
    ("keep.last = 3", "keep", "unknown key"),
    ('timezone = "' + "a" * 5000 + '"', "timezone", "unknown timezone"),
    ('uris = ["test:///default\\u0000"]', "uris", "non-empty list of URIs"),
    ('label = "' + "a" * 65 + '"', "label", "at most 64 characters"),
]


@pytest.mark.parametrize("line, key, words", HOSTILE, ids=[row[1] + "-" + row[2] for row in HOSTILE])
def test_hostile_values_give_one_line_with_file_line_and_key(tmp_path, capsys, line, key, words):
    if key == "label":
        path_text = HEAD.replace('label = "hourly"\n', "") + line + "\n"
        number = 6
    else:
        path_text, number = HEAD + line + "\n", 7
    path = tmp_path / "policy.toml"
    path.write_text(path_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert re.fullmatch(rf"{re.escape(str(path))}:{number}: key '{key}': [^\n]+", message), message
    assert words in message and len(message) < 300
    assert main(["auto", "--config", str(path), "--dry-run"]) == 1
    assert capsys.readouterr() == ("", f"error: {message}\n")


def test_a_dotted_key_in_defaults_and_a_non_table_policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[defaults]\nuri = "x"\n\n"lock".dir = "/tmp"\n[[policy]]\nlabel = "a"\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:4: key 'lock': unknown key"):
        load_config(path)
    path.write_text("\n\npolicy = [1]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:3: key 'policy': each policy must be a table, not int 1"
    path.write_text('[[policy]]\ninterval = "1h"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:1: key 'label': is missing: each policy needs one"


MALFORMED = "Numeric value '{}' for <{}> option is malformed or out of range"


@pytest.mark.parametrize("argv, message", [
    (["prune", "test", "--label", "a", "--keep-last", "1e3"], MALFORMED.format("1e3", "keep-last")),
    (["prune", "test", "--label", "a", "--keep-daily", "99999999999999999999"],
     "--keep-daily: must be at most 1000000"),
    (["prune", "test", "--label", "a", "--lock-wait", "nan"], MALFORMED.format("nan", "lock-wait")),
    (["prune", "test", "--label", "a", "--lock-wait", "inf"], MALFORMED.format("inf", "lock-wait")),
    (["prune", "test", "--label", "a", "--lock-wait", "86401"],
     "--lock-wait: must be a number of seconds from 0 to 86400, not 86401.0"),
    (["auto", "--config", "x", "--workers", "0"], MALFORMED.format("0", "workers")),
    (["auto", "--config", "x", "--workers", "2.5"], MALFORMED.format("2.5", "workers")),
])
def test_option_values_are_refused_in_words_of_the_option(capsys, argv, message):
    """virsh's message for a malformed number; the engine's own bounds after it."""
    assert main(["-c", "test:///default", *argv]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"error: {message}"
    assert "_count" not in err and "_seconds" not in err


def test_the_engine_refuses_a_lock_wait_and_workers_it_cannot_honour(conn, dom, tmp_path):
    from virtsnap.policy.run import run, run_domain

    config = load_config(tmp_path.joinpath("p.toml").write_text(HEAD) and tmp_path / "p.toml")
    for value in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="^lock_wait: must be a number of seconds"):
            run(config, lock_wait=value)
        with pytest.raises(ValueError, match="^lock_wait: must be a number of seconds"):
            run_domain(dom, config.policies, uri="test:///default", lock_wait=value)
    with pytest.raises(TypeError, match="^workers: must be an int, not bool"):
        run(config, workers=True)
    with pytest.raises(ValueError, match="^workers: must be at least 1, not 0"):
        run(config, workers=0)


@pytest.fixture(scope="module")
def module_policy():
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from ansible_collections.virtsnap.libvirt.plugins.module_utils import policy

    return policy


def policy_module_params(**values):
    params = {"uri": "test:///default", "policy": None, "policy_file": None, "labels": None,
              "domains": None, "workers": 4, "lock_wait": 60.0}
    params.update(values)
    return params


def test_the_ansible_module_gives_the_cli_text(module_policy, tmp_path, capsys):
    path = tmp_path / "policy.toml"
    path.write_text(HEAD + "hook_timeout = nan\n")
    with pytest.raises(ConfigError) as from_module:
        module_policy.run(policy_module_params(policy_file=str(path)), True)
    assert main(["auto", "--config", str(path), "--dry-run"]) == 1
    assert capsys.readouterr().err == f"error: {from_module.value}\n"

    document = {"policy": [{"label": "hourly", "interval": "99999999999999999999d"}]}
    with pytest.raises(ConfigError) as caught:
        module_policy.run(policy_module_params(policy=document), True)
    assert str(caught.value) == ("policy option: key 'interval': interval too long "
                                 "(at most 100 years): '99999999999999999999d'")

    path.write_text(HEAD + 'interval = "1h"\n')
    with pytest.raises(ValueError) as caught:
        module_policy.run(policy_module_params(policy_file=str(path), labels=["nope"]), True)
    assert main(["auto", "--config", str(path), "--label", "nope", "--dry-run"]) == 1
    assert capsys.readouterr().err == f"error: {caught.value}\n"
    assert str(caught.value) == f"{path}: no policy with label nope"

    with pytest.raises(ValueError) as caught:
        module_policy.run(policy_module_params(policy_file=str(path), workers=0), True)
    assert str(caught.value) == "workers: must be at least 1, not 0"


@pytest.mark.ansible
def test_the_snapshot_policy_module_refuses_as_the_cli_does(tmp_path, capsys):
    from support.ansible_env import run_playbook, shared_collection

    policy = {"policy": [{"label": "hourly", "uris": ["test:///default"], "interval": "1h",
                          "hook_timeout": "nan"}]}
    good = {"policy": [{"label": "hourly", "uris": ["test:///default"], "interval": "1h"}]}
    module = "virtsnap.libvirt.snapshot_policy"
    tasks = [
        {"name": "nan", "ignore_errors": True, "check_mode": True, module: {"policy": policy}},
        {"name": "huge", "ignore_errors": True, "check_mode": True, module: {"policy": {
            "policy": [{"label": "hourly", "interval": "99999999999999999999d"}]}}},
        {"name": "unknown label", "ignore_errors": True, "check_mode": True,
         module: {"policy": good, "labels": ["nope"]}},
        {"name": "no workers", "ignore_errors": True, "check_mode": True,
         module: {"policy": good, "workers": 0}},
    ]
    run = run_playbook(shared_collection(), tmp_path / "run",
                       [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    assert run.returncode == 0, run.output
    messages = {task["name"]: run.result(task["name"])["msg"] for task in tasks}
    assert all(run.failed(name) for name in messages)
    assert messages == {
        # YAML gives the string "nan": a type error, named as the loader names it
        "nan": "bad policy: policy option: key 'hook_timeout': must be a number of seconds, "
               "not str 'nan'",
        "huge": "bad policy: policy option: key 'interval': interval too long "
                "(at most 100 years): '99999999999999999999d'",
        "unknown label": "policy option: no policy with label nope",
        "no workers": "workers: must be at least 1, not 0",
    }
