import pytest


@pytest.fixture(scope="session")
def libvirtd():
    """The parent run (tests/test_aio.py) started the daemon before this process."""


@pytest.fixture(autouse=True)
def no_errors_in_event_callbacks(caplog):
    """A failure inside a libvirt callback is logged, not raised: fail the test on one."""
    yield
    errors = [r for r in caplog.records if r.name == "virtsnap.events"]
    assert not errors, [r.getMessage() for r in errors]
