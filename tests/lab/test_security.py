"""Attacks of issue 21 performed against the deployed lab, each asserting the safe outcome.

The attacker here is the database's OS user `qhb`: PostgreSQL runs as qhb, so any database
superuser gets its shell (`COPY ... TO PROGRAM`). Nothing root executes may be replaceable by it.
"""

from __future__ import annotations

import pytest

from qlab.faults import Host
from qlab.topology import DB_HOSTS

# What root runs on a database node: the agent's unit (ExecStart=/usr/local/bin/qluster), the
# operator's qlusterctl, and every playbook run's python and pip in the agent's virtualenv.
ROOT_RUNS = ("/usr/local/bin/qluster", "/usr/local/bin/qlusterctl")
INSTALL_DIR = "/usr/local/lib/qluster"


@pytest.fixture(scope="module")
def node(deployed_test_lab) -> Host:
    return Host(deployed_test_lab, DB_HOSTS[0])


def as_qhb(host: Host, script: str):
    return host.exec("runuser", "-u", "qhb", "--", "sh", "-c", script, check=False)


def chain(path: str) -> list[str]:
    """`path` and each of its parents up to /."""
    parts = path.rstrip("/").split("/")
    return ["/".join(parts[:i]) or "/" for i in range(len(parts), 0, -1)]


def test_qhb_cannot_replace_anything_root_runs(node):
    venv = node.exec("readlink", "-f", ROOT_RUNS[0]).stdout.strip().rsplit("/bin/", 1)[0]
    # The attack of the issue: rename root's virtualenv out of the way and put another in its place.
    attempt = as_qhb(node, f"mv {venv} {venv}.moved && mkdir -p {venv}/bin && echo pwned > {venv}/bin/python")
    assert attempt.returncode != 0, f"qhb renamed {venv}: {attempt.stdout}{attempt.stderr}"
    assert node.exec("test", "-d", f"{venv}.moved", check=False).returncode != 0
    assert node.exec("grep", "-q", "pwned", f"{venv}/bin/python", check=False).returncode != 0
    # Every file root runs, and every directory above it, is root's and writable by root alone.
    targets = [node.exec("readlink", "-f", path).stdout.strip() for path in ROOT_RUNS]
    targets += [f"{venv}/bin/python", f"{venv}/bin/pip", f"{INSTALL_DIR}/src"]
    for path in sorted({p for target in targets for p in chain(target)}):
        owner, mode = node.exec("stat", "-L", "-c", "%U %a", path).stdout.split()  # a link: its target
        assert owner == "root" and int(mode[-2:], 8) & 0o22 == 0, f"{path}: owner {owner}, mode {mode}"


def test_the_seeds_agent_home_stays_writable_by_qhb(node):
    # Seed 000 §7.2: `sudo -u qhb touch /opt/qluster/add_node`. Another name here: the marker
    # itself would make this node rejoin as a new replica.
    probe = as_qhb(node, "touch /opt/qluster/.qhb-can-write && rm /opt/qluster/.qhb-can-write")
    assert probe.returncode == 0, probe.stderr
    # Nothing of the agent's install is left in it (an upgraded node had its venv there).
    for name in ("venv", "src", "qluster-agent.tar"):
        assert node.exec("test", "-e", f"/opt/qluster/{name}", check=False).returncode != 0, name
