"""`make lab` twice is safe, and `make lab-down` leaves nothing of the lab behind."""

from __future__ import annotations

import os

import pytest

from qlab import lifecycle
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
