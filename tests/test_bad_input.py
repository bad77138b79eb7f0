"""Bad input: every public function and method, fed hostile arguments.

Property: only TypeError, ValueError, OverflowError or a LibvirtError subclass
ever comes out, the interpreter survives, and a call that raised left the
domain's snapshots (names, parents, current, XML) exactly as they were.

- ``PUBLIC_API`` lists every public callable with the kind of each parameter;
  ``test_the_table_covers_the_public_api`` keeps it honest as the API grows.
- Deterministic tables pin the sharp edges: negative and huge flags are
  OverflowError, wrong types TypeError, NUL and lone surrogates ValueError.
- Hostile XML (billion laughs, external entities to /etc/passwd, deep
  nesting, 10 MB documents) must neither hang, nor blow up memory, nor leak
  file contents; a Hypothesis fuzz of ``create_snapshot`` XML follows.
"""

import contextlib
import math
import os
import threading
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import virtsnap
from support.helpers import TEST_URI, delete_all_snapshots
from support.snapshots import snapshot_state
from virtsnap import LibvirtConnectionError, LibvirtError

ALLOWED = (TypeError, ValueError, OverflowError, LibvirtError)
BIG = "A" * (10 * 1024 * 1024)
PASSWD_MARK = "root:x:0:0"

# ---------------------------------------------------------------- the world

TREE = (("a", None), ("b", "a"), ("c", "a"))  # name, parent (by creation order)


def reset_tree(dom):
    """Snapshots a -> b and a -> c, "b" current; return {name: handle}."""
    delete_all_snapshots(dom)
    snaps = {}
    for name, parent in TREE:
        if parent is not None:
            snaps[parent].revert_to()
        snaps[name] = dom.create_snapshot(name=name, description=f"snapshot {name}")
    snaps["b"].revert_to()
    return snaps


@contextlib.contextmanager
def world():
    """A fresh in-process connection, its domain "test", and the snapshot tree."""
    with virtsnap.open(TEST_URI) as conn:
        dom = conn.get_domain_by_name("test")
        try:
            yield conn, dom, reset_tree(dom)
        finally:
            if not conn.closed:
                delete_all_snapshots(dom)


def call_checked(func, dom, before):
    """Call ``func``; allowed outcomes only, and no change when it raised."""
    try:
        return func()
    except ALLOWED as exc:
        after = snapshot_state(dom)
        assert after == before, f"{type(exc).__name__}: {exc} - but the snapshots changed"
        return exc


# ---------------------------------------------------------------- hostile values

NEGATIVE = [-1, -(2**31), -(2**31) - 1, -(2**63), -(2**64), -(10**100)]
HUGE = [2**32, 2**32 + 1, 2**63, 2**64, 10**100]
BAD_TYPES = [None, 1.0, math.nan, math.inf, "0", b"0", bytearray(b"1"), [], {}, (1,), object(),
             1j]
BAD_STRINGS = ["\0", "a\0b", "\ud800", "x\udfff", "\udc80\udc81"]
WEIRD_STRINGS = ["", " ", BIG, "%s%n%x", "../../../../etc/passwd", "test", "a" * 100_000,
                 "\u202e\ufeff", "😀" * 1000]

hostile_ints = st.one_of(st.sampled_from(NEGATIVE + HUGE + [0, 1, 2**31 - 1, 2**32 - 1, True]),
                         st.integers())
hostile_strings = st.one_of(st.sampled_from(BAD_STRINGS + WEIRD_STRINGS), st.text())
hostile_anything = st.one_of(hostile_ints, hostile_strings, st.sampled_from(BAD_TYPES),
                             st.binary(), st.floats(), st.lists(st.integers(), max_size=3),
                             st.sampled_from(list(virtsnap.ListFlags) + [virtsnap.DomainState.RUNNING]))
BY_KIND = {
    "flags": st.one_of(hostile_ints, hostile_anything),
    "int": st.one_of(hostile_ints, hostile_anything),
    "str": st.one_of(hostile_strings, hostile_anything),
    "any": hostile_anything,
}


# ---------------------------------------------------------------- the public API

@dataclass(frozen=True)
class Api:
    """One public callable: where it lives and what its parameters are."""

    owner: str                      # "module", "conn", "dom" or "snap"
    name: str
    params: tuple = ()              # kinds of the positional parameters
    kwonly: tuple = ()              # names of keyword-only str parameters
    min_args: int = 0               # 1 for zero-argument calls we must not make for real


PUBLIC_API = [
    Api("module", "open", ("str", "any")),
    Api("module", "libvirt_version", min_args=1),
    Api("module", "libvirt_build_version", min_args=1),
    Api("module", "start_event_loop", min_args=1),   # for real: a process-wide thread
    Api("conn", "close", min_args=1),
    Api("conn", "is_alive"),
    Api("conn", "get_lib_version"),
    Api("conn", "set_keepalive", ("int", "int")),
    Api("conn", "get_domain_by_name", ("str",)),
    Api("conn", "get_domain_by_uuid", ("str",)),
    Api("conn", "get_domain_by_id", ("int",)),
    Api("conn", "list_all_domains", ("flags",)),
    Api("conn", "storage_volume", ("str", "any")),
    Api("conn", "restore", ("str", "any", "flags")),
    Api("conn", "create_storage_volume", ("str", "str")),
    Api("conn", "delete_storage_volume", ("str",)),
    Api("conn", "from_libvirt", ("any",)),
    Api("conn", "to_libvirt", min_args=1),           # for real: needs libvirt-python
    Api("dom", "state"),
    Api("dom", "get_connect"),
    Api("dom", "get_job_stats", ("flags",)),
    Api("dom", "abort_job"),
    Api("dom", "get_xml_description", ("flags",)),
    Api("dom", "get_block_stats", ("any",)),
    Api("dom", "suspend", min_args=1),               # for real: tests/test_group.py
    Api("dom", "resume", min_args=1),
    Api("dom", "fs_freeze", min_args=1),
    Api("dom", "fs_thaw", min_args=1),
    Api("dom", "get_metadata", ("str", "flags")),
    Api("dom", "set_metadata", ("any", "any", "str", "flags")),
    Api("dom", "block_commit", ("str", "any", "any", "int", "flags")),
    Api("dom", "block_job_info", ("str", "flags")),
    Api("dom", "block_job_abort", ("str", "flags")),
    Api("dom", "create_snapshot", ("str", "flags"), ("name", "description")),
    Api("dom", "num_of_snapshots", ("flags",)),
    Api("dom", "list_snapshot_names", ("flags",)),
    Api("dom", "list_all_snapshots", ("flags",)),
    Api("dom", "get_snapshot_by_name", ("str", "flags")),
    Api("dom", "has_current_snapshot", ("flags",)),
    Api("dom", "current_snapshot", ("flags",)),
    Api("dom", "snapshot_xml_descriptions", ("flags", "flags", "int")),
    Api("dom", "snapshot_parents", ("flags", "int")),
    Api("dom", "snapshot_children", ("flags", "flags", "int")),
    Api("dom", "snapshot_infos", ("flags",)),
    Api("dom", "snapshot_tree", ("flags",)),
    Api("dom", "from_libvirt", ("any",)),
    Api("dom", "to_libvirt", min_args=1),
    Api("snap", "get_name"),
    Api("snap", "get_xml_description", ("flags",)),
    Api("snap", "delete", ("flags",)),
    Api("snap", "revert_to", ("flags",)),
    Api("snap", "get_parent", ("flags",)),
    Api("snap", "is_current", ("flags",)),
    Api("snap", "has_metadata", ("flags",)),
    Api("snap", "num_of_child_snapshots", ("flags",)),
    Api("snap", "list_child_snapshot_names", ("flags",)),
    Api("snap", "list_all_children", ("flags",)),
    Api("snap", "list_child_snapshots", ("flags",)),
    Api("snap", "get_domain"),
    Api("snap", "get_connect"),
    Api("snap", "info"),
    Api("snap", "from_libvirt", ("any",)),
    Api("snap", "to_libvirt", min_args=1),
]

# Public, but not fuzzed here, and why.
NOT_FUZZED = {
    ("dom", "export_snapshots"): "writes files: a path argument's OSError is legitimate",
    ("dom", "import_snapshots"): "reads files: a path argument's OSError is legitimate",
    ("conn", "domain_events"): "needs the process's event loop: tests/aio_process/ checks it",
    ("dom", "define_xml"): "replaces the shared test domain's definition: "
                           "tests/test_external*.py use it on QEMU guests",
    ("dom", "start"): "changes the shared test domain's state: tests/test_external*.py",
    ("dom", "destroy"): "changes the shared test domain's state: tests/test_external*.py",
}

# Attributes that are data, not calls.
PROPERTIES = {("conn", "closed"), ("conn", "uri"), ("conn", "readonly"), ("dom", "name"),
              ("dom", "uuid"), ("dom", "id"), ("snap", "name")}
# Module names that are types: the handle classes (fuzzed through their
# methods), the flag enums, the exceptions, and the pure-Python value types
# of info.py and tree.py (made from libvirt's output, tested with them).
MODULE_NAMES = {"Connection", "Domain", "DomainSnapshot", "CreateFlags", "DeleteFlags", "ListFlags",
                "RevertFlags", "XMLFlags", "DomainListFlags", "DomainState", "JobType", "ErrorCode",
                "LibvirtError", "SnapshotNotFoundError", "DomainNotFoundError",
                "InvalidArgumentError", "XMLError", "OperationInvalidError",
                "OperationUnsupportedError", "OperationDeniedError", "LibvirtConnectionError",
                "SnapshotInfo", "SnapshotDisk", "SnapshotMemory", "SnapshotTree", "MAX_WORKERS",
                "DomainEvent", "DomainEventType", "EventLoopConflictError", "TransferError"}
FLAG_PREFIXES = ("CREATE_", "DELETE_", "LIST_", "REVERT_", "XML_")


def public_names(obj):
    return {name for name in dir(obj) if not name.startswith("_")
            and not name.startswith(FLAG_PREFIXES)}


def test_the_table_covers_the_public_api():
    listed = {(api.owner, api.name) for api in PUBLIC_API} | set(NOT_FUZZED) | PROPERTIES
    classes = {"conn": virtsnap.Connection, "dom": virtsnap.Domain, "snap": virtsnap.DomainSnapshot}
    actual = {(owner, name) for owner, cls in classes.items() for name in public_names(cls)}
    actual |= {("module", name) for name in virtsnap.__all__} - {("module", n) for n in MODULE_NAMES}
    assert actual - listed == set(), "public callables missing from PUBLIC_API"
    assert listed - actual == set(), "PUBLIC_API lists names that are gone"


def receiver(api, conn, dom, snaps):
    return {"module": virtsnap, "conn": conn, "dom": dom, "snap": snaps["b"]}[api.owner]


@st.composite
def arguments(draw, api):
    """Positional arguments (sometimes one too many) and keyword arguments."""
    count = draw(st.integers(api.min_args, len(api.params) + 1))
    kinds = api.params + ("any",)
    args = [draw(BY_KIND[kinds[i]]) for i in range(count)]
    kwargs = {name: draw(BY_KIND["str"]) for name in api.kwonly if draw(st.booleans())}
    if draw(st.integers(0, 9)) == 0:
        kwargs["no_such_argument"] = draw(hostile_anything)
    return args, kwargs


@pytest.mark.parametrize("api", PUBLIC_API, ids=lambda api: f"{api.owner}.{api.name}")
def test_hostile_arguments(api):
    with world() as (conn, dom, snaps):

        @settings(max_examples=60, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(call=arguments(api))
        def check(call):
            args, kwargs = call
            snaps.update(reset_tree(dom))
            func = getattr(receiver(api, conn, dom, snaps), api.name)
            before = snapshot_state(dom)
            result = call_checked(lambda: func(*args, **kwargs), dom, before)
            if api.name == "open" and isinstance(result, virtsnap.Connection):
                result.close()
            assert not conn.closed

        check()


# ---------------------------------------------------------------- sharp edges, pinned

FLAG_CALLS = [(api, index) for api in PUBLIC_API for index, kind in enumerate(api.params)
              if kind == "flags"]


def _call_with(api, index, value, conn, dom, snaps):
    args = [0] * len(api.params)
    if api.params and api.params[0] == "str":
        args[0] = "a"          # a name or XML that is fine on its own
        if api.name == "create_snapshot":
            args[0] = "<domainsnapshot><name>flagged</name></domainsnapshot>"
    if api.name in ("snapshot_xml_descriptions", "snapshot_parents", "snapshot_children"):
        args[-1] = 1           # workers
    args[index] = value
    return getattr(receiver(api, conn, dom, snaps), api.name)(*args)


BAD_FLAGS = ([pytest.param(value, OverflowError, id=f"overflow-{value}") for value in NEGATIVE + HUGE]
             + [pytest.param(value, TypeError, id=f"type-{value!r}") for value in BAD_TYPES])


@pytest.mark.parametrize("value,error", BAD_FLAGS)
@pytest.mark.parametrize("api,index", FLAG_CALLS,
                         ids=[f"{api.name}-arg{index}" for api, index in FLAG_CALLS])
def test_bad_flags_raise_before_any_change(api, index, value, error):
    """Out of range: OverflowError; not an int: TypeError; the snapshots stay as they were."""
    with world() as (conn, dom, snaps):
        before = snapshot_state(dom)
        with pytest.raises(error):
            _call_with(api, index, value, conn, dom, snaps)
        assert snapshot_state(dom) == before


STRING_CALLS = {
    "open": lambda conn, dom, snaps, s: virtsnap.open(s),
    "get_domain_by_name": lambda conn, dom, snaps, s: conn.get_domain_by_name(s),
    "get_domain_by_uuid": lambda conn, dom, snaps, s: conn.get_domain_by_uuid(s),
    "get_snapshot_by_name": lambda conn, dom, snaps, s: dom.get_snapshot_by_name(s),
    "create_snapshot(xml)": lambda conn, dom, snaps, s: dom.create_snapshot(s),
    "create_snapshot(name)": lambda conn, dom, snaps, s: dom.create_snapshot(name=s),
    "create_snapshot(description)": lambda conn, dom, snaps, s: dom.create_snapshot(
        name="d", description=s),
}


@pytest.mark.parametrize("value", BAD_STRINGS, ids=repr)
@pytest.mark.parametrize("call", sorted(STRING_CALLS))
def test_nul_and_lone_surrogates_are_value_errors(call, value):
    with world() as (conn, dom, snaps):
        before = snapshot_state(dom)
        with pytest.raises(ValueError) as info:
            STRING_CALLS[call](conn, dom, snaps, value)
        assert not isinstance(info.value, LibvirtError), "must be refused before libvirt"
        assert snapshot_state(dom) == before


# None is a valid xml, name or description: "let libvirt choose", "no description".
WRONG_TYPES = [(call, value) for call in sorted(STRING_CALLS)
               for value in (None, 1, 1.5, b"a", ["a"], object())
               if not (value is None and call.startswith(("create_snapshot", "open")))]


@pytest.mark.parametrize("call,value", WRONG_TYPES, ids=[f"{c}-{v!r}" for c, v in WRONG_TYPES])
def test_strings_of_the_wrong_type_are_type_errors(call, value):
    with world() as (conn, dom, snaps):
        before = snapshot_state(dom)
        with pytest.raises(TypeError):
            STRING_CALLS[call](conn, dom, snaps, value)
        assert snapshot_state(dom) == before


@pytest.mark.parametrize("workers", [0, -1, -(2**31)])
@pytest.mark.parametrize("bulk", ["snapshot_xml_descriptions", "snapshot_parents",
                                  "snapshot_children"])
def test_workers_below_one_are_value_errors(bulk, workers):
    with world() as (conn, dom, snaps):
        with pytest.raises(ValueError):
            getattr(dom, bulk)(workers=workers)
        for capped in (2**31 - 1, 2**31, 2**70):    # above the cap: capped, whatever the size
            assert len(getattr(dom, bulk)(workers=capped)) == len(TREE)


@pytest.mark.parametrize("call", sorted(set(STRING_CALLS) - {"open", "create_snapshot(xml)"}))
def test_ten_megabyte_strings(call):
    """In-process nothing limits a name: a lookup fails cleanly, a create may succeed."""
    with world() as (conn, dom, snaps):
        before = snapshot_state(dom)
        result = call_checked(lambda: STRING_CALLS[call](conn, dom, snaps, BIG), dom, before)
        if isinstance(result, virtsnap.DomainSnapshot):
            assert len(result.name) in (len(BIG), 1)  # "d" when BIG was the description
            result.delete()
        assert snapshot_state(dom) == before


@pytest.fixture
def daemon_dom(libvirtd, private_daemon):
    """Domain "test" with the snapshot tree, through a private daemon."""
    with virtsnap.open(private_daemon.uri()) as conn:
        dom = conn.get_domain_by_name("test")
        reset_tree(dom)
        yield conn, dom


@pytest.mark.libvirtd
@pytest.mark.parametrize("call", sorted(set(STRING_CALLS) - {"open"}))
def test_ten_megabyte_strings_through_the_daemon(daemon_dom, call):
    """Over RPC a 10 MB string cannot be sent: a LibvirtError, and the connection lives on."""
    conn, dom = daemon_dom
    before = snapshot_state(dom)
    with pytest.raises(LibvirtError):
        STRING_CALLS[call](conn, dom, None, BIG)
    assert conn.is_alive()
    assert snapshot_state(dom) == before


@pytest.mark.libvirtd
def test_an_oversized_argument_is_not_a_lost_connection(daemon_dom):
    conn, dom = daemon_dom
    with pytest.raises(LibvirtError) as info:
        dom.get_snapshot_by_name(BIG)
    assert conn.is_alive()
    assert not isinstance(info.value, LibvirtConnectionError), info.value


# ---------------------------------------------------------------- hostile XML

def _entity_chain(depth, fanout):
    lines = ['<!ENTITY e0 "lol">']
    lines += [f'<!ENTITY e{i} "{("&e%d;" % (i - 1)) * fanout}">' for i in range(1, depth + 1)]
    return lines


def _doc(dtd_lines, body):
    dtd = "<!DOCTYPE domainsnapshot [\n" + "\n".join(dtd_lines) + "\n]>\n" if dtd_lines else ""
    return f"<?xml version='1.0'?>\n{dtd}<domainsnapshot>{body}</domainsnapshot>"


HOSTILE_XML = {
    "billion laughs": _doc(_entity_chain(9, 10), "<name>laughs</name><description>&e9;</description>"),
    "billion laughs in name": _doc(_entity_chain(9, 10), "<name>&e9;</name>"),
    "quadratic blowup": _doc(['<!ENTITY big "' + "x" * 50_000 + '">'],
                             "<name>quad</name><description>" + "&big;" * 2000 + "</description>"),
    "external entity": _doc(['<!ENTITY xxe SYSTEM "file:///etc/passwd">'],
                            "<name>xxe</name><description>&xxe;</description>"),
    "external entity as name": _doc(['<!ENTITY xxe SYSTEM "file:///etc/passwd">'],
                                    "<name>&xxe;</name>"),
    "external parameter entity": _doc(['<!ENTITY % xxe SYSTEM "file:///etc/passwd">', "%xxe;"],
                                      "<name>pe</name>"),
    "external DTD": "<?xml version='1.0'?>\n<!DOCTYPE domainsnapshot SYSTEM 'file:///etc/passwd'>"
                    "<domainsnapshot><name>dtd</name></domainsnapshot>",
    "xinclude": "<domainsnapshot xmlns:xi='http://www.w3.org/2001/XInclude'><name>xi</name>"
                "<description><xi:include href='file:///etc/passwd' parse='text'/></description>"
                "</domainsnapshot>",
    "deep nesting": "<domainsnapshot><name>deep</name><description>" + "<a>" * 100_000
                    + "</a>" * 100_000 + "</description></domainsnapshot>",
    "deep nesting, unclosed": "<domainsnapshot>" + "<a>" * 1_000_000,
    "ten megabytes of text": f"<domainsnapshot><name>big</name><description>{BIG}</description>"
                             "</domainsnapshot>",
    # libxml2's duplicate-attribute check is quadratic: 20,000 attributes take
    # about 0.5 s, 300,000 (3 MB) take minutes of CPU inside libvirt's parser.
    "many attributes": "<domainsnapshot><name>attrs</name><x "
                       + " ".join(f"a{i}='v'" for i in range(20_000)) + "/></domainsnapshot>",
    "unclosed": "<domainsnapshot><name>x</name>",
    "wrong root": "<domain><name>x</name></domain>",
    "not XML": "this is not xml",
    "empty": "",
    "only a declaration": "<?xml version='1.0'?>",
    "mismatched encoding": "<?xml version='1.0' encoding='UTF-16'?><domainsnapshot/>",
    "byte order mark": "\ufeff<domainsnapshot><name>bom</name></domainsnapshot>",
    "CDATA end in text": "<domainsnapshot><name>]]></name></domainsnapshot>",
    "processing instruction": "<?evil cmd='rm -rf /'?><domainsnapshot><name>pi</name>"
                              "</domainsnapshot>",
    "undeclared entity": "<domainsnapshot><name>&nope;</name></domainsnapshot>",
    "bad character reference": "<domainsnapshot><name>&#0;</name></domainsnapshot>",
    "redefine a domain by XML": "<domainsnapshot><name>r</name><domain type='test'>"
                                "<name>test</name></domain></domainsnapshot>",
    "external memory file": "<domainsnapshot><name>ext</name><memory snapshot='external' "
                            "file='/etc/shadow'/></domainsnapshot>",
    "huge creation time": "<domainsnapshot><name>t</name><creationTime>"
                          + "9" * 400 + "</creationTime></domainsnapshot>",
    "self parent": "<domainsnapshot><name>a</name><parent><name>a</name></parent>"
                   "</domainsnapshot>",
}
XML_TIME_LIMIT = 10.0
XML_MEMORY_LIMIT_KIB = 512 * 1024
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def current_rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_KIB


def peak_rss_growth_kib(func):
    """(func's result or exception, how far this process's RSS rose above its
    level before the call, sampled every 2 ms while the call runs).

    Unlike ru_maxrss, a lifetime peak that earlier tests may have set, this
    sees the call's own peak: the call runs without the GIL, so the sampler runs.
    """
    before = current_rss_kib()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], current_rss_kib())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = func()
    finally:
        peak[0] = max(peak[0], current_rss_kib())
        done.set()
        sampler.join()
    return result, peak[0] - before


@pytest.mark.parametrize("flags", [0, virtsnap.CreateFlags.REDEFINE,
                                   virtsnap.CreateFlags.VALIDATE], ids=["plain", "redefine",
                                                                        "validate"])
@pytest.mark.parametrize("label", sorted(HOSTILE_XML))
def test_hostile_snapshot_xml(label, flags):
    with world() as (conn, dom, snaps):
        before = snapshot_state(dom)
        started = time.monotonic()
        result, growth = peak_rss_growth_kib(
            lambda: call_checked(lambda: dom.create_snapshot(HOSTILE_XML[label], flags),
                                 dom, before))
        assert time.monotonic() - started < XML_TIME_LIMIT
        assert growth < XML_MEMORY_LIMIT_KIB, f"memory rose by {growth} KiB during the call"
        # A created snapshot may be big: libvirt expands internal entities when
        # it reads the text (60 KB of "quadratic blowup" store a 100 MB
        # description), though not external ones nor entity loops.
        if isinstance(result, virtsnap.DomainSnapshot):
            xml = result.get_xml_description(virtsnap.XMLFlags.SECURE)
            assert PASSWD_MARK not in xml and PASSWD_MARK not in result.name
            assert "lollollol" not in xml, "an entity was expanded"


# ---------------------------------------------------------------- fuzzing snapshot XML

texts = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "a", "test", "vda", "..", "&amp;",
                                                         "/etc/passwd", "-1", "0", "1e99"]))
words = st.sampled_from(["internal", "external", "no", "manual", "running", "shutoff", "paused",
                         "disk-snapshot", "yes", "true", "qcow2", "raw", "file", "block"])
attr_values = st.one_of(words, texts)


def element(tag, children):
    return st.builds(lambda attrs, kids: (tag, attrs, kids),
                     st.dictionaries(st.sampled_from(["snapshot", "file", "name", "type", "dev"]),
                                     attr_values, max_size=2),
                     children)


leaf = st.builds(lambda tag, text: (tag, {}, text),
                 st.sampled_from(["name", "description", "state", "creationTime", "active",
                                  "parent", "cookie", "memory", "disk", "driver", "source",
                                  "bogus"]),
                 st.one_of(texts, words))
snapshot_parts = st.recursive(
    leaf,
    lambda inner: st.one_of(
        element("disks", st.lists(element("disk", st.lists(inner, max_size=3)), max_size=3)),
        element("parent", st.lists(inner, max_size=2)),
        element("memory", st.lists(inner, max_size=1)),
        element("domain", st.lists(inner, max_size=3)),
    ),
    max_leaves=12)


def render(node):
    tag, attrs, body = node
    escape = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")  # noqa: E731
    attr_text = "".join(f" {k}='{escape(v)}'" for k, v in attrs.items())
    inner = escape(body) if isinstance(body, str) else "".join(render(kid) for kid in body)
    return f"<{tag}{attr_text}>{inner}</{tag}>"


@st.composite
def mangled_documents(draw):
    parts = draw(st.lists(snapshot_parts, max_size=6))
    doc = "<domainsnapshot>" + "".join(render(p) for p in parts) + "</domainsnapshot>"
    mangle = draw(st.sampled_from(["none", "none", "truncate", "insert", "delete"]))
    if mangle != "none" and doc:
        at = draw(st.integers(0, len(doc) - 1))
        if mangle == "truncate":
            doc = doc[:at]
        elif mangle == "insert":
            doc = doc[:at] + draw(st.sampled_from(["<", ">", "&", "'", "\"", "]]>", "<!--",
                                                   "</domainsnapshot>", "\x01", "&#0;"])) + doc[at:]
        else:
            doc = doc[:at] + doc[at + 1:]
    return doc


CREATE_FLAGS = st.one_of(
    st.sampled_from([0, 0, 0, virtsnap.CreateFlags.REDEFINE, virtsnap.CreateFlags.NO_METADATA,
                     virtsnap.CreateFlags.REDEFINE | virtsnap.CreateFlags.CURRENT,
                     virtsnap.CreateFlags.DISK_ONLY, virtsnap.CreateFlags.VALIDATE,
                     virtsnap.CreateFlags.ATOMIC | virtsnap.CreateFlags.LIVE]),
    st.integers(0, 2**32 - 1))


def test_fuzz_create_snapshot_xml():
    with world() as (conn, dom, snaps):

        @settings(max_examples=300, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(doc=mangled_documents(), flags=CREATE_FLAGS)
        def check(doc, flags):
            assume("\0" not in doc)
            snaps.update(reset_tree(dom))
            before = snapshot_state(dom)
            result = call_checked(lambda: dom.create_snapshot(doc, flags), dom, before)
            if isinstance(result, virtsnap.DomainSnapshot):
                # It really exists, unless libvirt was told to keep no metadata.
                if not flags & virtsnap.CreateFlags.NO_METADATA:
                    assert dom.get_snapshot_by_name(result.name) == result
                result.get_xml_description()

        check()


def test_the_memory_measure_sees_a_peak_inside_the_call():
    """The measure can fail: 64 MiB held for a moment inside a call that
    releases the GIL (as libvirt's calls do) shows up, though freed after."""
    def allocate_and_free():
        block = bytearray(64 * 1024 * 1024)
        time.sleep(0.05)                 # releases the GIL, as a libvirt call does
        del block

    _, growth = peak_rss_growth_kib(allocate_and_free)
    assert growth >= 60 * 1024, growth
