"""Flag values come from libvirt's C enums: checked against the installed header and libvirt-python."""

import re

import pytest

import virtsnap
from support.versions import HEADER, header_constants
from virtsnap import DomainSnapshot

GROUPS = {
    "CREATE": virtsnap.CreateFlags,
    "DELETE": virtsnap.DeleteFlags,
    "LIST": virtsnap.ListFlags,
    "REVERT": virtsnap.RevertFlags,
    "XML": virtsnap.XMLFlags,
}
SEED_NAMES = [  # the constants Sys::Virt::DomainSnapshot documents
    "CREATE_CURRENT", "CREATE_DISK_ONLY", "CREATE_HALT", "CREATE_NO_METADATA", "CREATE_REDEFINE",
    "DELETE_CHILDREN", "DELETE_CHILDREN_ONLY", "DELETE_METADATA_ONLY",
    "LIST_METADATA", "LIST_ROOTS", "REVERT_PAUSED", "REVERT_RUNNING",
]
ISSUE_NAMES = SEED_NAMES + [
    "CREATE_REUSE_EXT", "CREATE_QUIESCE", "CREATE_ATOMIC", "CREATE_LIVE", "CREATE_VALIDATE",
    "LIST_DESCENDANTS", "LIST_LEAVES", "LIST_NO_LEAVES", "LIST_NO_METADATA", "LIST_INACTIVE",
    "LIST_ACTIVE", "LIST_DISK_ONLY", "LIST_INTERNAL", "LIST_EXTERNAL", "LIST_TOPOLOGICAL",
    "REVERT_FORCE", "REVERT_RESET_NVRAM", "XML_SECURE",
]


def test_header_is_installed():
    assert HEADER.exists(), "libvirt-dev provides the header these tests read"


def test_every_header_constant_is_exposed_with_the_header_value():
    constants = header_constants()
    assert len(constants) >= len(ISSUE_NAMES) - 1  # RESET_NVRAM needs libvirt >= 8.1
    for name, value in constants.items():
        group, member = name.split("_", 1)
        assert GROUPS[group][member] == value, name
        assert getattr(DomainSnapshot, name) == value, name


def test_issue_constants_exist():
    for name in ISSUE_NAMES:
        if name == "REVERT_RESET_NVRAM" and virtsnap.libvirt_version() < (8, 1, 0):
            assert not hasattr(DomainSnapshot, name)
            continue
        group, member = name.split("_", 1)
        value = getattr(DomainSnapshot, name)
        assert value is GROUPS[group][member]
        assert isinstance(value, GROUPS[group]) and isinstance(value, int)


def test_flags_combine_as_intflag():
    both = DomainSnapshot.CREATE_HALT | DomainSnapshot.CREATE_DISK_ONLY
    assert isinstance(both, virtsnap.CreateFlags)
    assert int(both) == int(DomainSnapshot.CREATE_HALT) + int(DomainSnapshot.CREATE_DISK_ONLY)
    assert DomainSnapshot.LIST_DESCENDANTS == DomainSnapshot.LIST_ROOTS  # one bit in libvirt


def test_domain_states_are_distinct():
    states = {s.name: int(s) for s in virtsnap.DomainState}
    assert {"NOSTATE", "RUNNING", "PAUSED", "SHUTOFF", "CRASHED"} <= states.keys()
    assert len(set(states.values())) == len(states)


def test_values_agree_with_libvirt_python():
    libvirt = pytest.importorskip("libvirt")
    for name in header_constants():
        assert getattr(DomainSnapshot, name) == getattr(libvirt, f"VIR_DOMAIN_SNAPSHOT_{name}"), name
    for state in virtsnap.DomainState:
        assert state == getattr(libvirt, f"VIR_DOMAIN_{state.name}")
    assert virtsnap.libvirt_version() == tuple(
        int(part) for part in
        (libvirt.getVersion() // 1000000, libvirt.getVersion() // 1000 % 1000,
         libvirt.getVersion() % 1000))


def test_error_codes_come_from_virterror_h():
    header = HEADER.with_name("virterror.h").read_text()
    body = re.search(r"typedef enum \{([^}]*)\} virErrorNumber;", header).group(1)
    numbers, value = {}, -1
    for entry in re.sub(r"/\*.*?\*/|#.*", "", body, flags=re.S).split(","):
        match = re.fullmatch(r"\s*VIR_ERR_(\w+)\s*(?:=\s*(\d+))?\s*", entry)
        if match:   # an entry without "= N" (older headers) is the previous one plus one
            value = int(match.group(2)) if match.group(2) else value + 1
            numbers[match.group(1)] = value
    assert len(numbers) > 90 and len(virtsnap.ErrorCode) >= 20
    for code in virtsnap.ErrorCode:
        assert code == numbers[code.name], code.name


def test_error_codes_agree_with_libvirt_python():
    libvirt = pytest.importorskip("libvirt")
    for code in virtsnap.ErrorCode:
        assert code == getattr(libvirt, f"VIR_ERR_{code.name}"), code.name


def test_an_error_carries_its_code(conn):
    with pytest.raises(virtsnap.DomainNotFoundError) as excinfo:
        conn.get_domain_by_name("no-such-domain")
    assert excinfo.value.code == virtsnap.ErrorCode.NO_DOMAIN
