"""What a lab is made of: its hosts, network and shared WAL archive, all named from the lab's name.

Two labs can exist side by side: the operator's (`qlab`, containers named like the seed's hosts)
and the test suite's (`qlabt`, containers prefixed so tests never touch the operator's lab).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Seed 000 §2.1: three database nodes and one host that is both the NFS server and the pooler;
# §2 allows five (`qlab up --nodes 5`).
DB_HOSTS = ("qluster-01", "qluster-02", "qluster-03")
NODE_COUNTS = (3, 5)
MAX_NODES = 9
NFS_HOST = "qluster-nfs"
# The login user on every host, as on a server: the operator's key, sudo without a password.
ADMIN_USER = "qadmin"
# An application's role and database in the lab's inventory (qhb_node_users, qhb_node_databases):
# it logs in through the pooler, which never saw its password (auth_query).
APP_USER = "qluster_app"
APP_PASSWORD = "lab-app-password-not-secret"
APP_DATABASE = "qluster_app"
# A read-only role of the same application (qhb_node_users' privileges): it may read every table
# the application's role creates in the schema public, now and later, and write none.
READER_USER = "qluster_app_reader"
READER_PASSWORD = "lab-reader-password-not-secret"
# PgBouncer's statistics user and HAProxy's Prometheus exporter on the pooler host.
STATS_USER = "qluster_stats"
STATS_PASSWORD = "lab-stats-password-not-secret"
PROMETHEUS_PORT = 9101

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
    nodes: int = len(DB_HOSTS)

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
    def ssh_dir(self) -> Path:
        """The operator's key pair for the lab's hosts and their host keys (known_hosts)."""
        return self.state_dir / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def db_hostnames(self) -> tuple[str, ...]:
        return tuple(f"qluster-{n:02d}" for n in range(1, self.nodes + 1))

    @property
    def hosts(self) -> tuple[HostSpec, ...]:
        dbs = tuple(HostSpec(h, ("qhb_nodes",), WAL_CLIENT_PATH) for h in self.db_hostnames)
        return dbs + (HostSpec(NFS_HOST, ("nfs_servers", "qcp_hosts"), WAL_EXPORT_PATH),)

    def static_address(self, hostname: str) -> str:
        """Each host's fixed address: qluster-0N at .1N, the NFS and pooler host at .10. A host
        killed and started again keeps it, as a real server does, and the cluster knows its
        members by address; a lab grown from 3 to 5 nodes keeps the first ones' addresses."""
        base = ipaddress.ip_network(self.subnet).network_address
        if hostname == NFS_HOST:
            return str(base + 10)
        if hostname.startswith("qluster-") and hostname[len("qluster-"):].isdigit():
            number = int(hostname[len("qluster-"):])
            if 1 <= number <= MAX_NODES:
                return str(base + 10 + number)
        raise KeyError(f"{hostname} is not a host name of a lab (qluster-01..0{MAX_NODES}, {NFS_HOST})")

    def with_nodes(self, nodes: int) -> "Lab":
        """The same lab with another number of database nodes (`qlab up --nodes`)."""
        if nodes not in NODE_COUNTS:
            raise ValueError(f"a lab has {' or '.join(map(str, NODE_COUNTS))} database nodes, not {nodes}")
        return dataclasses.replace(self, nodes=nodes)

    @property
    def nodes_file(self) -> Path:
        """How many database nodes `qlab up` made: later commands see the same hosts."""
        return self.state_dir / "nodes"

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
    """The known lab, with the number of database nodes its last `qlab up` made."""
    for lab in KNOWN_LABS:
        if lab.name == name:
            if lab.nodes_file.exists():
                return lab.with_nodes(int(lab.nodes_file.read_text().strip()))
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
