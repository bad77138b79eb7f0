"""The grammar's table against virsh's own option definitions, and its parser's rules.

virsh prints each command's option table (``virsh help snapshot-list``): the
names, in order, which take a value and which are positional data. The table
in ``virsh.cli.grammar`` must list the same, plus options marked as
virtsnap's own. The parser's behaviour on command lines is compared with
virsh's in test_cli_virsh_diff.py; here are its rules on their own, help,
completion, and the data structure the docs read.
"""

import re
import shutil
import subprocess

import pytest

import virtsnap
from support.helpers import TEST_URI
from virtsnap.cli.grammar import (ARGV, BOOL, COMMANDS, DATA, GrammarError, completion, find,
                                  help_text, parse)

needs_virsh = pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh is not installed")

VIRSH_COMMANDS = [command for command in COMMANDS if command.virsh]


def virsh_options(name):
    """(name, takes a value, positional data) per option of ``virsh help NAME``, in order."""
    text = subprocess.run(["virsh", "-c", TEST_URI, "help", name], capture_output=True,
                          text=True, timeout=60, check=True).stdout
    options = []
    for line in text.split("OPTIONS", 1)[1].splitlines():
        match = re.match(r"\s+(\[)?--([a-z-]+)\]?( <\w+>)?", line)
        if match:
            options.append((match[2], bool(match[3]), bool(match[1])))
    return options


@needs_virsh
@pytest.mark.parametrize("command", VIRSH_COMMANDS, ids=lambda command: command.virsh)
def test_table_lists_virshs_options(command):
    ours = [(option.name, option.type != BOOL, option.type in (DATA, ARGV))
            for option in command.options if not option.own]
    theirs = virsh_options(command.virsh)
    if (9, 0, 0) <= virtsnap.libvirt_version() < (10, 0, 0):  # the virsh the table mirrors
        assert ours == theirs
    else:  # 7.0 lacks some options (--validate, --reset-nvram); a newer virsh may add some
        # and mark more options positional in its help: the shared names, in one order
        our_names = [name for name, _, _ in ours]
        their_names = [name for name, _, _ in theirs]
        assert ([name for name in our_names if name in their_names]
                == [name for name in their_names if name in our_names])
        if virtsnap.libvirt_version() < (9, 0, 0):
            assert set(their_names) <= set(our_names)


@pytest.mark.parametrize("words, expected", [
    (["vm", "n1", "a description", "vda", "vdb"],
     {"domain": "vm", "name": "n1", "description": "a description", "diskspec": ["vda", "vdb"]}),
    (["--print-xml", "vm", "--", "--n1"], {"domain": "vm", "name": "--n1", "print_xml": True}),
    (["--name", "--foo", "vm"], {"domain": "vm", "name": "--foo"}),
    (["--domain=vm", "--description", "d", "n"], {"domain": "vm", "name": "n", "description": "d"}),
    (["vm", "--diskspec", "a", "--diskspec", "b", "c"],
     {"domain": "vm", "name": "c", "diskspec": ["a", "b"]}),
    (["vm", "--=x"], {"domain": "vm", "name": "--=x"}),
])
def test_positional_and_named_forms(words, expected):
    command, args = parse("snapshot-create-as", words)
    assert command.name == "create"
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize("name, words, message", [
    ("snapshot-create-as", ["vm", "--desc", "x"],
     "command 'snapshot-create-as' doesn't support option --desc"),
    ("create", ["vm", "--na", "n1"], "command 'snapshot-create-as' doesn't support option --na"),
    ("snapshot-list", ["vm", "--name", "--name"], "option --name already seen"),
    ("snapshot-info", ["vm", "--snapshotname", "s", "s2"], "unexpected data 's2'"),
    ("snapshot-info", ["--domain", "vm", "x", "y"], "unexpected data 'y'"),
    ("snapshot-list", ["vm", "--tree=1"], "invalid '=' after option --tree"),
    ("snapshot-create-as", ["vm", "--memspec"], "expected syntax: --memspec <string>"),
    ("snapshot-dumpxml", ["vm"], "command 'snapshot-dumpxml' requires <snapshotname> option"),
    ("prune", ["vm"], "command 'prune' requires --label option"),
    ("snapshot-nosuch", [], "unknown command: 'snapshot-nosuch'"),
])
def test_refusals(name, words, message):
    with pytest.raises(GrammarError) as caught:
        parse(name, words)
    assert str(caught.value) == message


def test_virtsnaps_names_take_global_options_after_the_command():
    _, args = parse("info", ["vm", "-r", "s1", "--connect=test:///default", "-q"])
    assert (args.domain, args.snapshot, args.readonly, args.connect, args.quiet) == (
        "vm", "s1", True, "test:///default", True)
    _, args = parse("info", ["vm", "--", "-r"])
    assert (args.snapshot, args.readonly) == ("-r", False)
    _, args = parse("snapshot-info", ["vm", "-r"])  # virsh's names: -r is data, as in virsh
    assert (args.snapshot, args.readonly) == ("-r", False)


def test_memspec_is_named_only_and_own_options_never_take_positions():
    _, args = parse("create", ["vm", "n", "d", "x"])
    assert (args.memspec, args.xml, args.diskspec) == (None, None, ["x"])
    for command in COMMANDS:
        assert all(not option.positional for option in command.options if option.own)


def test_help_is_the_tables():
    for command in COMMANDS:
        for name in {command.name, command.virsh} - {None}:
            text = help_text(name)
            strict = find(name)[1]
            for option in command.options:
                assert (f"--{option.name}" in text) == (not (strict and option.own)), (name, option)
    assert "(virtsnap's own)" in help_text("info") and "own" not in help_text("snapshot-info")


def test_the_docs_can_read_the_table():
    """Every command and option has help; options are unique per command."""
    for command in COMMANDS:
        assert command.help and command.run.count(":") == 1
        names = [option.name for option in command.options]
        assert len(names) == len(set(names)) and all(option.help for option in command.options)
        assert command.own == (command.virsh is None)


@pytest.mark.parametrize("line, expected", [
    ("virtsnap snapshot-inf", {"snapshot-info"}),
    ("virtsnap info test --cu", {"--current"}),
    ("virtsnap -c test:///default snapshot-info test --j", set()),  # --json is virtsnap's own
    ("virtsnap info test --j", {"--json"}),
])
def test_bash_completion(line, expected):
    script = completion("bash") + (
        f"COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _virtsnap; "
        "printf '%s\\n' \"${COMPREPLY[@]}\"")
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == expected


def test_zsh_completion_is_bashs_through_bashcompinit():
    assert completion("zsh") == "autoload -U +X bashcompinit && bashcompinit\n" + completion("bash")
    with pytest.raises(GrammarError):
        completion("fish")
