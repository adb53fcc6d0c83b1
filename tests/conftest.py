"""Fixtures for tests that need lab hosts: the test lab `qlabt`, apart from the operator's `qlab`."""

from __future__ import annotations

import os

import pytest

from qlab import deploy, lifecycle
from qlab.agent_api import read_map
from qlab.faults import Host
from qlab.topology import DB_HOSTS, TEST_LAB


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


def cluster_map(lab, hostname: str = DB_HOSTS[0], timeout: float = 3.0) -> dict | None:
    """GET /map from one database node of the lab, or None when its agent does not answer."""
    try:
        address = lifecycle.address(lab, hostname)
    except KeyError:
        return None
    return read_map(address, timeout)


def three_healthy_members(cluster: dict | None) -> bool:
    """A leader whose database is the primary and two streaming replicas, all healthy."""
    if not cluster or cluster.get("leader") is None:
        return False
    voters = [m for m in cluster.get("members", []) if m.get("voter")]
    return (len(voters) == 3 and all(m.get("state") == "healthy" for m in voters)
            and sum(m.get("db_role") == "primary" for m in voters) == 1
            and sum(m.get("db_role") == "replica" and m.get("streaming") for m in voters) == 2)


def ensure_deployed(lab) -> None:
    """Runs site.yml unless GET /map on the first node already shows 3 healthy members."""
    if not three_healthy_members(cluster_map(lab)):
        deploy.run_site(lab, [])


@pytest.fixture(scope="session")
def deployed_test_lab(test_lab):
    """The test lab with the cluster deployed by site.yml (once per session; skipped when the
    map already shows 3 healthy members). Tests that break the cluster must restore it."""
    ensure_deployed(test_lab)
    return test_lab


def restore_hosts(by_name: dict) -> None:
    """Every host running, unpaused and connected."""
    for host in by_name.values():
        if host.is_paused():
            host.resume()
        if not host.is_running():
            host.start()
        elif host.is_partitioned():
            host.heal()


@pytest.fixture
def hosts(test_lab):
    """name -> Host, running, unpaused and connected before the test, whatever the tests before
    left (in one rehearsal, test_kill right after the chaos run could not reach qluster-03; the
    cause is not known), and given back so after it."""
    by_name = {h.hostname: Host(test_lab, h.hostname) for h in test_lab.hosts}
    restore_hosts(by_name)
    yield by_name
    restore_hosts(by_name)


def pytest_collection_modifyitems(session, config, items):
    """The day-2 playbooks' tests tear the cluster down (reinit, full removal): they run last, so
    the other lab tests share one deployment."""
    items.sort(key=lambda item: item.path.name == "test_playbooks.py")
