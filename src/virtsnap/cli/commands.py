"""The snapshot commands of ``virtsnap``: ``cmd_<name>(args, conn, out)``.

Their options are in :data:`virtsnap.cli.grammar.COMMANDS`; each command
checks, looks up and prints as virsh's ``snapshot-*`` command does, with
virsh's messages.
"""

from __future__ import annotations

import os

import virtsnap
from virtsnap.cli.errors import CommandError, Interrupted, UsageError
from virtsnap.cli.output import Output, escape

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import threading
    from typing import Callable, Dict, List, Optional, TypeVar

    from virtsnap import Connection, Domain, DomainSnapshot
    from virtsnap.cli.grammar import Arguments
    from virtsnap.cli.schema import DumpxmlDocument, InfoDocument, ListDocument, ParentDocument
    from virtsnap.external import Outcome
    from virtsnap.info import SnapshotInfo
    from virtsnap.tree import SnapshotTree

    Result = TypeVar("Result")

DEMO_URI = "test:///default"


# ---------------------------------------------------------------- shared pieces


def find_domain(conn: "Connection", name: str) -> "Domain":
    """The domain named by ``name``: an ID, a UUID or a name, tried in virsh's order."""
    given(name, "domain")
    if name.isascii() and name.isdigit():
        try:
            return conn.get_domain_by_id(int(name))
        except (virtsnap.DomainNotFoundError, OverflowError):
            pass
    if len(name) == 36:
        try:
            return conn.get_domain_by_uuid(name)
        except (virtsnap.DomainNotFoundError, virtsnap.InvalidArgumentError, ValueError):
            pass
    try:
        return conn.get_domain_by_name(name)
    except virtsnap.DomainNotFoundError:
        raise CommandError(f"failed to get domain '{name}'") from None


def _flags(enum: str, args: Arguments, options: Dict[str, str]) -> int:
    """The OR of the members of flag class ``enum`` named by the options set in ``args``
    (as ints: the enum class is never built)."""
    from virtsnap._snapshot import flag_value

    value = 0
    for option, member in options.items():
        if getattr(args, option):
            value |= flag_value(enum, member)
    return value








def given(value: Optional[str], option: str) -> Optional[str]:
    """``value``, unless it is empty: virsh refuses an empty option argument where the
    command reads it (the order of its messages is the order of these reads)."""
    if value == "":
        raise CommandError(f"Failed to get option '{option}': Option argument is empty")
    return value


def _lookup(dom: "Domain", args: Arguments, exclusive: bool = True) -> "DomainSnapshot":
    given(args.snapshot, "snapshotname")
    if args.snapshot is not None and args.current and exclusive:
        raise UsageError("--snapshotname and --current are mutually exclusive")
    if args.snapshot is not None:
        return dom.get_snapshot_by_name(args.snapshot)
    if args.current:
        return _current(dom, args.domain)
    raise UsageError("--snapshotname or --current is required")


def _current(dom: "Domain", label: str) -> "DomainSnapshot":
    if not dom.has_current_snapshot():
        raise CommandError(f"domain '{label}' has no current snapshot")
    return dom.current_snapshot()




def _local_time(info: "SnapshotInfo") -> str:
    """virsh's creation time: local time, "%Y-%m-%d %H:%M:%S %z" (the time module's
    C calls: datetime.astimezone() looks the local zone up again for every row)."""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(info.creation_time.timestamp()))


def _print_xml(out: Output, xml: str) -> None:
    """XML as virsh prints it: a final newline, then virsh's blank line unless quiet."""
    out.write(xml if xml.endswith("\n") else xml + "\n")
    out.end()


def _redefine_flags(xml: str) -> int:
    """What virsh adds when it redefines a snapshot from its own XML."""
    flags = virtsnap.CreateFlags.REDEFINE
    if "<state>disk-snapshot</state>" in xml:
        flags |= virtsnap.CreateFlags.DISK_ONLY
    return int(flags)


def run_job(call: "Callable[[], Result]", dom: "Domain", description: str,
            out: Output) -> "Result":
    """``call()`` in a worker thread, with a progress display on a terminal.

    Ctrl-C asks libvirt to abort the domain's job (``abort_job()``), waits for
    the call to end, says whether the job stopped, and exits with 130.
    """
    import threading

    from virtsnap.progress import run_with_progress

    outcome: "Dict[str, Result]" = {}
    failed: "List[BaseException]" = []
    done = threading.Event()

    def worker() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            failed.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=worker, name="virtsnap-call", daemon=True)
    thread.start()
    try:
        run_with_progress(lambda: done.wait(), dom, description, enabled=out.progress)
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        raise Interrupted(_abort(dom, done, failed)) from None
    if failed:
        raise failed[0]
    return outcome["value"]


def _abort(dom: "Domain", done: "threading.Event", failed: "List[BaseException]") -> str:
    try:
        dom.abort_job()
    except virtsnap.LibvirtError as exc:
        aborted = f"no job could be aborted ({exc})"
    else:
        aborted = "asked libvirt to abort the job"
    if not done.wait(60):
        return f"interrupted: {aborted}; the call is still running in libvirt"
    if failed:
        return f"interrupted: {aborted}; the job stopped: {failed[0]}"
    return f"interrupted: {aborted}; the job had already finished and succeeded"


# ---------------------------------------------------------------- list

LIST_FILTERS = (("roots", "ROOTS", "only snapshots without a parent"),
                ("leaves", "LEAVES", "only snapshots without children"),
                ("no-leaves", "NO_LEAVES", "only snapshots with children"),
                ("metadata", "METADATA", "only snapshots with libvirt metadata"),
                ("no-metadata", "NO_METADATA", "only snapshots without libvirt metadata"),
                ("inactive", "INACTIVE", "only snapshots of a shut-off guest"),
                ("active", "ACTIVE", "only snapshots of a running guest (with memory)"),
                ("disk-only", "DISK_ONLY", "only disk-only snapshots"),
                ("internal", "INTERNAL", "only internal snapshots"),
                ("external", "EXTERNAL", "only external snapshots"),
                ("topological", "TOPOLOGICAL", "parents before children, in libvirt's order"))
# Filters virsh refuses to combine with --tree (metadata filters are allowed).
TREE_EXCLUDED = ("leaves", "no_leaves", "inactive", "active", "disk_only", "internal",
                 "external")
# Pairs virsh refuses to combine (VSH_EXCLUSIVE_OPTIONS_VAR in cmdSnapshotList).
LIST_EXCLUSIVE = (("tree", "name"), ("parent", "roots"), ("parent", "tree"), ("roots", "tree"),
                  ("roots", "from_"), ("roots", "current"), ("from_", "current"))




def _option(dest: str) -> str:
    return "--" + ("from" if dest == "from_" else dest.replace("_", "-"))


def check_list_options(args: Arguments) -> None:
    """virsh snapshot-list's rules for combining options, with its messages."""
    for first, second in LIST_EXCLUSIVE:
        if getattr(args, first) and getattr(args, second):
            if first == "from_":
                raise UsageError("--from and --current are mutually exclusive")
            raise UsageError(f"Options {_option(first)} and {_option(second)} "
                             "are mutually exclusive")
    if args.tree:
        for dest in TREE_EXCLUDED:
            if getattr(args, dest):
                raise UsageError(f"{_option(dest)} and --tree are mutually exclusive")
    if args.descendants and args.from_ is None and not args.current:
        raise UsageError("--descendants requires either --from or --current")


def cmd_list(args: Arguments, conn: "Connection", out: Output) -> None:
    check_list_options(args)
    from virtsnap.tree import virsh_sort_key

    dom = find_domain(conn, args.domain)
    flags = _flags("ListFlags", args, {option.replace("-", "_"): member
                                             for option, member, _ in LIST_FILTERS})
    if given(args.from_, "from") is not None:
        start = dom.get_snapshot_by_name(args.from_)
    elif args.current:
        start = _current(dom, args.domain)
    else:
        start = None
    if args.tree:
        _list_tree(dom, flags, start, args, out)
        return
    descendants = _flags("ListFlags", args, {"descendants": "DESCENDANTS"})
    if args.name and not out.json:
        names = (dom.list_snapshot_names(flags) if start is None
                 else start.list_child_snapshot_names(flags | descendants))
        if not args.topological:
            names.sort(key=virsh_sort_key)
        # Raw, as virsh prints them (scripts read this), escaped only for a terminal.
        show = escape if out.stream.isatty() else str
        out.write("".join(show(name) + "\n" for name in names))
        out.end()
        return
    infos = dom.snapshot_infos(flags)
    if start is not None:
        # In the children listing's order, as virsh: its sort keeps the order of
        # names equal under strcasecmp.
        by_name = {info.name: info for info in infos}
        infos = [by_name[name] for name in start.list_child_snapshot_names(flags | descendants)
                 if name in by_name]
    if not args.topological:
        infos.sort(key=lambda info: virsh_sort_key(info.name))
    if out.json:
        listing: "ListDocument" = {"domain": dom.name,
                                   "snapshots": [info.to_dict() for info in infos]}
        out.document(listing)
        return
    headers = ["Name", "Creation Time", "State"] + (["Parent"] if args.parent else [])
    rows = [[info.name, _local_time(info), info.state]
            + ([info.parent or ""] if args.parent else []) for info in infos]
    out.table(headers, rows)


def _list_tree(dom: "Domain", flags: int, start: "Optional[DomainSnapshot]", args: Arguments,
               out: Output) -> None:
    from virtsnap.info import bulk_workers
    from virtsnap.tree import SnapshotTree

    parents = dom.snapshot_parents(flags, workers=bulk_workers(dom))
    # In libvirt's order: virsh keeps it with --topological, and its sort by name
    # keeps it among names equal under strcasecmp (glibc's qsort up to 2.36 is stable).
    parents = {name: parents[name] for name in dom.list_snapshot_names(flags)
               if name in parents}
    tree = SnapshotTree(parents, ordered=bool(args.topological))
    if start is not None:
        depth = None if args.descendants else 1
        tree = (tree.subtree(start.name, depth) if start.name in tree
                else SnapshotTree({start.name: None}))
    if out.json:
        out.write(tree.to_json(dom.name) + "\n")
        return
    out.write(escape_tree(tree.render(), tree))
    out.end()


def escape_tree(drawing: str, tree: "SnapshotTree") -> str:
    """The tree drawing with each name escaped (names may hold newlines)."""
    if all(escape(name) == name for name in tree):
        return drawing
    from virtsnap.tree import SnapshotTree

    # Render the tree of escaped names: the same shape, the same order.
    renamed = {name: escape(name) for name in tree}
    parents: "Dict[str, Optional[str]]" = {}
    for name in tree.depth_first():
        parent = tree.parent(name)
        parents[renamed[name]] = None if parent is None else renamed.get(parent)
    return SnapshotTree(parents, ordered=True).render()




def cmd_info(args: Arguments, conn: "Connection", out: Output) -> None:
    from virtsnap._snapshot import flag_value

    dom = find_domain(conn, args.domain)
    snap = _lookup(dom, args)
    info = snap.info()
    children = snap.num_of_child_snapshots()
    descendants = snap.num_of_child_snapshots(flag_value("ListFlags", "DESCENDANTS"))
    metadata = snap.has_metadata()
    if out.json:
        document: "InfoDocument" = {**info.to_dict(), "children": children,
                                    "descendants": descendants, "metadata": metadata}
        out.document(document)
        return
    fields = [("Name:", escape(info.name)), ("Domain:", escape(info.domain)),
              ("Current:", "yes" if info.is_current else "no"), ("State:", info.state),
              ("Location:", info.location), ("Parent:", escape(info.parent or "-")),
              ("Children:", children), ("Descendants:", descendants),
              ("Metadata:", "yes" if metadata else "no")]
    if args.details:  # virtsnap's own: virsh prints neither
        fields.append(("Created:", _local_time(info)))
        if info.description is not None:
            fields.append(("Description:", escape(info.description)))
    out.write("".join(f"{label:<15} {value}\n" for label, value in fields))
    out.end()




def cmd_dumpxml(args: Arguments, conn: "Connection", out: Output) -> int:
    given(args.snapshot, "snapshotname")
    dom = find_domain(conn, args.domain)
    flags = virtsnap.XMLFlags.SECURE if args.security_info else 0
    snap = dom.get_snapshot_by_name(args.snapshot)
    if args.xpath == "":  # virsh fails here with no message
        out.end()
        return 1
    xml = snap.get_xml_description(flags)
    if args.xpath is not None:
        xml = _xpath(xml, args.xpath, args.wrap, out)
    if out.json:
        dumped: "DumpxmlDocument" = {"domain": dom.name, "name": args.snapshot, "xml": xml}
        out.document(dumped)
    elif args.xpath is not None:
        out.write(xml)
        out.end()
    else:
        _print_xml(out, xml)
    return 0


def _xpath(xml: str, expression: str, wrap: bool, out: Output) -> str:
    """``xml`` filtered as virsh's ``--xpath`` filters it; libxml2's lines on stderr."""
    try:
        import lxml  # noqa: F401 - the cli extra's, for --xpath alone
    except ImportError:
        raise CommandError("--xpath needs lxml: pip install 'virtsnap[cli]'") from None
    from virtsnap.cli.xpath import filter_xml

    text, messages = filter_xml(xml, expression, wrap)
    for message in messages:
        out.warning(message)
    return text


def cmd_current(args: Arguments, conn: "Connection", out: Output) -> None:
    if args.name and args.snapshot is not None:
        raise UsageError("Options --name and --snapshotname are mutually exclusive")
    dom = find_domain(conn, args.domain)
    if given(args.snapshot, "snapshotname") is not None:  # virsh: redefine its XML, CURRENT
        xml = dom.get_snapshot_by_name(args.snapshot).get_xml_description(
            virtsnap.XMLFlags.SECURE)
        snap = dom.create_snapshot(xml, _redefine_flags(xml) | virtsnap.CreateFlags.CURRENT)
        if out.json:
            out.document(snap.info().to_dict())
        out.say(f"Snapshot {escape(args.snapshot)} set as current")
        return
    snap = _current(dom, args.domain)
    if out.json:
        out.document(snap.info().to_dict())
    elif args.name:
        out.write(escape(snap.name))  # virsh: the line feed goes with --quiet
        out.end()
    else:
        _print_xml(out, snap.get_xml_description(
            virtsnap.XMLFlags.SECURE if args.security_info else 0))


def cmd_parent(args: Arguments, conn: "Connection", out: Output) -> None:
    dom = find_domain(conn, args.domain)
    snap = _lookup(dom, args)
    parent = snap.get_parent()
    name = None if parent is None else parent.name
    if out.json:
        parented: "ParentDocument" = {"domain": dom.name, "name": snap.name, "parent": name}
        out.document(parented)
    elif name is None:
        raise CommandError(f"snapshot '{escape(snap.name)}' has no parent")
    else:
        out.write(escape(name))
        out.end()


# ---------------------------------------------------------------- create

CREATE_SWITCHES = (("disk-only", "DISK_ONLY", "disks only, no memory (external by default)"),
                   ("halt", "HALT", "stop the guest after the snapshot"),
                   ("live", "LIVE", "take the memory state while the guest runs"),
                   ("atomic", "ATOMIC", "all disks or none"),
                   ("quiesce", "QUIESCE", "freeze guest filesystems (needs the guest agent)"),
                   ("no-metadata", "NO_METADATA", "keep no libvirt metadata for it"),
                   ("reuse-external", "REUSE_EXT", "reuse existing external files"),
                   ("validate", "VALIDATE", "validate the XML against libvirt's schema"),
                   ("redefine", "REDEFINE", "with --xml: redefine an existing snapshot's metadata"),
                   ("current", "CURRENT", "with --redefine: make it the current snapshot"))




def _virsh_split(spec: str) -> List[str]:
    """virsh's vshStringToArray: fields split at commas, ",," is a literal comma."""
    fields, field, index = [], [], 0
    while index < len(spec):
        if spec[index] == ",":
            if spec.startswith(",,", index):
                field.append(",")
                index += 2
                continue
            fields.append("".join(field))
            field = []
        else:
            field.append(spec[index])
        index += 1
    fields.append("".join(field))
    return fields


def _spec_fields(spec: str, kind: str, keys: List[str], first: Optional[str]) -> Dict[str, str]:
    """key=value fields of a virsh spec; ``first`` names a leading bare field."""
    values: Dict[str, str] = {}
    fields = _virsh_split(spec)
    if first is not None:
        values[first] = fields.pop(0)
    for field in fields:
        key, equals, value = field.partition("=")
        if equals and key in keys and key not in values:
            values[key] = value
        elif kind == "memspec" and "file" not in values and field.startswith("/"):
            values["file"] = field
        else:
            raise UsageError(f"unable to parse {kind}: {spec}")
    return values


def snapshot_xml(name: Optional[str], description: Optional[str], memspec: Optional[str],
                 diskspecs: Optional[List[str]]) -> str:
    """The <domainsnapshot> document virsh snapshot-create-as builds from its options."""
    from virtsnap._snapshot import xml_escape

    lines = ["<domainsnapshot>"]
    if name is not None:
        lines.append(f"  <name>{xml_escape(name)}</name>")
    if description is not None:
        lines.append(f"  <description>{xml_escape(description)}</description>")
    if memspec is not None:
        memory = _spec_fields(memspec, "memspec", ["snapshot", "file"], None)
        lines.append("  <memory" + "".join(f" {key}='{xml_escape(memory[key])}'"
                                           for key in ("snapshot", "file") if key in memory)
                     + "/>")
    if diskspecs:
        lines.append("  <disks>")
        for spec in diskspecs:
            disk = _spec_fields(spec, "diskspec", ["snapshot", "driver", "stype", "file"], "name")
            stype = disk.get("stype")
            if stype not in (None, "file", "block"):
                raise UsageError(f"Unknown storage type: '{stype}'")
            # an empty spec has no name at all for virsh (its split gives no field)
            head = ("    " + (f"<disk name='{xml_escape(disk['name'])}'" if spec else "")
                    + (f" snapshot='{disk['snapshot']}'" if "snapshot" in disk else "")
                    + (f" type='{stype}'" if stype else ""))
            inner = []
            if "driver" in disk:
                inner.append(f"      <driver type='{disk['driver']}'/>")
            if "file" in disk:
                attribute = "dev" if stype == "block" else "file"
                inner.append(f"      <source {attribute}='{xml_escape(disk['file'])}'/>")
            lines.extend([head + ">", *inner, "    </disk>"] if inner else [head + "/>"])
        lines.append("  </disks>")
    lines.append("</domainsnapshot>")
    return "\n".join(lines) + "\n"


def cmd_create(args: Arguments, conn: "Connection", out: Output) -> None:
    if args.xml is not None and (args.name is not None or args.description is not None
                                 or args.memspec is not None or args.diskspec):
        raise UsageError("--xml cannot be combined with --name, --description, "
                         "--memspec or --diskspec")
    dom = find_domain(conn, args.domain)  # first, as virsh
    from_xml = args.command == "snapshot-create"
    given(args.xml, "xmlfile" if from_xml else "xml")
    given(args.name, "name")
    given(args.description, "description")
    given(args.memspec, "memspec")
    if (args.redefine or args.current) and args.xml is None and not from_xml:
        raise UsageError("--redefine and --current need --xml FILE")
    if from_xml and args.xml is None:  # virsh snapshot-create without a file
        xml = "<domainsnapshot/>"
    elif args.xml is not None:
        try:
            with open(args.xml, encoding="utf-8") as stream:
                xml = stream.read()
        except OSError as exc:
            raise CommandError(f"Failed to open file '{args.xml}': {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"Failed to read file '{args.xml}': {exc}") from None
    else:
        xml = snapshot_xml(args.name, args.description, args.memspec, args.diskspec)
    if args.print_xml:
        out.line(xml)
        out.end()
        return
    flags = _flags("CreateFlags", args, {option.replace("-", "_"): member
                                                for option, member, _ in CREATE_SWITCHES})

    from virtsnap import external  # keeps an NVRAM copy beside an external snapshot

    def call() -> "DomainSnapshot":
        try:
            return external.create(dom, xml, flags)
        except virtsnap.OperationUnsupportedError:
            if not flags & virtsnap.CreateFlags.VALIDATE or args.xml is not None:
                raise
            # virsh retries without --validate when the driver does not know it
            return external.create(dom, xml, flags & ~virtsnap.CreateFlags.VALIDATE)

    snap = run_job(call, dom, "Creating snapshot", out)
    if out.json:  # without metadata libvirt keeps no XML to describe it
        out.document({"name": snap.name, "domain": dom.name} if args.no_metadata
                     else snap.info().to_dict())
    elif args.xml is not None:
        out.say(f"Domain snapshot {escape(snap.name)} created from '{escape(args.xml)}'")
    else:
        out.say(f"Domain snapshot {escape(snap.name)} created")


# ---------------------------------------------------------------- edit




def _edit(xml: str) -> str:
    """``xml`` as the user leaves it in $VISUAL, else $EDITOR, else vi."""
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    handle, path = tempfile.mkstemp(prefix="virtsnap-", suffix=".xml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(xml)
        try:
            status = subprocess.run(shlex.split(editor) + [path]).returncode
        except OSError as exc:
            raise CommandError(f"cannot run the editor {editor!r}: {exc}") from None
        if status != 0:
            raise CommandError(f"the editor {editor!r} exited with status {status}")
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    finally:
        os.unlink(path)


def cmd_edit(args: Arguments, conn: "Connection", out: Output) -> None:
    if args.rename and args.clone:
        raise UsageError("Options --rename and --clone are mutually exclusive")
    dom = find_domain(conn, args.domain)
    snap = _lookup(dom, args, exclusive=False)
    name = snap.name
    flags = virtsnap.CreateFlags.REDEFINE
    if args.current and args.snapshot is not None:
        flags |= virtsnap.CreateFlags.CURRENT
    xml = snap.get_xml_description(virtsnap.XMLFlags.SECURE)
    edited = _edit(xml)
    if edited == xml and not flags & virtsnap.CreateFlags.CURRENT:
        out.say(f"Snapshot {escape(name)} XML configuration not changed.\n")
        return
    if "<state>disk-snapshot</state>" in edited:
        flags |= virtsnap.CreateFlags.DISK_ONLY
    try:
        new = dom.create_snapshot(edited, flags)
    except virtsnap.LibvirtError as exc:
        raise CommandError(f"{exc}; failed to update {escape(name)}") from None
    if new.name == name:
        out.say(f"Snapshot {escape(name)} edited.\n")
    elif args.clone:
        out.say(f"Snapshot {escape(name)} cloned to {escape(new.name)}.\n")
    elif args.rename:
        snap.delete(virtsnap.DeleteFlags.METADATA_ONLY)
    else:
        new.delete(virtsnap.DeleteFlags.METADATA_ONLY)
        raise CommandError(f"Must use --rename or --clone to change {escape(name)} "
                           f"to {escape(new.name)}")


# ---------------------------------------------------------------- revert, delete




def cmd_revert(args: Arguments, conn: "Connection", out: Output) -> None:
    dom = find_domain(conn, args.domain)
    snap = _lookup(dom, args)
    from virtsnap import external

    try:
        outcome = run_job(lambda: external.revert(snap, running=args.running, paused=args.paused,
                                                  force=args.force, reset_nvram=args.reset_nvram),
                          dom, f"Reverting to {escape(snap.name)}", out)
    except virtsnap.LibvirtError as exc:
        raise CommandError(str(exc), f"Failed to revert snapshot {snap.name}") from None
    out.say(f"Domain snapshot {escape(snap.name)} reverted\n")
    _note_virtsnap_did(outcome, out)


def _note_virtsnap_did(outcome: "Outcome", out: Output) -> None:
    """Say on stderr that virtsnap did what the connected libvirt refuses."""
    if outcome.by == "virtsnap":
        out.note("note: this libvirt refuses it; virtsnap did it: " + "; ".join(
            escape(step) for step in outcome.steps))




def cmd_delete(args: Arguments, conn: "Connection", out: Output) -> None:
    from virtsnap.progress import run_with_progress

    dom = find_domain(conn, args.domain)
    snap = _lookup(dom, args)
    from virtsnap import external

    try:
        outcome = run_with_progress(
            lambda: external.delete(snap, children=args.children,
                                    children_only=args.children_only,
                                    metadata_only=args.metadata),
            dom, f"Deleting {escape(snap.name)}", enabled=out.progress)
    except virtsnap.LibvirtError as exc:
        raise CommandError(str(exc), f"Failed to delete snapshot {snap.name}") from None
    what = " children" if args.children_only else ""
    out.say(f"Domain snapshot {escape(snap.name)}{what} deleted\n")
    _note_virtsnap_did(outcome, out)


# ---------------------------------------------------------------- export, import




def cmd_export(args: Arguments, conn: "Connection", out: Output) -> None:
    from virtsnap.transfer import TransferError

    dom = find_domain(conn, args.domain)
    try:
        names = dom.export_snapshots(args.directory, secure=args.security_info)
    except (OSError, TransferError) as exc:
        raise CommandError(str(exc)) from None
    out.say(f"Exported {len(names)} snapshot(s) of domain {escape(dom.name)} to "
            f"{escape(args.directory)}")




def cmd_import(args: Arguments, conn: "Connection", out: Output) -> None:
    from virtsnap.transfer import SnapshotExistsError, TransferError

    dom = find_domain(conn, args.domain)
    try:
        names = dom.import_snapshots(args.directory, replace=args.replace)
    except SnapshotExistsError as exc:
        raise CommandError(str(SnapshotExistsError(exc.domain, exc.names, "--replace"))) from None
    except (OSError, ValueError, TransferError) as exc:  # missing, malformed, name taken
        raise CommandError(str(exc)) from None
    out.say(f"Imported {len(names)} snapshot(s) into domain {escape(dom.name)}")


# ---------------------------------------------------------------- demo, json-schema

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
    ("The current snapshot is now", ["current", "test", "--name"]),
    ("Delete the experiment and its children", ["delete", "test", "experiment", "--children"]),
    ("What is left", ["list", "test", "--tree"]),
]




def demo_uri(connect: Optional[str]) -> str:
    """Where the demo runs: ``-c`` when it is a test-driver URI, else test:///default.

    LIBVIRT_DEFAULT_URI is ignored: the demo creates and deletes snapshots.
    """
    if connect is None:
        return DEMO_URI
    if connect.split(":", 1)[0].split("+", 1)[0] != "test":
        raise UsageError(f"demo runs only on libvirt's test driver (test:///...), "
                         f"not on {connect}")
    return connect


def cmd_demo(args: Arguments, conn: "Optional[Connection]", out: Output) -> None:
    import shlex

    from virtsnap.cli.grammar import parse

    uri = demo_uri(args.connect)
    out.line(f"virtsnap demo on {uri}: libvirt's test driver; every step below shares")
    out.line("one connection, which keeps the driver's state.")
    with virtsnap.open(uri) as demo_conn:
        for number, (title, argv) in enumerate(DEMO_STEPS, 1):
            out.line(f"\n[{number}/{len(DEMO_STEPS)}] {title}")
            out.line(f"$ virtsnap {shlex.join(argv)}")
            out.stream.flush()
            command, step = parse(argv[0], argv[1:], {"quiet": args.quiet})
            module, function = command.run.split(":")
            assert module == __name__
            globals()[function](step, demo_conn, Output(False, bool(args.quiet), out.stream))




def cmd_json_schema(args: Arguments, conn: "Optional[Connection]", out: Output) -> None:
    from virtsnap.cli.schema import JSON_SCHEMA

    out.document(JSON_SCHEMA)
