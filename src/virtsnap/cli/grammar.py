"""virtsnap's command-line grammar: one table, read the way virsh reads its own.

:data:`COMMANDS` lists every command. Each :class:`Command` holds its
:class:`Option` s in virsh's order (libvirt's ``tools/virsh-snapshot.c``,
virsh 9.0), because that order decides where positional words go: a word
that is not an option fills the first option, in table order, that takes
positional data and has not been given yet (an :data:`ARGV` option takes
every word left). The same table gives the parser (:func:`parse`),
``--help`` (:func:`help_text`), shell completion (:func:`completion`) and
the reference docs (iterate :data:`COMMANDS`; ``own`` marks what virsh does
not have).

The rules, as virsh's: ``--opt value`` or ``--opt=value``; no
abbreviations; an option given twice is refused ("option --x already seen"),
except an ARGV one; ``--`` makes every later word positional data; a word
``--x`` whose third character is not a letter or digit is data.

How to add a command: append ``Command("name", "one-line help", "module:function",
options=(...))`` to :data:`COMMANDS`, with ``virsh="snapshot-..."`` when it
mirrors a virsh command (then its own options carry ``own=True``) and
``connection=False`` when it runs without a libvirt connection
(``usage_errors=True``: a refused command line still runs it, with virsh's
lines in ``args.usage_error``, as ``status`` answers UNKNOWN). The function
is called as ``function(args, conn, out)``: ``args`` has one attribute per
option (its ``dest``: the name with ``-`` as ``_``), ``conn`` the open
connection (or None), ``out`` the :class:`virtsnap.cli.output.Output`.
Options: ``Option(name, BOOL | STRING | DATA | ARGV | INT | NUMBER | LIST,
help)``; STRING and DATA take positional words unless ``positional=False``
(virtsnap's own options are named-only, so virsh's positions never move).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ARGV", "BOOL", "COMMANDS", "DATA", "GLOBAL_OPTIONS", "INT", "LIST", "NUMBER", "synopsis",
           "STRING", "Arguments", "Command", "GrammarError", "Option", "completion", "find",
           "help_text", "overview", "parse"]

BOOL = "bool"      # --opt, no value
STRING = "string"  # --opt VALUE, or positional unless positional=False
DATA = "data"      # positional (or --opt VALUE), required
ARGV = "argv"      # every positional word left, or --opt VALUE repeated
INT = "int"        # virtsnap's own: a whole number >= 0, named-only
NUMBER = "number"  # virtsnap's own: a finite number >= 0, named-only
LIST = "list"      # virtsnap's own: --opt VALUE, repeatable, named-only


class GrammarError(Exception):
    """A command line the grammar refuses; the messages are virsh's, without ``error: ``
    (virsh names every missing required option, one line each)."""

    def __init__(self, message: str, *more: str) -> None:
        super().__init__(message)
        self.lines = (message,) + more


class Option:
    """One option of a command, as virsh's vshCmdOptDef describes one."""

    __slots__ = ("name", "type", "help", "required", "positional", "own", "dest", "short",
                 "metavar", "minimum")

    def __init__(self, name: str, type: str, help: str, *, required: bool = False,
                 positional: "bool | None" = None, own: bool = False, dest: "str | None" = None,
                 short: "str | None" = None, metavar: str = "string", minimum: int = 0) -> None:
        self.name = name
        self.type = type
        self.help = help
        self.required = required or type == DATA
        self.positional = (type in (STRING, DATA, ARGV)) if positional is None else positional
        self.own = own
        self.dest = dest or name.replace("-", "_")
        self.short = short
        self.metavar = metavar
        self.minimum = minimum  # of an INT or NUMBER

    @property
    def default(self) -> object:
        if self.type == BOOL:
            return False
        if self.type in (ARGV, LIST):
            return []
        return None

    def __repr__(self) -> str:
        return f"Option({self.name!r}, {self.type!r})"


class Command:
    """One command: its names, help, options and the function that runs it."""

    __slots__ = ("name", "help", "run", "options", "virsh", "connection", "defaults", "own",
                 "usage_errors")

    def __init__(self, name: str, help: str, run: str, options: "tuple[Option, ...]" = (), *,
                 virsh: "str | None" = None, connection: bool = True,
                 defaults: "dict[str, object] | None" = None, usage_errors: bool = False
                 ) -> None:
        self.usage_errors = usage_errors  # the command reports them (args.usage_error)
        self.name = name
        self.help = help
        self.run = run
        self.options = options
        self.virsh = virsh
        self.connection = connection
        self.defaults = defaults or {}
        self.own = virsh is None

    def option(self, name: str, strict: bool) -> "Option | None":
        for option in self.options:
            if option.name == name and not (strict and option.own):
                return option
        return None

    def __repr__(self) -> str:
        return f"Command({self.name!r})"


class Arguments:
    """The parsed command line: one attribute per option, plus ``command`` and ``strict``."""

    def __init__(self, values: "dict[str, object]") -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any:  # the options are the table's, not fixed
            ...

    def __repr__(self) -> str:
        return f"Arguments({self.__dict__!r})"


# ---------------------------------------------------------------- the table

def _domain(help: str = "domain name, id or uuid") -> Option:
    return Option("domain", DATA, help)


def _snapshotname(help: str = "snapshot name") -> Option:
    return Option("snapshotname", STRING, help, dest="snapshot")


_JSON = Option("json", BOOL, "print JSON (virtsnap json-schema)", own=True)

_CREATE_FLAGS = (
    Option("no-metadata", BOOL, "take snapshot but create no metadata"),
    Option("halt", BOOL, "halt domain after snapshot is created"),
    Option("disk-only", BOOL, "capture disk state but not vm state"),
    Option("reuse-external", BOOL, "reuse any existing external files"),
    Option("quiesce", BOOL, "quiesce guest's file systems"),
    Option("atomic", BOOL, "require atomic operation"),
    Option("live", BOOL, "take a live snapshot"),
    Option("validate", BOOL, "validate the XML against the schema"),
)

_CREATE_AS = (
    _domain(),
    Option("name", STRING, "name of snapshot"),
    Option("description", STRING, "description of snapshot"),
    Option("print-xml", BOOL, "print XML document rather than create"),
) + _CREATE_FLAGS + (
    Option("memspec", STRING, "memory attributes: [file=]name[,snapshot=type]",
           positional=False),
    Option("diskspec", ARGV,
           "disk attributes: disk[,snapshot=type][,driver=type][,stype=type][,file=name]"),
)

_CREATE_XML = (
    _domain(),
    Option("xmlfile", STRING, "domain snapshot XML", dest="xml"),
    Option("redefine", BOOL, "redefine metadata for existing snapshot"),
    Option("current", BOOL, "with redefine, set current snapshot"),
) + _CREATE_FLAGS

_LIST = (
    _domain(),
    Option("parent", BOOL, "add a column showing parent snapshot"),
    Option("roots", BOOL, "list only snapshots without parents"),
    Option("leaves", BOOL, "list only snapshots without children"),
    Option("no-leaves", BOOL, "list only snapshots that are not leaves (with children)"),
    Option("metadata", BOOL,
           "list only snapshots that have metadata that would prevent undefine"),
    Option("no-metadata", BOOL, "list only snapshots that have no metadata managed by libvirt"),
    Option("inactive", BOOL, "filter by snapshots taken while inactive"),
    Option("active", BOOL, "filter by snapshots taken while active (full system snapshots)"),
    Option("disk-only", BOOL, "filter by disk-only snapshots"),
    Option("internal", BOOL, "filter by internal snapshots"),
    Option("external", BOOL, "filter by external snapshots"),
    Option("tree", BOOL, "list snapshots in a tree"),
    Option("from", STRING, "limit list to children of given snapshot", dest="from_"),
    Option("current", BOOL, "limit list to children of current snapshot"),
    Option("descendants", BOOL, "with --from, list all descendants"),
    Option("name", BOOL, "list snapshot names only"),
    Option("topological", BOOL, "sort list topologically rather than by name"),
    _JSON,
)

_C = "virtsnap.cli.commands:"

# Each virsh command appears once; its virtsnap name (``name``) and virsh's
# (``virsh``) both find it. By virsh's name it takes virsh's options alone.
COMMANDS: "tuple[Command, ...]" = (
    Command("list", "list snapshots for a domain", _C + "cmd_list", _LIST,
            virsh="snapshot-list"),
    Command("info", "snapshot information", _C + "cmd_info", (
        _domain(), _snapshotname(), Option("current", BOOL, "info on current snapshot"),
        _JSON,
        Option("details", BOOL, "also print the creation time and the description", own=True),
    ), virsh="snapshot-info"),
    Command("dumpxml", "Dump XML for a domain snapshot", _C + "cmd_dumpxml", (
        _domain(), Option("snapshotname", DATA, "snapshot name", dest="snapshot"),
        Option("security-info", BOOL, "include security sensitive information in XML dump"),
        Option("xpath", STRING, "xpath expression to filter the XML document",
               positional=False),
        Option("wrap", BOOL, "wrap xpath results in an common root element"),
        _JSON,
    ), virsh="snapshot-dumpxml"),
    Command("current", "Get or set the current snapshot", _C + "cmd_current", (
        _domain(), Option("name", BOOL, "list the name, rather than the full xml"),
        Option("security-info", BOOL, "include security sensitive information in XML dump"),
        _snapshotname("name of existing snapshot to make current"), _JSON,
    ), virsh="snapshot-current"),
    Command("parent", "Get the name of the parent of a snapshot", _C + "cmd_parent", (
        _domain(), _snapshotname("find parent of snapshot name"),
        Option("current", BOOL, "find parent of current snapshot"), _JSON,
    ), virsh="snapshot-parent"),
    Command("create", "Create a snapshot from a set of args", _C + "cmd_create", _CREATE_AS + (
        _JSON,
        Option("xml", STRING, "a <domainsnapshot> XML file instead (virsh snapshot-create)",
               positional=False, own=True, metavar="file"),
        Option("redefine", BOOL, "with --xml: redefine metadata for existing snapshot",
               own=True),
        Option("current", BOOL, "with --xml --redefine: set current snapshot", own=True),
    ), virsh="snapshot-create-as"),
    Command("snapshot-create", "Create a snapshot from XML", _C + "cmd_create",
            _CREATE_XML + (_JSON,), virsh="snapshot-create",
            defaults={"name": None, "description": None, "memspec": None, "diskspec": [],
                      "print_xml": False}),
    Command("edit", "edit XML for a snapshot", _C + "cmd_edit", (
        _domain(), _snapshotname(),
        Option("current", BOOL, "also set edited snapshot as current"),
        Option("rename", BOOL, "allow renaming an existing snapshot"),
        Option("clone", BOOL, "allow cloning to new name"),
    ), virsh="snapshot-edit"),
    Command("revert", "Revert a domain to a snapshot", _C + "cmd_revert", (
        _domain(), _snapshotname(), Option("current", BOOL, "revert to current snapshot"),
        Option("running", BOOL, "after reverting, change state to running"),
        Option("paused", BOOL, "after reverting, change state to paused"),
        Option("force", BOOL, "try harder on risky reverts"),
        Option("reset-nvram", BOOL, "re-initialize NVRAM from its pristine template"),
    ), virsh="snapshot-revert"),
    Command("delete", "Delete a domain snapshot", _C + "cmd_delete", (
        _domain(), _snapshotname(), Option("current", BOOL, "delete current snapshot"),
        Option("children", BOOL, "delete snapshot and all children"),
        Option("children-only", BOOL, "delete children but not snapshot"),
        Option("metadata", BOOL,
               "delete only libvirt metadata, leaving snapshot contents behind"),
    ), virsh="snapshot-delete"),
    Command("export", "write all snapshots' XML and an index into DIR", _C + "cmd_export", (
        _domain(), Option("directory", DATA, "the directory to write"),
        Option("security-info", BOOL, "include security-sensitive information (passwords)"),
    )),
    Command("import", "redefine the snapshots exported in DIR on DOMAIN", _C + "cmd_import", (
        _domain(), Option("directory", DATA, "the directory exported"),
        Option("replace", BOOL, "overwrite the domain's snapshots of the same names"),
    )),
    Command("auto", "take and prune snapshots as a policy file says",
            "virtsnap.cli.auto:run_auto", (
                Option("config", STRING, "TOML policy file", required=True, positional=False,
                       metavar="file"),
                Option("label", LIST, "only this policy (repeatable)", metavar="label"),
                Option("domain", LIST, "only domains matching GLOB; !GLOB excludes (repeatable)",
                       metavar="glob"),
                Option("workers", INT, "hosts and domains handled at once (default 4)",
                       metavar="number", minimum=1),
                Option("metrics-file", STRING,
                       "write Prometheus metrics of the run to PATH, atomically "
                       "(node_exporter's textfile collector; not with --dry-run)",
                       positional=False, metavar="path"),
                Option("dry-run", BOOL, "change nothing, print the plan"),
                Option("json", BOOL, "print the report as JSON"),
                Option("verbose", BOOL, "print a summary also when stdout is no terminal",
                       short="v"),
                Option("lock-wait", NUMBER,
                       "wait this long (seconds) for another run on the same domain "
                       "(default 60)", metavar="seconds"),
            ), connection=False, defaults={"workers": 4, "lock_wait": 60.0}),
    Command("prune", "prune one domain's snapshots of a label", "virtsnap.cli.auto:run_prune", (
        Option("domain", DATA, "domain name, id or uuid"),
        Option("label", STRING, "the policy label ([a-z0-9_]+)", required=True,
               positional=False, metavar="label"),
        Option("keep-last", INT, "keep the N newest", metavar="number"),
        Option("keep-hourly", INT, "keep the newest of each of the N newest hours with one",
               metavar="number"),
        Option("keep-daily", INT, "keep the newest of each of the N newest days with one",
               metavar="number"),
        Option("keep-weekly", INT,
               "keep the newest of each of the N newest ISO weeks with one", metavar="number"),
        Option("keep-monthly", INT, "keep the newest of each of the N newest months with one",
               metavar="number"),
        Option("keep-yearly", INT, "keep the newest of each of the N newest years with one",
               metavar="number"),
        Option("timezone", STRING, "zone of the hours, days, weeks... (default UTC)",
               positional=False, metavar="zone"),
        Option("config", STRING, "policy file whose [defaults] lock_dir to share with auto",
               positional=False, metavar="file"),
        Option("dry-run", BOOL, "change nothing, print the plan"),
        Option("json", BOOL, "print the report as JSON"),
        Option("verbose", BOOL, "print a summary also when stdout is no terminal", short="v"),
        Option("lock-wait", NUMBER,
               "wait this long (seconds) for another run on the same domain (default 60)",
               metavar="seconds"),
    ), connection=False, defaults={"timezone": "UTC", "lock_wait": 60.0, "keep_last": 0,
                                   "keep_hourly": 0, "keep_daily": 0, "keep_weekly": 0,
                                   "keep_monthly": 0, "keep_yearly": 0}),
    Command("du", "show the disk space a domain's images and snapshots use",
            "virtsnap.cli.du:cmd_du", (_domain(), _JSON)),
    Command("check", "check a domain's snapshots against its disks' backing chains",
            "virtsnap.cli.check:cmd_check", (
                _domain(), _JSON,
                Option("repair", BOOL, "finish or roll back unfinished operations; "
                       "touch nothing else"))),
    Command("status", "check that the policies' snapshots are on time (monitoring plugin)",
            "virtsnap.cli.status:cmd_status", (
                Option("config", STRING, "TOML policy file", positional=False,
                       metavar="file"),
                Option("json", BOOL, "print the result as JSON"),
            ), connection=False, defaults={"usage_error": None}, usage_errors=True),
    Command("group", "snapshots of several domains at one point in time",
            "virtsnap.cli.group:cmd_group", (
                Option("action", DATA, "create, list, revert or delete"),
                Option("members", ARGV, "the domains: NAME, ID, UUID or URI/NAME "
                       "(revert and delete: the group snapshot's NAME first)"),
                Option("name", STRING, "the group snapshot's name", positional=False),
                Option("description", STRING, "free-form description (create)",
                       positional=False, metavar="text"),
                Option("quiesce", BOOL, "freeze the members' filesystems through the guest "
                       "agent instead of pausing them (create)"),
                Option("disk-only", BOOL, "disks only, no memory (create)"),
                Option("json", BOOL, "print JSON"),
            ), connection=False),
    Command("demo", "a guided tour on libvirt's test driver", _C + "cmd_demo",
            connection=False),
    Command("json-schema", "print the JSON Schema of the --json output",
            _C + "cmd_json_schema", connection=False),
    Command("help", "print help for a command, or list the commands",
            "virtsnap.cli.grammar:run_help",
            (Option("command", STRING, "the command", dest="command_name"),), connection=False),
    Command("completion", "print a bash or zsh completion script",
            "virtsnap.cli.grammar:run_completion",
            (Option("shell", DATA, "bash or zsh"),), connection=False),
)

# Global options: before the command, as virsh's; after a command typed by
# virtsnap's name too (virtsnap's own). name -> (dest, takes a value)
GLOBAL_OPTIONS = {"-c": ("connect", True), "--connect": ("connect", True),
                  "-r": ("readonly", False), "--readonly": ("readonly", False),
                  "-q": ("quiet", False), "--quiet": ("quiet", False)}

_BY_NAME: "dict[str, tuple[Command, bool]]" = {}


def find(name: str) -> "tuple[Command, bool] | None":
    """The command typed as ``name`` and whether it was virsh's name (strict grammar)."""
    if not _BY_NAME:
        for command in COMMANDS:
            if command.virsh is not None:
                _BY_NAME[command.virsh] = (command, True)
            _BY_NAME.setdefault(command.name, (command, False))
    return _BY_NAME.get(name)


def label(command: Command) -> str:
    """The name messages use: virsh's where the command is virsh's."""
    return command.virsh or command.name


# ---------------------------------------------------------------- the parser


def parse(name: str, words: "list[str]", values: "dict[str, object] | None" = None
          ) -> "tuple[Command, Arguments]":
    """``words`` after command ``name``, read as virsh's vshCommandParse reads them.

    ``values`` holds the global options read before the command; the result
    holds them too (a global option after the command overrides one before).
    Raises :class:`GrammarError` with virsh's message.
    """
    found = find(name)
    if found is None:
        raise GrammarError(f"unknown command: '{name}'")
    command, strict = found
    result: "dict[str, object]" = {"connect": None, "readonly": False, "quiet": False}
    result.update(values or {})
    result.update({option.dest: option.default for option in command.options})
    result.update(command.defaults)
    result["command"] = command.name
    result["strict"] = strict
    try:
        _read(command, strict, words, result)
    except GrammarError as exc:
        if not command.usage_errors:
            raise
        result["usage_error"] = list(exc.lines)
    return command, Arguments(result)


def _read(command: Command, strict: bool, words: "list[str]", result: "dict[str, object]"
          ) -> None:
    """The options in ``words`` into ``result``; GrammarError for a line virsh refuses."""
    waiting = [option for option in command.options
               if option.positional and not (strict and option.own)]
    seen: "set[str]" = set()
    data_only = False
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if not data_only and word[:2] == "--" and len(word) > 2 and _alnum(word[2]):
            option_name, equals, value = word[2:].partition("=")
            if option_name == "help" and command.option("help", strict) is None:
                result["help"] = True
                return
            option = command.option(option_name, strict)
            if option is None and not strict and word.split("=")[0] in GLOBAL_OPTIONS:
                index = _global(word, words, index, result)
                continue
            if option is None:
                raise GrammarError(f"command '{label(command)}' doesn't support option "
                                   f"--{option_name}")
            if option.name in seen and option.type not in (ARGV, LIST):
                raise GrammarError(f"option --{option_name} already seen")
            seen.add(option.name)
            if option.type == BOOL:
                if equals:
                    raise GrammarError(f"invalid '=' after option --{option_name}")
                result[option.dest] = True
                continue
            if not equals:
                if index >= len(words):
                    raise GrammarError(f"expected syntax: --{option_name} <{_kind(option)}>")
                value = words[index]
                index += 1
            _store(command, option, value, result)
            if option.type != ARGV and option in waiting:
                waiting.remove(option)
        elif not data_only and word == "--":
            data_only = True
        elif not data_only and not strict and word in GLOBAL_OPTIONS:
            index = _global(word, words, index, result)
        elif not data_only and not strict and word[:1] == "-" and _short(command, word[1:]):
            option = _short(command, word[1:])
            assert option is not None
            seen.add(option.name)
            result[option.dest] = True
        else:
            if not waiting:
                raise GrammarError(f"unexpected data '{word}'")
            option = waiting[0]
            if option.type != ARGV:
                waiting.pop(0)
            seen.add(option.name)
            _store(command, option, word, result)
    missing = [f"command '{label(command)}' requires "
               + (f"<{option.name}>" if option.type in (DATA, ARGV) else f"--{option.name}")
               + " option" for option in command.options
               if option.required and option.name not in seen and not (strict and option.own)]
    if missing:
        raise GrammarError(*missing)


def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _kind(option: Option) -> str:
    return "number" if option.type in (INT, NUMBER) else "string"


def _short(command: Command, letter: str) -> "Option | None":
    for option in command.options:
        if option.short is not None and option.short == letter and option.type == BOOL:
            return option
    return None


def _global(word: str, words: "list[str]", index: int, result: "dict[str, object]") -> int:
    name, equals, value = word.partition("=")
    dest, takes_value = GLOBAL_OPTIONS[name]
    if not takes_value:
        if equals:
            raise GrammarError(f"invalid '=' after option {name}")
        result[dest] = True
        return index
    if not equals:
        if index >= len(words):
            raise GrammarError(f"expected syntax: {name} <string>")
        value = words[index]
        index += 1
    result[dest] = value
    return index


def _store(command: Command, option: Option, value: str, result: "dict[str, object]") -> None:
    if option.type in (ARGV, LIST):
        listed = result[option.dest]
        assert isinstance(listed, list)
        result[option.dest] = listed + [value]
    elif option.type in (INT, NUMBER):
        result[option.dest] = _number(option, value)
    else:
        result[option.dest] = value


def _number(option: Option, text: str) -> "int | float":
    try:
        number: "int | float" = int(text) if option.type == INT else float(text)
    except ValueError:
        number = -1
    if not option.minimum <= number < float("inf"):
        raise GrammarError(f"Numeric value '{text}' for <{option.name}> option is malformed "
                           "or out of range")
    return number


# ---------------------------------------------------------------- help, completion


def synopsis(command: Command, strict: bool) -> str:
    """The command's one-line synopsis, as virsh's help prints it (virsh's options alone
    with ``strict``)."""
    parts = []
    for option in command.options:
        if strict and option.own:
            continue
        if option.type == BOOL:
            part = f"[--{option.name}]"
        elif option.type == DATA:
            part = f"<{option.name}>"
        elif option.type == ARGV:
            part = f"[[--{option.name}] <{option.metavar}>]..."
        elif option.required:
            part = f"--{option.name} <{option.metavar}>"
        else:
            part = f"[--{option.name} <{option.metavar}>]"
        if option.type == LIST:
            part += "..."
        parts.append(part)
    return " ".join([command.virsh if strict and command.virsh else command.name] + parts)


def help_text(name: str) -> str:
    """``name``'s help, laid out as ``virsh help COMMAND`` lays it out."""
    found = find(name)
    if found is None:
        raise GrammarError(f"command or command group '{name}' doesn't exist")
    command, strict = found
    lines = ["  NAME", f"    {name} - {command.help}", ""]
    if command.virsh and not strict and command.name != command.virsh:
        lines[1] += f" (virsh {command.virsh})"
    lines += ["  SYNOPSIS", f"    {synopsis(command, strict)}", ""]
    options = [option for option in command.options if not (strict and option.own)]
    if options:
        lines.append("  OPTIONS")
    for option in options:
        head = f"--{option.name}"
        if option.positional:
            head = f"[{head}]"
        if option.type != BOOL:
            head += f" <{option.metavar}>"
        mark = " (virtsnap's own)" if option.own and command.virsh else ""
        lines.append(f"    {head:<15}  {option.help}{mark}")
    return "\n".join(lines) + "\n\n"


def overview() -> str:
    """``virtsnap --help``: the global options and the commands."""
    lines = ["usage: virtsnap [-c URI] [-r] [-q] COMMAND [ARGS...]",
             "       virtsnap --version | --help | help COMMAND", "",
             "Manage libvirt domain snapshots; virsh's snapshot-* names and options work too.",
             "", "  -c, --connect URI  libvirt URI (default: $LIBVIRT_DEFAULT_URI, else "
             "libvirt's own)", "  -r, --readonly     open a read-only connection",
             "  -q, --quiet        no headers, confirmations or progress (like virsh -q)",
             "", "commands:"]
    for command in COMMANDS:
        also = f" ({command.virsh})" if command.virsh and command.virsh != command.name else ""
        lines.append(f"  {command.name:<13} {command.help}{also}")
    lines += ["", "--json output follows the schema that `virtsnap json-schema` prints."]
    return "\n".join(lines) + "\n"


def run_help(args: Arguments, conn: object, out: "object") -> None:
    text = overview() if args.command_name is None else help_text(str(args.command_name))
    out.write(text)  # type: ignore[attr-defined]


def completion(shell: str) -> str:
    """A completion script for ``shell`` ("bash" or "zsh"), from :data:`COMMANDS`."""
    names = []
    cases = []
    for command in COMMANDS:
        for name, strict in ((command.name, False), (command.virsh, True)):
            if name is None or name in names:
                continue
            names.append(name)
            options = " ".join(f"--{option.name}" for option in command.options
                               if not (strict and option.own))
            cases.append(f"        {name}) opts='{options}' ;;")
    body = "\n".join(cases)
    script = f"""_virtsnap() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} command='' word opts=''
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case $word in -c|--connect) ;; -*) ;; *) [ -z "$command" ] && command=$word ;; esac
    done
    if [ -z "$command" ]; then
        COMPREPLY=($(compgen -W '{" ".join(names)} -c --connect -r --readonly -q --quiet --version --help' -- "$cur"))
        return
    fi
    case $command in
{body}
    esac
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}}
complete -F _virtsnap virtsnap
"""
    if shell == "bash":
        return script
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + script
    raise GrammarError(f"unknown shell '{shell}': bash or zsh")


def run_completion(args: Arguments, conn: object, out: "object") -> None:
    out.write(completion(str(args.shell)))  # type: ignore[attr-defined]
