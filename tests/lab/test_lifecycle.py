"""`make lab` twice is safe, `make lab-down` leaves nothing of the lab behind, and a check run of
site.yml on the bare hosts predicts the deploy without failing or changing anything."""

from __future__ import annotations

import os
import subprocess

import pytest

from qlab import lifecycle
from qlab.deploy import run_site
from qlab.faults import Host
from qlab.podman import podman
from qlab.topology import ADMIN_USER, LABEL, Lab

# A lab of its own, so this test can tear it down without touching the other tests' lab.
THROWAWAY = Lab(name="qlabd", container_prefix="qlabd-", subnet="10.77.18.0/24")


def labelled_names() -> list[str]:
    return podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"label={LABEL}={THROWAWAY.name}").stdout.split()


def ssh(user: str, hostname: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(THROWAWAY.ssh_key), "-o", f"UserKnownHostsFile={THROWAWAY.known_hosts}",
         "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
         f"{user}@{THROWAWAY.static_address(hostname)}", *command],
        capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="lab tests need root (rootful podman)")
def test_hosts_are_reached_over_ssh_as_a_login_user_with_sudo():
    """As a user reaches servers: the operator's key for the login user, sudo for root; no root
    login and no passwords; each host has its own host key."""
    try:
        lifecycle.up(THROWAWAY)
        assert f"ansible_user: {ADMIN_USER}" in THROWAWAY.inventory_path.read_text()
        host_keys = set()
        for row in lifecycle.status(THROWAWAY):
            proc = ssh(ADMIN_USER, row["host"], "sudo", "-n", "id", "-u")
            assert (proc.returncode, proc.stdout.strip()) == (0, "0"), (row["host"], proc.stderr)
            assert ssh("root", row["host"], "true").returncode != 0, f"root logs in to {row['host']}"
            host_keys.add(Host(THROWAWAY, row["host"]).exec("cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout)
        assert len(host_keys) == 4
        sshd = Host(THROWAWAY, "qluster-01").exec("sshd", "-T").stdout
        assert "passwordauthentication no" in sshd and "permitrootlogin no" in sshd
    finally:
        lifecycle.down(THROWAWAY)


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

        # Seed 000 §2 allows five nodes: growing adds two bare hosts and keeps the others.
        lifecycle.up(THROWAWAY.with_nodes(5))
        grown = {row["host"]: podman("inspect", "--format", "{{.Id}}", row["container"]).stdout
                 for row in lifecycle.status(THROWAWAY.with_nodes(5))}
        assert set(grown) == set(first) | {"qluster-04", "qluster-05"}
        assert {name: grown[name] for name in first} == first
        assert "qluster-05" in THROWAWAY.inventory_path.read_text()
        lifecycle.up(THROWAWAY.with_nodes(3))
        assert {row["host"]: podman("inspect", "--format", "{{.Id}}", row["container"]).stdout
                for row in lifecycle.status(THROWAWAY)} == first
        assert "qlabd-qluster-05" not in labelled_names()
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
