"""The ``virtsnap`` command line (also ``python -m virtsnap``).

Text output follows virsh: ``list`` prints the columns of ``virsh
snapshot-list`` and ``list --tree`` its tree, byte for byte when stdout is
not a terminal (on a terminal, with rich installed, the table is drawn by
rich); ``--quiet`` acts like ``virsh -q``. ``--json`` prints the documents
described in :data:`JSON_SCHEMA`.

Exit status: 0 on success, 1 when libvirt (or a file) fails, with one line
``error: <message>`` on stderr, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import unicodedata
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

import virtsnap
from virtsnap.progress import run_with_progress
from virtsnap.tree import SnapshotTree, virsh_sort_key

if TYPE_CHECKING:
    from virtsnap.info import SnapshotInfo

__all__ = ["JSON_SCHEMA", "build_parser", "main"]

JSON_SCHEMA = """\
JSON output (--json), schema version 1. Keys are never removed or renamed
within a schema version; new keys may be added. Times are ISO 8601 in UTC.

Snapshot object:
  {
    "name":          string,
    "domain":        string,              # the domain's name
    "description":   string | null,
    "state":         string,              # domain state saved in the snapshot, as
                                          # libvirt writes it: "running", "paused",
                                          # "shutoff", "disk-snapshot", ...
    "creation_time": string,              # e.g. "2024-05-01T12:00:00+00:00"
    "parent":        string | null,       # null for a root snapshot
    "is_current":    boolean,
    "location":      "internal" | "external",
    "memory":        {"mode": "no" | "internal" | "external",
                      "file": string | null},
    "disks":         [{"name": string,                 # target, e.g. "vda"
                       "mode": "no" | "internal" | "external" | "manual" | null,
                       "driver_type": string | null,   # e.g. "qcow2"
                       "source": string | null}]       # overlay file/device/name
  }

virtsnap list DOMAIN --json         {"domain": string, "snapshots": [Snapshot, ...]}
                                    in the order of the text listing
virtsnap list DOMAIN --tree --json  {"domain": string, "roots": [Node, ...]}
                                    Node = {"name": string, "children": [Node, ...]}
virtsnap info DOMAIN SNAP --json    Snapshot, plus "children": integer,
                                    "descendants": integer, "metadata": boolean
virtsnap current DOMAIN --json      Snapshot
virtsnap parent DOMAIN SNAP --json  {"domain": string, "name": string,
                                     "parent": string | null}
virtsnap dumpxml DOMAIN SNAP --json {"domain": string, "name": string, "xml": string}
virtsnap create DOMAIN ... --json   Snapshot (the new one); with --no-metadata only
                                    {"name": string, "domain": string}
"""

DEMO_URI = "test:///default"


# ---------------------------------------------------------------- output


class Output:
    """Where and how a command prints: stdout text or JSON, quiet or not."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = getattr(args, "json", False)
        self.quiet = args.quiet
        self.stream = sys.stdout

    def write(self, text: str) -> None:
        self.stream.write(text)

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def say(self, text: str) -> None:
        """A confirmation message, silenced by --quiet (and by --json)."""
        if not self.quiet and not self.json:
            self.line(text)

    def end(self) -> None:
        """The blank line virsh prints after a listing unless quiet."""
        if not self.quiet:
            self.write("\n")

    def document(self, value: Any) -> None:
        self.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    @property
    def progress(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        console = _rich_console() if self.stream.isatty() and not self.quiet else None
        if console is None:
            self.write(virsh_table(headers, rows, header=not self.quiet))
            self.end()
            return
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
        for title in headers:
            table.add_column(title, overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # Text: no markup in names
        console.print(table)


def _rich_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()


def virsh_table(headers: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> str:
    """A table laid out as virsh's vshTable does (the plain-text fallback).

    Cells start with one space; columns are padded to their widest cell plus
    two spaces (the last column is not padded); the header is underlined
    with dashes; control characters are shown as ``\\xNN``.
    """
    table = ([headers] if header else []) + list(rows)
    cells = [[_safe_cell(cell) for cell in row] for row in table]
    widths = [max((_width(row[i]) for row in cells), default=0) for i in range(len(headers))]
    lines = []
    for number, row in enumerate(cells):
        padded = [cell + " " * (widths[i] - _width(cell) + 2) for i, cell in enumerate(row[:-1])]
        lines.append("".join(f" {cell}" for cell in padded + row[-1:]) + "\n")
        if header and number == 0:
            lines.append("-" * sum(width + 3 for width in widths) + "\n")
    return "".join(lines)


def _safe_cell(text: str) -> str:
    out = []
    for index, char in enumerate(text):
        if ord(char) < 0x20 or char == "\x7f" or text.startswith("\\x", index):
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _width(text: str) -> int:
    """Terminal columns: wide East Asian characters take 2, combining marks 0."""
    return sum(0 if unicodedata.combining(char) else
               2 if unicodedata.east_asian_width(char) in "WF" else 1
               for char in text)


def _local_time(info: "SnapshotInfo") -> str:
    """virsh's creation time: local time, "%Y-%m-%d %H:%M:%S %z"."""
    return info.creation_time.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


# ---------------------------------------------------------------- commands


def _domain(conn: Any, args: argparse.Namespace) -> Any:
    try:
        return conn.get_domain_by_name(args.domain)
    except virtsnap.DomainNotFoundError as exc:  # some drivers do not say which domain
        raise virtsnap.DomainNotFoundError(f"failed to get domain '{args.domain}': {exc}",
                                           exc.code, exc.domain, exc.level) from None


def _flags(enum: Any, args: argparse.Namespace, options: Dict[str, str]) -> int:
    """The OR of enum members named by the options set in ``args``."""
    value = 0
    for option, member in options.items():
        if getattr(args, option):
            value |= enum[member]
    return value


LIST_FILTERS = {"roots": "ROOTS", "leaves": "LEAVES", "no_leaves": "NO_LEAVES",
                "metadata": "METADATA", "no_metadata": "NO_METADATA",
                "active": "ACTIVE", "inactive": "INACTIVE", "disk_only": "DISK_ONLY",
                "internal": "INTERNAL", "external": "EXTERNAL", "topological": "TOPOLOGICAL"}
# Filters virsh refuses to combine with --tree (metadata filters are allowed).
TREE_EXCLUDED = ("leaves", "no_leaves", "active", "inactive", "disk_only", "internal",
                 "external", "parent", "roots")


def check_list_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """virsh snapshot-list's rules for combining options."""
    def option(dest: str) -> str:
        return "--" + ("from" if dest == "from_" else dest.replace("_", "-"))

    for first, second in (("parent", "roots"), ("roots", "from_")):
        if getattr(args, first) and getattr(args, second):
            parser.error(f"options {option(first)} and {option(second)} are mutually exclusive")
    if args.tree:
        for dest in TREE_EXCLUDED:
            if getattr(args, dest):
                parser.error(f"options {option(dest)} and --tree are mutually exclusive")
    if args.descendants and args.from_ is None:
        parser.error("--descendants requires --from")


def cmd_list(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    flags = _flags(virtsnap.ListFlags, args, LIST_FILTERS)
    start = dom.get_snapshot_by_name(args.from_) if args.from_ is not None else None
    if args.tree:
        tree = dom.snapshot_tree(flags)
        if start is not None:
            depth = None if args.descendants else 1
            tree = (tree.subtree(start.name, depth) if start.name in tree
                    else SnapshotTree({start.name: None}))
        if out.json:
            out.document({"domain": dom.name, "roots": [_node(tree, root) for root in tree.roots]})
        else:
            out.write(tree.render())
            out.end()
        return
    infos = dom.snapshot_infos(flags)
    if start is not None:
        # In the children listing's order, as virsh: its sort keeps the order of
        # names equal under strcasecmp.
        descendants = virtsnap.ListFlags.DESCENDANTS if args.descendants else 0
        by_name = {info.name: info for info in infos}
        infos = [by_name[name] for name in start.list_child_snapshot_names(flags | descendants)
                 if name in by_name]
    if not args.topological:
        infos.sort(key=lambda info: virsh_sort_key(info.name))
    if out.json:
        out.document({"domain": dom.name, "snapshots": [info.to_dict() for info in infos]})
        return
    headers = ["Name", "Creation Time", "State"] + (["Parent"] if args.parent else [])
    rows = [[info.name, _local_time(info), info.state]
            + ([info.parent or ""] if args.parent else []) for info in infos]
    out.table(headers, rows)


def _node(tree: SnapshotTree, name: str) -> Dict[str, Any]:
    return {"name": name, "children": [_node(tree, child) for child in tree.children(name)]}


def cmd_info(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    snap = dom.get_snapshot_by_name(args.snapshot)
    info = snap.info()
    children = snap.num_of_child_snapshots()
    descendants = snap.num_of_child_snapshots(virtsnap.ListFlags.DESCENDANTS)
    metadata = snap.has_metadata()
    if out.json:
        out.document({**info.to_dict(), "children": children, "descendants": descendants,
                      "metadata": metadata})
        return
    fields = [("Name:", info.name), ("Domain:", info.domain),
              ("Current:", "yes" if info.is_current else "no"), ("State:", info.state),
              ("Location:", info.location), ("Parent:", info.parent or "-"),
              ("Children:", children), ("Descendants:", descendants),
              ("Metadata:", "yes" if metadata else "no"),
              ("Created:", _local_time(info))]
    if info.description is not None:
        fields.append(("Description:", info.description))
    for label, value in fields:
        out.line(f"{label:<15} {value}")
    out.end()


def cmd_dumpxml(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    flags = virtsnap.XMLFlags.SECURE if args.security_info else 0
    xml = dom.get_snapshot_by_name(args.snapshot).get_xml_description(flags)
    if out.json:
        out.document({"domain": dom.name, "name": args.snapshot, "xml": xml})
    else:
        out.write(xml if xml.endswith("\n") else xml + "\n")


def cmd_current(args: argparse.Namespace, conn: Any, out: Output) -> None:
    info = _domain(conn, args).current_snapshot().info()
    if out.json:
        out.document(info.to_dict())
    else:
        out.line(info.name)


def cmd_parent(args: argparse.Namespace, conn: Any, out: Output) -> Optional[int]:
    dom = _domain(conn, args)
    parent = dom.get_snapshot_by_name(args.snapshot).get_parent()
    name = None if parent is None else parent.name
    if out.json:
        out.document({"domain": dom.name, "name": args.snapshot, "parent": name})
    elif name is None:
        return fail(f"snapshot '{args.snapshot}' has no parent")
    else:
        out.line(name)
    return None


CREATE_OPTIONS = {"disk_only": "DISK_ONLY", "halt": "HALT", "live": "LIVE", "atomic": "ATOMIC",
                  "quiesce": "QUIESCE", "no_metadata": "NO_METADATA",
                  "reuse_external": "REUSE_EXT"}


def cmd_create(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    flags = _flags(virtsnap.CreateFlags, args, CREATE_OPTIONS)
    if args.xml is not None:
        with open(args.xml, encoding="utf-8") as stream:
            call = partial(dom.create_snapshot, stream.read(), flags)
    else:
        call = partial(dom.create_snapshot, None, flags, name=args.name,
                       description=args.description)
    # Only a snapshot with memory of a running guest takes long enough to show.
    slow = not args.disk_only and dom.state() != virtsnap.DomainState.SHUTOFF
    snap = run_with_progress(call, dom, "Creating snapshot", enabled=slow and out.progress)
    if out.json:  # without metadata libvirt keeps no XML to describe it
        out.document({"name": snap.name, "domain": dom.name} if args.no_metadata
                     else snap.info().to_dict())
    else:
        out.say(f"Domain snapshot {snap.name} created")


def cmd_revert(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    snap = dom.get_snapshot_by_name(args.snapshot)
    flags = _flags(virtsnap.RevertFlags, args,
                   {"running": "RUNNING", "paused": "PAUSED", "force": "FORCE"})
    run_with_progress(partial(snap.revert_to, flags), dom, f"Reverting to {snap.name}",
                      enabled=out.progress)
    out.say(f"Domain snapshot {snap.name} reverted")


def cmd_delete(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    snap = dom.get_snapshot_by_name(args.snapshot)
    flags = _flags(virtsnap.DeleteFlags, args, {"children": "CHILDREN",
                                                "children_only": "CHILDREN_ONLY",
                                                "metadata": "METADATA_ONLY"})
    run_with_progress(partial(snap.delete, flags), dom, f"Deleting {snap.name}",
                      enabled=out.progress)
    what = " children" if args.children_only else ""
    out.say(f"Domain snapshot {snap.name}{what} deleted")


def cmd_export(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    names = dom.export_snapshots(args.directory)
    out.say(f"Exported {len(names)} snapshot(s) of domain {dom.name} to {args.directory}")


def cmd_import(args: argparse.Namespace, conn: Any, out: Output) -> None:
    dom = _domain(conn, args)
    names = dom.import_snapshots(args.directory)
    out.say(f"Imported {len(names)} snapshot(s) into domain {dom.name}")


DEMO_STEPS = [
    ("Snapshot the running guest", ["create", "test", "--name", "base",
                                    "--description", "fresh install"]),
    ("A second snapshot on top of it", ["create", "test", "--name", "configured",
                                        "--description", "web server set up"]),
    ("Go back to 'base'", ["revert", "test", "base"]),
    ("Branch off 'base'", ["create", "test", "--name", "experiment"]),
    ("And continue that branch", ["create", "test", "--name", "experiment-2"]),
    ("The snapshots as a table, with their parents", ["list", "test", "--parent"]),
    ("The same snapshots as a tree", ["list", "test", "--tree"]),
    ("Everything about one snapshot", ["info", "test", "experiment"]),
    ("Revert to 'configured'", ["revert", "test", "configured"]),
    ("The current snapshot is now", ["current", "test"]),
    ("Delete the experiment and its children", ["delete", "test", "experiment", "--children"]),
    ("What is left", ["list", "test", "--tree"]),
]


def cmd_demo(args: argparse.Namespace, conn: Any, out: Output) -> None:
    parser = build_parser()
    out.line(f"virtsnap demo on {DEMO_URI}: libvirt's test driver, whose state lives in this")
    out.line("process only, so every step below shares one connection.")
    for number, (title, argv) in enumerate(DEMO_STEPS, 1):
        out.line(f"\n[{number}/{len(DEMO_STEPS)}] {title}")
        out.line(f"$ virtsnap {shlex.join(argv)}")
        out.stream.flush()
        step = parser.parse_args(argv)
        step.quiet = args.quiet
        COMMANDS[step.command](step, conn, Output(step))


COMMANDS: Dict[str, Callable[[argparse.Namespace, Any, Output], Optional[int]]] = {
    "list": cmd_list, "info": cmd_info, "dumpxml": cmd_dumpxml, "current": cmd_current,
    "parent": cmd_parent, "create": cmd_create, "revert": cmd_revert, "delete": cmd_delete,
    "export": cmd_export, "import": cmd_import, "demo": cmd_demo,
}


# ---------------------------------------------------------------- parser


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """-c, -r, -q: accepted before the command and after it.

    After it (``suppress``), an option left out must not overwrite the value
    given before the command, hence SUPPRESS as the sub-parsers' default.
    """
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("-c", "--connect", metavar="URI",
                        default=default(os.environ.get("LIBVIRT_DEFAULT_URI")),
                        help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, else libvirt's own)")
    parser.add_argument("-r", "--readonly", action="store_true", default=default(False),
                        help="open a read-only connection")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False),
                        help="no headers, confirmations or progress (like virsh -q)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="virtsnap", description="Manage libvirt domain snapshots.",
        epilog="--json output is described in virtsnap.cli.JSON_SCHEMA (and the README).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {virtsnap.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(parser, suppress=False)
    _add_global_options(common, suppress=True)
    reader = argparse.ArgumentParser(add_help=False, parents=[common])
    reader.add_argument("--json", action="store_true", help="print JSON (see JSON_SCHEMA)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, with_json: bool = False,
                snapshot: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help,
                                  parents=[reader if with_json else common])
        if name not in ("demo",):
            sub.add_argument("domain", metavar="DOMAIN", help="domain name")
        if snapshot:
            sub.add_argument("snapshot", metavar="SNAP", help="snapshot name")
        return sub

    listing = command("list", "list a domain's snapshots (virsh snapshot-list)", with_json=True)
    listing.add_argument("--tree", action="store_true", help="draw the snapshots as a tree")
    listing.add_argument("--parent", action="store_true", help="add a Parent column")
    for option, help in (("roots", "only snapshots without a parent"),
                         ("leaves", "only snapshots without children"),
                         ("no-leaves", "only snapshots with children"),
                         ("metadata", "only snapshots with libvirt metadata"),
                         ("no-metadata", "only snapshots without libvirt metadata"),
                         ("active", "only snapshots of a running guest (with memory)"),
                         ("inactive", "only snapshots of a shut-off guest"),
                         ("disk-only", "only disk-only snapshots"),
                         ("internal", "only internal snapshots"),
                         ("external", "only external snapshots"),
                         ("topological", "parents before children, in libvirt's order")):
        listing.add_argument(f"--{option}", action="store_true", help=help)
    listing.add_argument("--from", dest="from_", metavar="SNAP",
                         help="only the children of SNAP (with --tree: SNAP and them)")
    listing.add_argument("--descendants", action="store_true",
                         help="with --from: all descendants, not only children")

    command("info", "show a snapshot's details (virsh snapshot-info)", with_json=True,
            snapshot=True)
    dumpxml = command("dumpxml", "print a snapshot's XML", with_json=True, snapshot=True)
    dumpxml.add_argument("--security-info", action="store_true",
                         help="include security-sensitive information")
    command("current", "print the current snapshot", with_json=True)
    command("parent", "print a snapshot's parent", with_json=True, snapshot=True)

    create = command("create", "take a snapshot", with_json=True)
    create.add_argument("--name", help="snapshot name (default: libvirt picks one)")
    create.add_argument("--description", help="free-form description")
    create.add_argument("--xml", metavar="FILE", help="a <domainsnapshot> XML file instead")
    for option, help in (("disk-only", "disks only, no memory (external by default)"),
                         ("halt", "stop the guest after the snapshot"),
                         ("live", "take the memory state while the guest runs"),
                         ("atomic", "all disks or none"),
                         ("quiesce", "freeze guest filesystems (needs the guest agent)"),
                         ("no-metadata", "keep no libvirt metadata for it"),
                         ("reuse-external", "reuse existing external files")):
        create.add_argument(f"--{option}", action="store_true", help=help)

    revert = command("revert", "revert the domain to a snapshot", snapshot=True)
    state = revert.add_mutually_exclusive_group()
    state.add_argument("--running", action="store_true", help="run the guest afterwards")
    state.add_argument("--paused", action="store_true", help="pause the guest afterwards")
    revert.add_argument("--force", action="store_true", help="revert even when risky")

    delete = command("delete", "delete a snapshot", snapshot=True)
    which = delete.add_mutually_exclusive_group()
    which.add_argument("--children", action="store_true", help="also delete its descendants")
    which.add_argument("--children-only", action="store_true",
                       help="delete its descendants, keep it")
    delete.add_argument("--metadata", action="store_true",
                        help="delete only libvirt's metadata, keep the data")

    for name, help in (("export", "write all snapshots' XML and an index into DIR"),
                       ("import", "redefine the snapshots exported in DIR on DOMAIN")):
        command(name, help).add_argument("directory", metavar="DIR")

    command("demo", f"a guided tour on {DEMO_URI}")
    from virtsnap.policy_cli import add_commands  # auto, prune: they open their own connections
    add_commands(commands, [common])
    return parser


# ---------------------------------------------------------------- main


def fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "run_command"):
        return int(args.run_command(args))
    if args.command == "list":
        check_list_options(parser, args)
    elif args.command == "create" and args.xml is not None and (args.name or args.description):
        parser.error("--xml cannot be combined with --name or --description")
    elif args.command == "demo":
        if args.connect is not None and not args.connect.startswith("test"):
            parser.error("demo only runs on libvirt's test driver (test:///default)")
        args.connect = DEMO_URI
    try:
        with virtsnap.open(args.connect, readonly=args.readonly) as conn:
            status = COMMANDS[args.command](args, conn, Output(args))
        sys.stdout.flush()
    except virtsnap.LibvirtError as exc:
        return fail(str(exc))
    except (OSError, ValueError) as exc:  # export/import files, --xml FILE
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, unless debugging
        if os.environ.get("VIRTSNAP_DEBUG"):
            raise
        return fail(f"internal error: {type(exc).__name__}: {exc}")
    return status or 0


def _broken_pipe() -> int:
    """stdout was closed early (e.g. ``| head``): exit quietly, like other tools."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
