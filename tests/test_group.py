"""virtsnap.group on libvirt's test driver: one point in time, all or nothing.

Every failure test checks the same two things afterwards, through
libvirt-python (an independent client): each member is in the state it
had before (running members run, none is left paused), and no member holds
a snapshot of the group's name unless it had one before the run.
"""

import os
import signal

import libvirt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import virtsnap
from support.group_env import lv, make_guests, remove_guests, snapshot_names, states
from support.helpers import TEST_URI
from virtsnap.group import (GroupError, MemberSpec, group_create, group_delete, group_list,
                            group_record, group_revert, member_label, open_members,
                            parse_member)


@pytest.fixture
def guests(conn):
    """Three running test-driver domains of this test's own: their names."""
    names = make_guests(conn, 3)
    yield names
    remove_guests(TEST_URI, names)


def domains(conn, names):
    return [conn.get_domain_by_name(name) for name in names]


def assert_untouched(names, before, name):
    """Every member back in its state and without snapshot ``name`` (unless it had one)."""
    assert states(TEST_URI, names) == before
    for member in names:
        assert name not in snapshot_names(TEST_URI, member), member


# ---------------------------------------------------------------- create


def test_create_stops_every_member_before_any_snapshot_and_resumes_in_reverse(conn, guests):
    steps = []
    members = domains(conn, guests)
    result = group_create(members, "point", description="before upgrade",
                          on_step=lambda step, member: steps.append((step, member)))
    labels = [member_label(dom) for dom in members]
    kinds = [step for step, _ in steps]
    assert kinds == ["paused"] * 3 + ["snapshot"] * 3 + ["resumed"] * 3
    assert [member for step, member in steps if step == "resumed"] == labels[::-1]
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")
    assert [m.member for m in result.members] == labels
    for report in result.members:
        assert report.state == "running" and report.stopped == "paused"
        assert report.stopped_for is not None and report.stopped_for > 0
    for guest, label in zip(guests, labels):
        snap = lv(conn).lookupByName(guest).snapshotLookupByName("point")
        xml = snap.getXMLDesc()
        # taken while paused: the state libvirt saved is the group's stop
        assert "<state>paused</state>" in xml
        description = virtsnap.open(TEST_URI).get_domain_by_name(guest) \
            .get_snapshot_by_name("point").info().description
        record, text = group_record(description)
        assert text == "before upgrade"
        assert record == {"group": "point", "members": labels, "state": "running",
                          "quiesced": False}


def test_quiesce_freezes_instead_of_pausing(conn, guests):
    steps = []
    result = group_create(domains(conn, guests), "frozen", quiesce=True,
                          on_step=lambda step, member: steps.append(step))
    assert steps == ["frozen"] * 3 + ["snapshot"] * 3 + ["thawed"] * 3
    assert all(m.stopped == "frozen" and m.frozen_filesystems > 0 for m in result.members)
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")


def test_a_paused_member_stays_paused_and_a_shut_off_one_is_taken_as_it_is(conn, guests):
    api = lv(conn)
    api.lookupByName(guests[1]).suspend()
    api.lookupByName(guests[2]).destroy()
    before = states(TEST_URI, guests)
    steps = []
    result = group_create(domains(conn, guests), "mixed",
                          on_step=lambda step, member: steps.append((step, member)))
    assert [r.state for r in result.members] == ["running", "paused", "shutoff"]
    assert [r.stopped for r in result.members] == ["paused", None, None]
    assert [s for s in steps if s[0] == "paused"] == [("paused", result.members[0].member)]
    assert states(TEST_URI, guests) == before
    assert all("mixed" in snapshot_names(TEST_URI, guest) for guest in guests)


def test_a_name_already_taken_changes_nothing(conn, guests):
    lv(conn).lookupByName(guests[2]).snapshotCreateXML(
        "<domainsnapshot><name>taken</name><description>mine</description></domainsnapshot>")
    before = states(TEST_URI, guests)
    steps = []
    with pytest.raises(GroupError) as error:
        group_create(domains(conn, guests), "taken", on_step=lambda *step: steps.append(step))
    assert error.value.member == member_label(conn.get_domain_by_name(guests[2]))
    assert "already has a snapshot named 'taken'" in str(error.value)
    assert "nothing was changed" in str(error.value)
    assert steps == []
    assert states(TEST_URI, guests) == before
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], [], ["taken"]]


def test_a_name_clash_between_members_undoes_everything_and_keeps_the_other_snapshot(
        conn, guests):
    """Another client takes the name on the last member while the group is paused."""
    other = libvirt.open(TEST_URI)
    members = domains(conn, guests)
    labels = [member_label(dom) for dom in members]

    def clash(step, member):
        if step == "paused" and member == labels[0]:
            other.lookupByName(guests[2]).snapshotCreateXML(
                "<domainsnapshot><name>clash</name><description>not the group's"
                "</description></domainsnapshot>")

    before = states(TEST_URI, guests)
    with pytest.raises(GroupError) as error:
        group_create(members, "clash", on_step=clash)
    assert error.value.member == labels[2]
    assert isinstance(error.value.error, virtsnap.LibvirtError)
    assert str(error.value.error) in str(error.value)
    assert error.value.problems == []
    assert states(TEST_URI, guests) == before
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], [], ["clash"]]
    kept = other.lookupByName(guests[2]).snapshotLookupByName("clash").getXMLDesc()
    assert "not the group&apos;s" in kept


def test_a_member_undefined_mid_run_by_another_connection(conn, guests):
    other = libvirt.open(TEST_URI)
    members = domains(conn, guests)
    labels = [member_label(dom) for dom in members]

    def undefine(step, member):
        if step == "paused" and member == labels[0]:
            victim = other.lookupByName(guests[1])
            victim.destroy()
            victim.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)

    with pytest.raises(GroupError) as error:
        group_create(members, "gone", on_step=undefine)
    assert error.value.member == labels[1]
    assert isinstance(error.value.error, virtsnap.LibvirtError)
    survivors = [guests[0], guests[2]]
    assert_untouched(survivors, dict.fromkeys(survivors, "running"), "gone")
    with pytest.raises(libvirt.libvirtError):
        other.lookupByName(guests[1])


def test_a_member_refusing_to_pause_resumes_the_others(conn, guests):
    """The middle member comes from a read-only connection: libvirt refuses to pause it."""
    with virtsnap.open(TEST_URI, readonly=True) as readonly:
        members = domains(conn, guests)
        members[1] = readonly.get_domain_by_name(guests[1])
        with pytest.raises(GroupError) as error:
            group_create(members, "refused")
        assert error.value.member == member_label(members[1])
    assert isinstance(error.value.error, virtsnap.OperationDeniedError)
    assert_untouched(guests, dict.fromkeys(guests, "running"), "refused")


@pytest.mark.libvirtd
def test_a_lost_connection_mid_run_undoes_the_other_members(conn, guests, private_daemon):
    """The last member's daemon is killed once the first member is paused."""
    remote = virtsnap.open(private_daemon.uri())
    remote_name = make_guests(remote, 1)[0]
    members = domains(conn, guests[:2]) + [remote.get_domain_by_name(remote_name)]
    labels = [member_label(dom) for dom in members]

    def kill(step, member):
        if step == "paused" and member == labels[0]:
            private_daemon.kill()

    with pytest.raises(GroupError) as error:
        group_create(members, "lost", on_step=kill)
    assert error.value.member == labels[2]
    assert isinstance(error.value.error, virtsnap.LibvirtError)
    assert_untouched(guests[:2], dict.fromkeys(guests[:2], "running"), "lost")
    remote.close()


def test_ctrl_c_while_paused_resumes_and_deletes(conn, guests):
    """SIGINT reaches the waiting thread while the members are paused."""
    members = domains(conn, guests)
    labels = [member_label(dom) for dom in members]
    steps = []

    def interrupt(step, member):
        steps.append(step)
        if step == "snapshot" and member == labels[1]:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        group_create(members, "interrupted", on_step=interrupt)
    assert_untouched(guests, dict.fromkeys(guests, "running"), "interrupted")
    assert steps.count("resumed") == 3


def test_bad_arguments(conn, guests):
    dom = conn.get_domain_by_name(guests[0])
    with pytest.raises(ValueError):
        group_create([dom, conn.get_domain_by_name(guests[0])], "twice")
    with pytest.raises(ValueError):
        group_create([], "empty")
    with pytest.raises(ValueError):
        group_create([dom], "")
    for members, name, description in (([dom], 1, None), ([dom], "x", b"d"), (["a"], "x", None),
                                        (dom, "x", None), ("ab", "x", None)):
        with pytest.raises(TypeError):
            group_create(members, name, description=description)
    for action in (group_revert, group_delete):
        with pytest.raises(TypeError):
            action([dom], None)
        with pytest.raises(TypeError):
            action([None], "x")
    with pytest.raises(TypeError):
        group_list([object()])
    assert snapshot_names(TEST_URI, guests[0]) == []
    assert states(TEST_URI, guests) == dict.fromkeys(guests, "running")


# ---------------------------------------------------------------- list, revert, delete


def test_list_finds_the_group_on_every_member(conn, guests):
    members = domains(conn, guests)
    group_create(members, "one", description="first")
    lv(conn).lookupByName(guests[0]).snapshotCreateXML(
        "<domainsnapshot><name>single</name></domainsnapshot>")
    group_create(members, "two")
    points = group_list(members)
    assert [p.name for p in points] == ["one", "two"]
    assert points[0].description == "first" and points[1].description is None
    assert all(p.complete and p.present == [member_label(d) for d in members] for p in points)
    partial = group_list(members[:2])
    assert not partial[0].complete and len(partial[0].present) == 2


def test_revert_brings_running_members_back_running_and_paused_ones_paused(conn, guests):
    api = lv(conn)
    api.lookupByName(guests[2]).suspend()
    members = domains(conn, guests)
    group_create(members, "base")
    for guest in guests[:2]:
        api.lookupByName(guest).suspend()    # changed after the group snapshot
    api.lookupByName(guests[2]).resume()
    result = group_revert(members, "base")
    assert [m.member for m in result.members] == [member_label(d) for d in members]
    assert states(TEST_URI, guests) == {guests[0]: "running", guests[1]: "running",
                                        guests[2]: "paused"}


def test_revert_stops_at_the_first_failing_member_and_says_which_were_reverted(conn, guests):
    members = domains(conn, guests)
    group_create(members, "base")
    lv(conn).lookupByName(guests[0]).suspend()
    with virtsnap.open(TEST_URI, readonly=True) as readonly:
        members[1] = readonly.get_domain_by_name(guests[1])   # refuses to revert
        with pytest.raises(GroupError) as error:
            group_revert(members, "base")
        assert error.value.member == member_label(members[1])
    assert error.value.done == [member_label(members[0])]
    assert f"reverted: {member_label(members[0])}" in str(error.value)
    assert states(TEST_URI, guests)[guests[0]] == "running"


def test_revert_and_delete_check_every_member_first(conn, guests):
    members = domains(conn, guests)
    group_create(members, "base")
    lv(conn).lookupByName(guests[2]).snapshotLookupByName("base").delete()
    lv(conn).lookupByName(guests[0]).suspend()
    for action in (group_revert, group_delete):
        with pytest.raises(GroupError) as error:
            action(members, "base")
        assert error.value.member == member_label(members[2])
        assert "nothing was changed" in str(error.value)
    assert states(TEST_URI, guests)[guests[0]] == "paused"
    assert [snapshot_names(TEST_URI, g) for g in guests] == [["base"], ["base"], []]


def test_delete_refuses_a_snapshot_that_is_no_group_snapshot(conn, guests):
    api = lv(conn)
    for guest in guests:
        api.lookupByName(guest).snapshotCreateXML(
            "<domainsnapshot><name>plain</name></domainsnapshot>")
    with pytest.raises(GroupError) as error:
        group_delete(domains(conn, guests), "plain")
    assert "was not taken by a group" in str(error.value)
    assert [snapshot_names(TEST_URI, g) for g in guests] == [["plain"]] * 3


def test_delete_removes_every_member_snapshot(conn, guests):
    members = domains(conn, guests)
    group_create(members, "base")
    result = group_delete(members, "base")
    assert len(result.members) == 3
    assert [snapshot_names(TEST_URI, g) for g in guests] == [[], [], []]


# ---------------------------------------------------------------- members


@pytest.mark.parametrize("text, uri, name", [
    ("db", None, "db"),
    ("qemu:///system/db", "qemu:///system", "db"),
    ("qemu+ssh://db1/system/db", "qemu+ssh://db1/system", "db"),
    ("test:///default/test", "test:///default", "test"),
    ("test+unix:///default?socket=/run/x/libvirt-sock/web",
     "test+unix:///default?socket=/run/x/libvirt-sock", "web"),
    ("qemu+ssh://root@h:2222/system/app-1", "qemu+ssh://root@h:2222/system", "app-1"),
])
def test_parse_member(text, uri, name):
    spec = parse_member(text)
    assert (spec.uri, spec.name) == (uri, name)
    assert str(spec) == text


@pytest.mark.parametrize("text", ["", "qemu:///system", "qemu:///system/", "qemu+ssh://host",
                                  "qemu+ssh://host/", "a\0b"])
def test_parse_member_refuses(text):
    with pytest.raises(ValueError):
        parse_member(text)


NAMES = st.text(st.characters(blacklist_characters="/\0", blacklist_categories=("Cs",)),
                min_size=1)
SEGMENTS = st.text(st.characters(blacklist_characters="/?#\0", blacklist_categories=("Cs",)),
                   min_size=1)


@given(scheme=st.sampled_from(["qemu", "qemu+ssh", "test+unix", "xen+tls"]),
       host=st.sampled_from(["", "db1", "root@h:22"]),
       path=st.lists(SEGMENTS, min_size=1, max_size=3),
       query=st.one_of(st.just(""), st.lists(SEGMENTS, max_size=3).map(
           lambda parts: "?socket=/" + "/".join(parts))),
       name=NAMES)
def test_parse_member_splits_at_the_last_slash_after_the_path(scheme, host, path, query, name):
    uri = f"{scheme}://{host}/{'/'.join(path)}{query}"
    spec = parse_member(f"{uri}/{name}")
    assert (spec.uri, spec.name) == (uri, name)


@given(name=st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                    min_size=1).filter(lambda text: "://" not in text))
def test_a_plain_name_is_taken_whole(name):
    assert parse_member(name) == MemberSpec(None, name)


def test_parse_member_type():
    with pytest.raises(TypeError):
        parse_member(None)


def test_open_members_one_connection_per_uri(conn, guests):
    texts = [f"{TEST_URI}/{guests[0]}", guests[1], f"{TEST_URI}/{guests[2]}"]
    with open_members(texts, conn=conn) as members:
        assert [d.name for d in members] == guests
        assert len(members.connections) == 1   # the default URI's is the caller's
        opened = members.connections[0]
    assert opened.closed and not conn.closed
    with pytest.raises(virtsnap.DomainNotFoundError):
        open_members([f"{TEST_URI}/no-such-domain"])


# ---------------------------------------------------------------- the core's pause and freeze


def test_suspend_resume_freeze_thaw_bindings(conn, guests):
    dom = conn.get_domain_by_name(guests[0])
    dom.suspend()
    assert states(TEST_URI, [guests[0]]) == {guests[0]: "paused"}
    with pytest.raises(virtsnap.LibvirtError):
        dom.suspend()                         # already paused
    dom.resume()
    assert states(TEST_URI, [guests[0]]) == {guests[0]: "running"}
    with pytest.raises(virtsnap.LibvirtError):
        dom.resume()                          # not paused
    assert dom.fs_freeze() == 2               # the test driver's two filesystems
    assert dom.fs_thaw() == 2
    with virtsnap.open(TEST_URI) as other:
        closed = other.get_domain_by_name(guests[0])
    for call in (closed.suspend, closed.resume, closed.fs_freeze, closed.fs_thaw):
        with pytest.raises(virtsnap.LibvirtConnectionError):
            call()
        with pytest.raises(TypeError):
            getattr(virtsnap.Domain.__new__(virtsnap.Domain), call.__name__)()
        with pytest.raises(TypeError):
            call(0)
