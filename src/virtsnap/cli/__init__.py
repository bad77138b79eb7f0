"""The ``virtsnap`` command line (also ``python -m virtsnap``).

Text output follows virsh: ``list`` prints the columns of ``virsh
snapshot-list`` and ``list --tree`` its tree, byte for byte when stdout is
not a terminal (on a terminal, with rich installed, the table is drawn by
rich); ``--quiet`` acts like ``virsh -q``. ``--json`` prints documents
that follow :data:`virtsnap.cli.schema.JSON_SCHEMA` (``virtsnap json-schema``).

Exit status: 0 on success, 1 when libvirt (or a file) fails, with one line
``error: <message>`` on stderr, 2 for a usage error (with the command's
usage line), 130 after Ctrl-C.

Subcommands live in :data:`SUBCOMMANDS`, name -> (help, "module:builder").
Only the subcommand being run is built (its module imported, its options
added); the others appear in ``--help`` from their help text alone. Another
module adds one with :func:`register`, or with a line in the table. A
builder receives its ``argparse`` sub-parser, adds its options and calls
``parser.set_defaults(run=function)``, where ``function(args, conn, out)``
gets the open connection and an :class:`virtsnap.cli.output.Output`; with
``set_defaults(needs_connection=False)`` it runs without a connection (``conn`` is
None). A run function raises :class:`UsageError` for a usage mistake found
after parsing, :class:`CommandError` for a one-line failure.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import argparse
    from typing import Any

__all__ = ["SUBCOMMANDS", "CommandError", "Interrupted", "UsageError", "build_parser", "main", "register"]

SUBCOMMANDS = {
    "list": ("list a domain's snapshots (virsh snapshot-list)", "virtsnap.cli.commands:add_list"),
    "info": ("show a snapshot's details (virsh snapshot-info)", "virtsnap.cli.commands:add_info"),
    "dumpxml": ("print a snapshot's XML (virsh snapshot-dumpxml)",
                "virtsnap.cli.commands:add_dumpxml"),
    "current": ("print or set the current snapshot (virsh snapshot-current)",
                "virtsnap.cli.commands:add_current"),
    "parent": ("print a snapshot's parent (virsh snapshot-parent)",
               "virtsnap.cli.commands:add_parent"),
    "create": ("take a snapshot (virsh snapshot-create-as, snapshot-create)",
               "virtsnap.cli.commands:add_create"),
    "edit": ("edit a snapshot's XML in $VISUAL/$EDITOR (virsh snapshot-edit)",
             "virtsnap.cli.commands:add_edit"),
    "revert": ("revert the domain to a snapshot (virsh snapshot-revert)",
               "virtsnap.cli.commands:add_revert"),
    "delete": ("delete a snapshot (virsh snapshot-delete)", "virtsnap.cli.commands:add_delete"),
    "export": ("write all snapshots' XML and an index into DIR",
               "virtsnap.cli.commands:add_export"),
    "import": ("redefine the snapshots exported in DIR on DOMAIN",
               "virtsnap.cli.commands:add_import"),
    "demo": ("a guided tour on libvirt's test driver", "virtsnap.cli.commands:add_demo"),
    "json-schema": ("print the JSON Schema of the --json output",
                    "virtsnap.cli.commands:add_json_schema"),
    "du": ("show the disk space a domain's images and snapshots use", "virtsnap.cli.du:add_du"),
    "auto": ("take and prune snapshots as a policy file says", "virtsnap.cli.auto:add_auto"),
    "prune": ("prune one domain's snapshots of a label", "virtsnap.cli.auto:add_prune"),
    "status": ("check that the policies' snapshots are on time (monitoring plugin)",
               "virtsnap.cli.status:add_status"),
    "group": ("snapshots of several domains at one point in time (create, list, revert, delete)",
              "virtsnap.cli.group:add_group"),
    "check": ("check a domain's snapshots against its disks' backing chains",
              "virtsnap.cli.check:add_check"),
}


def register(name: str, help: str, builder: str) -> None:
    """Add (or replace) subcommand ``name``, built by ``"module:function"`` when used."""
    SUBCOMMANDS[name] = (help, builder)


class UsageError(Exception):
    """A usage mistake found after parsing: exit 2 with the command's usage line."""


class CommandError(Exception):
    """A failure reported as one ``error:`` line (exit 1)."""


class Interrupted(CommandError):
    """Ctrl-C during a libvirt job: one line says what became of the job (exit 130)."""


# ---------------------------------------------------------------- parser


def _add_global_options(parser: "argparse.ArgumentParser", suppress: bool) -> None:
    """-c, -r, -q: accepted before the command and after it.

    After it (``suppress``), an option left out must not overwrite the value
    given before the command, hence SUPPRESS as the sub-parsers' default.
    """
    import argparse

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("-c", "--connect", metavar="URI",
                        default=default(None),
                        help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, else libvirt's own)")
    parser.add_argument("-r", "--readonly", action="store_true", default=default(False),
                        help="open a read-only connection")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="no headers, confirmations or progress (like virsh -q)")


def _command_in(argv: "list[str]") -> "str | None":
    """The subcommand named in ``argv``: its first word that is not an option."""
    words = iter(argv)
    for word in words:
        if word in ("-c", "--connect"):
            next(words, None)
        elif word == "--":
            return next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: "str | None" = None, all_commands: bool = False
                 ) -> "argparse.ArgumentParser":
    """The parser, with subcommand ``command`` fully built (every one with ``all_commands``)."""
    import argparse
    import importlib

    parser = argparse.ArgumentParser(
        prog="virtsnap", description="Manage libvirt domain snapshots.",
        epilog="--json output follows the schema that `virtsnap json-schema` prints.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _add_global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help, builder) in SUBCOMMANDS.items():
        if not all_commands and name != command:
            commands.add_parser(name, help=help, add_help=False)
            continue
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        module, function = builder.split(":")
        getattr(importlib.import_module(module), function)(sub)
    return parser


# ---------------------------------------------------------------- the quick parser
# argparse, with the parser it builds, costs more than a short command itself.
# The quick parser reads the shapes that scripts use (global options, the
# command, its positionals, then its own options, each written out in full)
# from the same builders, and gives the namespace argparse would give; for
# any other argv (help, an abbreviation, --opt=value, an error) it gives None
# and argparse parses. tests/test_cli_startup.py compares the two.

_GLOBAL_SWITCHES = {"-r": "readonly", "--readonly": "readonly", "-q": "quiet", "--quiet": "quiet"}
_GLOBAL_VALUES = {"-c": "connect", "--connect": "connect"}


class _Unsupported(Exception):
    """A builder declared something the quick parser does not read."""


class _Namespace:
    """The parsed options, as attributes (argparse.Namespace's part that commands use)."""

    def __init__(self, values: "dict[str, object]") -> None:
        self.__dict__.update(values)


class _OptionTable:
    """Stands in for a sub-parser: records a builder's simple options, refuses the rest."""

    def __init__(self) -> None:
        self.positionals: "list[tuple[str, bool]]" = []  # (dest, required), in order
        self.switches = dict(_GLOBAL_SWITCHES)           # option -> dest (store_true)
        self.values = dict(_GLOBAL_VALUES)               # option -> dest (one value)
        self.defaults: "dict[str, object]" = {}

    def add_argument(self, *names: str, action: "str | None" = None, dest: "str | None" = None,
                     default: object = None, nargs: "str | None" = None,
                     metavar: object = None, help: object = None, **other: object) -> None:
        if other or not names:
            raise _Unsupported(sorted(other))
        if not names[0].startswith("-"):
            if len(names) > 1 or dest or action is not None or nargs not in (None, "?"):
                raise _Unsupported(names)
            self.positionals.append((names[0], nargs is None))
            self.defaults[names[0]] = default
            return
        if dest is None:
            long = [name for name in names if name.startswith("--")]
            dest = (long or list(names))[0].lstrip("-").replace("-", "_")
        if action == "store_true" and nargs is None:
            table, self.defaults[dest] = self.switches, False if default is None else default
        elif action is None and nargs is None:
            table, self.defaults[dest] = self.values, default
        else:
            raise _Unsupported(names)
        for name in names:
            if name in _GLOBAL_SWITCHES or name in _GLOBAL_VALUES:
                raise _Unsupported(name)
            table[name] = dest

    def set_defaults(self, **values: object) -> None:
        self.defaults.update(values)

    def __getattr__(self, name: str) -> object:  # add_mutually_exclusive_group, ...
        raise _Unsupported(name)


def _option_table(command: str) -> "_OptionTable | None":
    import importlib

    if command not in SUBCOMMANDS:
        return None
    module, function = SUBCOMMANDS[command][1].split(":")
    table = _OptionTable()
    try:
        getattr(importlib.import_module(module), function)(table)
    except _Unsupported:
        return None
    return table


def _quick_parse(argv: "list[str]") -> "_Namespace | None":
    """argparse's namespace for ``argv``, or None where argparse must decide."""
    values: "dict[str, object]" = {"version": False, "connect": None, "readonly": False,
                                   "quiet": False}
    words = iter(argv)
    word = next(words, None)
    while word is not None and word.startswith("-"):   # global options
        if word in _GLOBAL_SWITCHES:
            values[_GLOBAL_SWITCHES[word]] = True
        elif word in _GLOBAL_VALUES:
            value = next(words, None)
            if value is None or value.startswith("-"):
                return None
            values[_GLOBAL_VALUES[word]] = value
        else:
            return None
        word = next(words, None)
    table = None if word is None else _option_table(word)
    if table is None:
        return None
    values["command"] = word
    values.update(table.defaults)
    rest = list(words)
    given = 0
    while (given < len(table.positionals) and given < len(rest)
           and not rest[given].startswith("-")):
        values[table.positionals[given][0]] = rest[given]
        given += 1
    if any(required for _, required in table.positionals[given:]):
        return None
    options = iter(rest[given:])
    for word in options:
        if word in table.switches:
            values[table.switches[word]] = True
        elif word in table.values:
            value = next(options, None)
            if value is None or value.startswith("-"):
                return None
            values[table.values[word]] = value
        else:  # a positional after an option, an unknown option, help, ...
            return None
    return _Namespace(values)


# ---------------------------------------------------------------- main


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit status."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # before a command started (start-up, parsing)
        return 130


def _main(argv: "list[str]") -> int:
    if argv == ["--version"]:  # the fast path: no parser, no libvirt
        from virtsnap import __version__

        return _write_or_fail(f"virtsnap {__version__}\n")
    stdout_closed = _guard_stdout()
    args: Any = _quick_parse(argv)  # argparse.Namespace or _Namespace: the same attributes
    if args is None:  # anything beyond the simple shapes: argparse decides
        parser = build_parser(_command_in(argv))
        args, unknown = parser.parse_known_args(argv)
        if args.version:
            from virtsnap import __version__

            return _write_or_fail(f"virtsnap {__version__}\n")
        if unknown:
            _subparser(parser, args.command).error(
                f"unrecognized arguments: {' '.join(unknown)}")
    from virtsnap.cli.output import Output

    out = Output(getattr(args, "json", False), args.quiet,
                 _ClosedStream() if stdout_closed else _Stdout(sys.stdout))
    try:
        if not getattr(args, "needs_connection", True):
            status = args.run(args, None, out)
        else:
            import virtsnap

            with virtsnap.open(args.connect, readonly=args.readonly) as conn:
                status = args.run(args, conn, out)
        out.stream.flush()
    except UsageError as exc:
        _subparser(build_parser(args.command), args.command).error(str(exc))
    except _OutputError as exc:
        return _output_failed(exc.error)
    except Interrupted as exc:
        fail(str(exc))
        return 130
    except CommandError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - libvirt errors are one line; the rest are bugs
        import virtsnap

        if isinstance(exc, virtsnap.LibvirtError):
            return fail(str(exc))
        if os.environ.get("VIRTSNAP_DEBUG") == "1":
            raise
        return fail(f"internal error: {type(exc).__name__}: {exc} "
                    "(VIRTSNAP_DEBUG=1 shows the traceback)")
    return status or 0


def _subparser(parser: "argparse.ArgumentParser", name: str) -> "argparse.ArgumentParser":
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[name]
            assert isinstance(sub, argparse.ArgumentParser)
            return sub
    raise AssertionError("no subcommands")  # pragma: no cover


def fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


class _OutputError(Exception):
    """Writing to stdout failed (closed, or a broken pipe)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _Stdout:
    """sys.stdout whose write errors are told apart from a command's file errors."""

    def __init__(self, stream: "object") -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        try:
            self._stream.write(text)  # type: ignore[attr-defined]
        except OSError as exc:
            raise _OutputError(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except OSError as exc:
            raise _OutputError(exc) from None

    def isatty(self) -> bool:
        return bool(self._stream.isatty())  # type: ignore[attr-defined]

    def fileno(self) -> int:
        return int(self._stream.fileno())  # type: ignore[attr-defined]


class _ClosedStream(_Stdout):
    """Standing in for a closed stdout: every write fails with EBADF."""

    def __init__(self) -> None:
        super().__init__(None)

    def write(self, text: str) -> None:
        import errno

        raise _OutputError(OSError(errno.EBADF, os.strerror(errno.EBADF)))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _guard_stdout() -> bool:
    """True when stdout is closed; then /dev/null holds fd 1, so that no socket
    libvirt opens lands on it and receives our output."""
    try:
        os.fstat(1)
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
        sys.stdout = open(1, "w", closefd=False)
        return True
    return sys.stdout is None


def _write_or_fail(text: str) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except (OSError, AttributeError) as exc:  # AttributeError: sys.stdout is None
        return _output_failed(exc if isinstance(exc, OSError) else OSError(9, "Bad file descriptor"))
    return 0


def _output_failed(error: OSError) -> int:
    """stdout is gone. A broken pipe (``| head``) exits quietly, like other tools;
    a closed stdout is one error line."""
    import errno

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing more reaches the old stdout, not even at exit
    os.close(devnull)
    if error.errno == errno.EPIPE:
        return 1
    return fail(f"cannot write to stdout: {error.strerror or error}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
