"""Fixtures for tests that need lab hosts: the test lab `qlabt`, apart from the operator's `qlab`."""

from __future__ import annotations

import os

import pytest

from qlab import lifecycle
from qlab.faults import Host
from qlab.topology import TEST_LAB


def pytest_configure(config):
    os.environ.setdefault("CONTAINERS_CONF", str(TEST_LAB.state_dir.parents[1] / "containers.conf"))


@pytest.fixture(scope="session")
def test_lab():
    """The test lab's four hosts, up and booted; removed again when the session ends
    (set QLAB_KEEP=1 to keep them for a look after a failure)."""
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (rootful podman)")
    lifecycle.up(TEST_LAB)
    yield TEST_LAB
    if not os.environ.get("QLAB_KEEP"):
        lifecycle.down(TEST_LAB)


@pytest.fixture
def hosts(test_lab):
    """name -> Host; every test gets the lab back healthy: running, unpaused, connected."""
    by_name = {h.hostname: Host(test_lab, h.hostname) for h in test_lab.hosts}
    yield by_name
    for host in by_name.values():
        if host.is_paused():
            host.resume()
        if not host.is_running():
            host.start()
        elif host.is_partitioned():
            host.heal()
