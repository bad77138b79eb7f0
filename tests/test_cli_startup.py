"""The command line's shortcuts for start-up time give what the long way gives.

``virtsnap.cli._quick_parse`` reads simple command lines without argparse.
Wherever it answers, argparse must parse the same argv without an error and
give the same values; the shapes scripts use must be answered by it, or the
gain is lost silently. Table cells with nothing to escape skip virsh's
per-character reading.
"""

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtsnap import cli


def argparse_values(argv):
    """argparse's values for ``argv``, or None where it fails (usage error, help)."""
    parser = cli.build_parser(cli._command_in(argv))
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            args, unknown = parser.parse_known_args(argv)
        except SystemExit:
            return None
    return None if unknown else vars(args)


def option_strings(command):
    """Every option string of ``command``'s argparse sub-parser."""
    sub = cli._subparser(cli.build_parser(command), command)
    return sorted({name for action in sub._actions for name in action.option_strings})


WORDS = ["test", "s1", "", "-", "--", "-x", "--nope", "-1", "a b", "-h", "--help", "--version",
         "-c", "--connect", "test:///default", "-r", "-q", "--readonly", "--quiet",
         "--par", "--name=x", "-cq", "-rq"]


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(cli.SUBCOMMANDS)))
    vocabulary = WORDS + option_strings(command) + list(cli.SUBCOMMANDS)
    before = draw(st.lists(st.sampled_from(WORDS), max_size=3))
    after = draw(st.lists(st.sampled_from(vocabulary), max_size=6))
    return before + [command] + after


@settings(max_examples=600, deadline=None)
@given(command_lines())
def test_quick_parse_agrees_with_argparse(argv):
    quick = cli._quick_parse(argv)
    if quick is not None:
        assert vars(quick) == argparse_values(argv), argv


@pytest.mark.parametrize("argv", [
    ["-c", "qemu:///system", "list", "dom"],
    ["list", "dom", "--parent"],
    ["list", "dom", "--tree"],
    ["list", "dom", "--name", "--roots", "-q"],
    ["list", "dom", "--from", "s1", "--descendants"],
    ["-r", "info", "dom", "s1"],
    ["info", "dom", "--current", "--json"],
    ["dumpxml", "dom", "s1", "--security-info"],
    ["-c", "test:///default", "parent", "dom", "s1"],
    ["json-schema"],
])
def test_the_shapes_scripts_use_are_read_quickly(argv):
    quick = cli._quick_parse(argv)
    assert quick is not None
    assert vars(quick) == argparse_values(argv)


@pytest.mark.parametrize("argv", [
    [], ["--version"], ["list"], ["list", "--help"], ["list", "dom", "--par"],
    ["list", "dom", "--from"], ["list", "dom", "--from", "--tree"], ["-cURI", "list", "dom"],
    ["info", "dom", "--current", "s1"], ["nosuchcommand"], ["list", "dom", "extra"],
])
def test_everything_else_goes_to_argparse(argv):
    assert cli._quick_parse(argv) is None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_table_cells_without_escapes_skip_the_per_character_reading(text):
    from virtsnap.cli.output import _encode, _encode_chars

    assert _encode(text) == _encode_chars(text)
