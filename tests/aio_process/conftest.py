import pytest


@pytest.fixture(scope="session")
def libvirtd():
    """The parent run (tests/test_aio.py) started the daemon before this process."""
