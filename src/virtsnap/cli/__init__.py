"""The ``virtsnap`` command line (also ``python -m virtsnap``).

virtsnap reads its command lines with virsh's grammar, from one table
(:data:`virtsnap.cli.grammar.COMMANDS`): virsh's command names
(``snapshot-list``, ``snapshot-create-as``, ...) and virtsnap's shorter ones
(``list``, ``create``, ...) both work, with virsh's options, positions and
messages. Text output is virsh's, byte for byte, when stdout is not a
terminal (on a terminal, with rich installed, ``list`` draws its table with
rich); ``--quiet`` acts like ``virsh -q``. ``--json`` prints documents that
follow :data:`virtsnap.cli.schema.JSON_SCHEMA` (``virtsnap json-schema``).

Exit status: 0 on success, 1 on any failure (usage, libvirt, a file), with
``error: <message>`` lines on stderr, as virsh; 130 after Ctrl-C.

Like virsh, one argument after the global options that holds several
commands (``'snapshot-info d s1 ; snapshot-info d s2'``) runs them in turn on
one connection.

Another module can still add an argparse-built command with :func:`register`
(:data:`SUBCOMMANDS`: name -> (help, "module:builder")); the builder gets an
``argparse`` sub-parser, adds its options and calls
``parser.set_defaults(run=function)``. New commands belong in the grammar's
table instead (see :mod:`virtsnap.cli.grammar`).
"""

from __future__ import annotations

import os
import sys

from virtsnap.cli.errors import CommandError, ConnectFailed, Interrupted, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import Callable

    from virtsnap import Connection
    from virtsnap.cli.grammar import Arguments, Command
    from virtsnap.cli.output import Output, Stdout

__all__ = ["SUBCOMMANDS", "CommandError", "Interrupted", "UsageError", "main", "parse_command_line",
           "register"]

# Commands built with argparse by other modules: name -> (help, "module:builder").
SUBCOMMANDS: "dict[str, tuple[str, str]]" = {}


def register(name: str, help: str, builder: str) -> None:
    """Add (or replace) argparse-built subcommand ``name``, built by ``"module:function"``."""
    SUBCOMMANDS[name] = (help, builder)


# ---------------------------------------------------------------- global options

_SHORT = {"r": "readonly", "q": "quiet"}


class _Globals:
    """The options before the command, read as virsh's getopt reads them."""

    def __init__(self) -> None:
        self.values: "dict[str, object]" = {"connect": None, "readonly": False, "quiet": False}
        self.help = False
        self.version = False


def _read_globals(argv: "list[str]") -> "tuple[_Globals, list[str]]":
    from virtsnap.cli.grammar import GrammarError

    found = _Globals()
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            break
        if word in ("-h", "--help"):
            found.help = True
        elif word in ("-V", "--version"):
            found.version = True
        elif word in ("--readonly", "--quiet"):
            found.values[word[2:]] = True
        elif word == "--connect" or word.startswith("--connect=") or word.startswith("-c"):
            value = word.partition("=")[2] if word.startswith("--connect=") else (
                word[2:] if word.startswith("-c") and len(word) > 2 else None)
            if value is None:
                if index >= len(argv):
                    raise GrammarError("option '-c'/'--connect' requires an argument")
                value = argv[index]
                index += 1
            found.values["connect"] = value
        elif word[:1] == "-" and word[1:2] != "-" and len(word) > 1 and all(
                letter in _SHORT for letter in word[1:]):
            for letter in word[1:]:
                found.values[_SHORT[letter]] = True
        elif word[:1] == "-" and len(word) > 1:
            raise GrammarError(f"unsupported option '{word}'. See --help.")
        else:
            return found, argv[index - 1:]
    return found, argv[index:]


def parse_command_line(argv: "list[str]") -> "tuple[Command, Arguments]":
    """``argv`` (without the program name) read as one command: the command and its
    arguments, global options included. Raises GrammarError."""
    from virtsnap.cli.grammar import GrammarError, parse

    found, rest = _read_globals(argv)
    if not rest:
        raise GrammarError("no command given (virtsnap --help lists them)")
    return parse(rest[0], rest[1:], found.values)


# ---------------------------------------------------------------- main


def main(argv: "list[str] | None" = None) -> int:
    """Run the command line; return the exit status.

    Run as the program (``argv`` None), it ends the process itself once stdout
    and stderr are flushed, without the interpreter's finalization.
    """
    try:
        status = _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # before a command started (start-up, parsing)
        status = 130
    if argv is None:
        _exit(status)
    return status


def _exit(status: int) -> None:
    """``os._exit(status)`` after flushing: a write that fails now is reported as any
    other (a broken pipe quietly, a closed stdout with one line), never lost."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        status = _output_failed(exc)
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
    except OSError:
        status = status or 1
    os._exit(status)


def _main(argv: "list[str]") -> int:
    if argv == ["--version"]:  # the fast path: no parser, no libvirt
        from virtsnap import __version__

        return _write_or_fail(f"virtsnap {__version__}\n")
    from virtsnap.cli.grammar import GrammarError

    try:
        found, rest = _read_globals(argv)
    except GrammarError as exc:
        return fail(*exc.lines)
    if found.version:
        from virtsnap import __version__

        return _write_or_fail(f"virtsnap {__version__}\n")
    if found.help or rest[:1] in (["help"], ["--help"]) and len(rest) == 1:
        from virtsnap.cli.grammar import overview

        return _write_or_fail(overview())
    if rest and rest[0] in SUBCOMMANDS:
        return _argparse_main(argv, rest[0])
    stdout_closed = _guard_stdout()
    session = Session(found.values, stdout_closed)
    try:
        if len(rest) == 1 and _is_script(rest[0]):
            return session.run_script(rest[0])
        if not rest:
            if sys.stdin is not None and not sys.stdin.isatty():  # virsh's shell, no prompt
                status = 0
                for line in sys.stdin:
                    status = session.run_script(line)
                    if status == 130 or session.connect_failed:
                        break
                return status
            sys.stderr.write("error: no command given (virtsnap --help lists them)\n")
            return 1
        return session.run_words(rest)
    finally:
        session.close()


def _load_core() -> None:
    """Import the compiled core with lazy symbol binding: Python loads extensions with
    RTLD_NOW, which resolves every slot of libvirt's libraries up front (issue 26)."""
    if "virtsnap._snapshot" in sys.modules or not hasattr(sys, "setdlopenflags"):
        return
    flags = sys.getdlopenflags()
    sys.setdlopenflags((flags & ~os.RTLD_NOW) | os.RTLD_LAZY)
    try:
        import virtsnap._snapshot  # noqa: F401
    finally:
        sys.setdlopenflags(flags)


def _module(name: str) -> object:
    """The module ``name``, imported (``__import__``: importlib costs more to import
    than a short command takes to run)."""
    __import__(name)
    return sys.modules[name]


def _is_script(word: str) -> bool:
    return any(char in word for char in " \t\n;#'\"\\")


class Session:
    """Commands run one after another on one lazily opened connection (virsh's shell)."""

    def __init__(self, values: "dict[str, object]", stdout_closed: bool) -> None:
        from virtsnap.cli.output import ClosedStream, Stdout

        self.values = values
        self.connect_failed = False
        self.conns: "dict[tuple[object, bool], Connection]" = {}
        self.stream: "Stdout" = ClosedStream() if stdout_closed else Stdout(sys.stdout)

    def connection(self, uri: "str | None", readonly: bool) -> "Connection":
        key = (uri, readonly)
        if key not in self.conns:
            _load_core()
            import virtsnap

            try:
                self.conns[key] = virtsnap.open(uri, readonly=readonly)
            except virtsnap.LibvirtError as exc:
                self.connect_failed = True
                raise ConnectFailed(str(exc), "failed to connect to the hypervisor") from None
        return self.conns[key]

    def close(self) -> None:
        for conn in self.conns.values():
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the daemon may be gone; nothing to report
                pass
        self.conns.clear()

    def run_script(self, text: str) -> int:
        """virsh's ``'cmd1 args ; cmd2 args'``: all parsed first (a usage error runs
        none), then run in order, as virsh runs them; the status is the last one's."""
        from virtsnap.cli.grammar import GrammarError
        from virtsnap.cli.script import split_commands

        try:
            parsed = [self.parse(words) for words in split_commands(text)]
        except GrammarError as exc:
            return fail(*exc.lines)
        status = 0
        for command, args in parsed:
            status = self.execute(command, args)
            if status == 130 or self.connect_failed:
                break
        return status

    def run_words(self, words: "list[str]") -> int:
        """One command: ``words[0]`` and its arguments."""
        from virtsnap.cli.grammar import GrammarError

        try:
            command, args = self.parse(words)
        except GrammarError as exc:
            return fail(*exc.lines)
        return self.execute(command, args)

    def parse(self, words: "list[str]") -> "tuple[Command, Arguments]":
        from virtsnap.cli.grammar import parse

        return parse(words[0], words[1:], self.values)

    def execute(self, command: "Command", args: "Arguments") -> int:
        """Run one parsed command; its exit status."""
        from virtsnap.cli.output import Output, OutputError

        if getattr(args, "help", False):
            from virtsnap.cli.grammar import help_text

            return _write_or_fail(help_text(command.virsh or "" if args.strict else command.name))
        quiet = bool(args.quiet)
        out = Output(bool(getattr(args, "json", False)), quiet, self.stream)
        return self.guarded(lambda: self._call(command, args, out), out,
                            virsh_like=command.virsh is not None)

    def guarded(self, call: "Callable[[], int]", out: "Output", virsh_like: bool) -> int:
        """``call()``'s status, with every failure reported as virsh reports it: error
        lines on stderr, after virsh's empty line on stdout for its commands."""
        from virtsnap.cli.output import OutputError

        try:
            status = call()
            out.stream.flush()
        except OutputError as exc:
            return _output_failed(exc.error)
        except Interrupted as exc:
            out.error(str(exc))
            return 130
        except KeyboardInterrupt:
            return 130
        except Exception as exc:  # noqa: BLE001 - libvirt errors are lines; the rest are bugs
            import virtsnap

            from virtsnap.cli.grammar import GrammarError

            if isinstance(exc, CommandError):
                lines = list(exc.context) + [str(exc)]
            elif isinstance(exc, GrammarError):  # help on an unknown command
                lines = list(exc.lines)
            elif isinstance(exc, virtsnap.LibvirtError):
                lines = [str(exc)]
            elif os.environ.get("VIRTSNAP_DEBUG") == "1":
                raise
            else:
                lines = [f"internal error: {type(exc).__name__}: {exc} "
                         "(VIRTSNAP_DEBUG=1 shows the traceback)"]
            if virsh_like and not out.quiet and not out.json and not isinstance(
                    exc, ConnectFailed):  # virsh's line after every command it ran
                try:
                    out.write("\n")
                    out.stream.flush()
                except OutputError as error:
                    return _output_failed(error.error)
            for line in lines:
                out.error(line)
            return 1
        return status or 0

    def _call(self, command: "Command", args: "Arguments", out: "Output") -> int:
        module, function = command.run.split(":")
        run = getattr(_module(module), function)
        conn = None
        if command.connection:
            conn = self.connection(args.connect, bool(args.readonly))
        return int(run(args, conn, out) or 0)


# ---------------------------------------------------------------- argparse-built commands


def _argparse_main(argv: "list[str]", name: str) -> int:
    """A command registered with :func:`register`, parsed by argparse."""
    import argparse

    parser = argparse.ArgumentParser(prog="virtsnap")
    parser.add_argument("-c", "--connect", metavar="URI")
    parser.add_argument("-r", "--readonly", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)
    help, builder = SUBCOMMANDS[name]
    sub = commands.add_parser(name, help=help, description=help)
    module, function = builder.split(":")
    getattr(_module(module), function)(sub)
    args = parser.parse_args(argv)
    from virtsnap.cli.output import Output

    session = Session({}, _guard_stdout())
    out = Output(getattr(args, "json", False), args.quiet, session.stream)

    def call() -> int:
        conn = None
        if getattr(args, "needs_connection", True):
            conn = session.connection(args.connect, args.readonly)
        return int(args.run(args, conn, out) or 0)

    try:
        return session.guarded(call, out, virsh_like=False)
    finally:
        session.close()


# ---------------------------------------------------------------- stdout


def fail(*messages: str) -> int:
    """``error:`` lines on stderr, control characters escaped; the exit status 1."""
    from virtsnap.cli.output import escape_message

    sys.stderr.write("".join(f"error: {escape_message(message)}\n" for message in messages))
    return 1


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
