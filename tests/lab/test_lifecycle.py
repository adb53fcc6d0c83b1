"""`make lab` twice is safe, `make lab-down` leaves nothing of the lab behind, and a check run of
site.yml on the bare hosts predicts the deploy without failing or changing anything."""

from __future__ import annotations

import os

import pytest

from qlab import lifecycle
from qlab.deploy import run_site
from qlab.faults import Host
from qlab.podman import podman
from qlab.topology import LABEL, Lab

# A lab of its own, so this test can tear it down without touching the other tests' lab.
THROWAWAY = Lab(name="qlabd", container_prefix="qlabd-", subnet="10.77.18.0/24")


def labelled(kind: str) -> list[str]:
    args = ["ps", "-aq"] if kind == "container" else [kind, "ls", "-q"]
    return podman(*args, "--filter", f"label={LABEL}={THROWAWAY.name}").stdout.split()


@pytest.mark.skipif(os.geteuid() != 0, reason="lab tests need root (rootful podman)")
def test_up_twice_keeps_the_hosts_and_down_removes_everything():
    try:
        lifecycle.up(THROWAWAY)
        first = {row["host"]: podman("inspect", "--format", "{{.Id}}", row["container"]).stdout
                 for row in lifecycle.status(THROWAWAY)}
        assert len(first) == 4
        lifecycle.up(THROWAWAY)
        second = {row["host"]: podman("inspect", "--format", "{{.Id}}", row["container"]).stdout
                  for row in lifecycle.status(THROWAWAY)}
        assert second == first
        assert {row["state"] for row in lifecycle.status(THROWAWAY)} == {"running"}
        assert THROWAWAY.inventory_path.exists()
    finally:
        lifecycle.down(THROWAWAY)
    assert labelled("container") == []
    assert labelled("network") == []
    assert labelled("volume") == []
    assert not THROWAWAY.state_dir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="lab tests need root (rootful podman)")
def test_check_mode_on_bare_hosts_predicts_the_deploy_and_changes_nothing():
    """A careful operator's first command on new hosts is `site.yml --check`: it must not stop at
    the first account, unit or service that only the real run would create."""
    try:
        lifecycle.up(THROWAWAY)
        run_site(THROWAWAY, ["--check"])  # raises, naming the exit status, when a task failed
        for row in lifecycle.status(THROWAWAY):
            host = Host(THROWAWAY, row["host"])
            assert host.exec("getent", "passwd", "qhb", check=False).returncode == 2, f"qhb created on {row['host']}"
            assert host.exec("test", "-e", "/etc/qluster", check=False).returncode == 1, row["host"]
            assert host.exec("systemctl", "cat", "qluster", check=False).returncode != 0, row["host"]
    finally:
        lifecycle.down(THROWAWAY)
