"""What a lab is made of: its hosts, network and shared WAL archive, all named from the lab's name.

Two labs can exist side by side: the operator's (`qlab`, containers named like the seed's hosts)
and the test suite's (`qlabt`, containers prefixed so tests never touch the operator's lab).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Seed 000 §2.1: three database nodes and one host that is both the NFS server and the pooler.
DB_HOSTS = ("qluster-01", "qluster-02", "qluster-03")
NFS_HOST = "qluster-nfs"
# An application's role and database in the lab's inventory (qhb_node_users, qhb_node_databases):
# it logs in through the pooler, which never saw its password (auth_query).
APP_USER = "qluster_app"
APP_PASSWORD = "lab-app-password-not-secret"
APP_DATABASE = "qluster_app"

# The seed's client mount point and export path for the WAL archive (§4.1, §4.2).
WAL_CLIENT_PATH = "/opt/qhb-backup/wal"
WAL_EXPORT_PATH = "/qhb-backup"

# Every object the lab creates carries this label with the lab's name: lab-down removes by it.
LABEL = "qlab.lab"


@dataclass(frozen=True)
class HostSpec:
    hostname: str
    groups: tuple[str, ...]
    wal_path: str


@dataclass(frozen=True)
class Lab:
    name: str = "qlab"
    container_prefix: str = ""
    subnet: str = "10.77.16.0/24"

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def archive_volume(self) -> str:
        return f"{self.name}-wal-archive"

    def journal_volume(self, hostname: str) -> str:
        """A host's /var/log/journal: podman mounts a tmpfs there otherwise, and a killed or
        restarted host would lose the logs a chaos run or a post-mortem needs."""
        return f"{self.name}-{hostname}-journal"

    @property
    def state_dir(self) -> Path:
        return REPO / "lab" / ".state" / self.name

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yml"

    @property
    def gateway_address(self) -> str:
        """This machine's address on the lab's network (the bridge's): the operator's machine."""
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    @property
    def ca_path(self) -> Path:
        """The cluster's CA certificate, which the cluster_ca role makes beside the inventory."""
        return self.state_dir / "qluster-ca" / "ca.crt"

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        dbs = tuple(HostSpec(h, ("qhb_nodes",), WAL_CLIENT_PATH) for h in DB_HOSTS)
        return dbs + (HostSpec(NFS_HOST, ("nfs_servers", "qcp_hosts"), WAL_EXPORT_PATH),)

    def static_address(self, hostname: str) -> str:
        """Each host's fixed address (.11, .12, ... in the order of `hosts`): a host killed and
        started again keeps it, as a real server does, and the cluster knows its members by address."""
        names = [h.hostname for h in self.hosts]
        return str(ipaddress.ip_network(self.subnet).network_address + 11 + names.index(hostname))

    def container(self, hostname: str) -> str:
        return f"{self.container_prefix}{hostname}"

    def spec(self, hostname: str) -> HostSpec:
        for host in self.hosts:
            if host.hostname == hostname:
                return host
        raise KeyError(f"{hostname} is not a host of lab {self.name}")


OPERATOR_LAB = Lab()
# A second test lab lets two test runs (say, a developer's and a bench) go side by side.
SPARE_TEST_LAB = Lab(name="qlabu", container_prefix="qlabu-", subnet="10.77.18.0/24")
KNOWN_LABS = (OPERATOR_LAB, Lab(name="qlabt", container_prefix="qlabt-", subnet="10.77.17.0/24"),
              SPARE_TEST_LAB)


def lab_by_name(name: str) -> Lab:
    for lab in KNOWN_LABS:
        if lab.name == name:
            return lab
    raise KeyError(f"unknown lab {name!r}; known: {', '.join(lab.name for lab in KNOWN_LABS)}")


# The lab the test suite uses: qlabt unless QLAB_TEST_LAB names another test lab.
TEST_LAB = lab_by_name(os.environ.get("QLAB_TEST_LAB", "qlabt"))


def lab_of_address(address: str) -> Lab | None:
    """The known lab whose subnet holds this address, if any."""
    for lab in KNOWN_LABS:
        if ipaddress.ip_address(address) in ipaddress.ip_network(lab.subnet):
            return lab
    return None
