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
# A second pooler host (`qlab up --poolers 2`): in qcp_hosts only, no NFS, at .9; the two share
# the pooler's virtual IP (roles/qcp_host qcp_host_vip, keepalived) at .20 of the lab's subnet.
POOLER2_HOST = "qluster-qcp2"
POOLER_COUNTS = (1, 2)
VIP_OFFSET = 20
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
    wal_path: str = ""  # where the shared WAL archive is mounted; empty: not at all


@dataclass(frozen=True)
class Lab:
    name: str = "qlab"
    container_prefix: str = ""
    subnet: str = "10.77.16.0/24"
    nodes: int = len(DB_HOSTS)
    poolers: int = 1

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
        poolers = (HostSpec(POOLER2_HOST, ("qcp_hosts",)),) if self.poolers > 1 else ()
        return dbs + (HostSpec(NFS_HOST, ("nfs_servers", "qcp_hosts"), WAL_EXPORT_PATH),) + poolers

    @property
    def pooler_hostnames(self) -> tuple[str, ...]:
        """The pooler hosts (qcp_hosts), in the inventory's order: the first holds the VIP first."""
        return tuple(h.hostname for h in self.hosts if "qcp_hosts" in h.groups)

    @property
    def vip(self) -> str:
        """The pooler's virtual IP when the lab has two pooler hosts; empty otherwise."""
        if self.poolers < 2:
            return ""
        return str(ipaddress.ip_network(self.subnet).network_address + VIP_OFFSET)

    @property
    def pooler_address(self) -> str:
        """Where applications connect: the VIP, else the one pooler host's address."""
        return self.vip or self.static_address(NFS_HOST)

    def static_address(self, hostname: str) -> str:
        """Each host's fixed address: qluster-0N at .1N, the NFS and pooler host at .10. A host
        killed and started again keeps it, as a real server does, and the cluster knows its
        members by address; a lab grown from 3 to 5 nodes keeps the first ones' addresses."""
        base = ipaddress.ip_network(self.subnet).network_address
        if hostname == NFS_HOST:
            return str(base + 10)
        if hostname == POOLER2_HOST:
            return str(base + 9)
        if hostname.startswith("qluster-") and hostname[len("qluster-"):].isdigit():
            number = int(hostname[len("qluster-"):])
            if 1 <= number <= MAX_NODES:
                return str(base + 10 + number)
        raise KeyError(f"{hostname} is not a host name of a lab (qluster-01..0{MAX_NODES}, {NFS_HOST}, {POOLER2_HOST})")

    def with_nodes(self, nodes: int) -> "Lab":
        """The same lab with another number of database nodes (`qlab up --nodes`)."""
        if nodes not in NODE_COUNTS:
            raise ValueError(f"a lab has {' or '.join(map(str, NODE_COUNTS))} database nodes, not {nodes}")
        return dataclasses.replace(self, nodes=nodes)

    @property
    def nodes_file(self) -> Path:
        """How many database nodes `qlab up` made: later commands see the same hosts."""
        return self.state_dir / "nodes"

    def with_poolers(self, poolers: int) -> "Lab":
        """The same lab with one or two pooler hosts (`qlab up --poolers`)."""
        if poolers not in POOLER_COUNTS:
            raise ValueError(f"a lab has {' or '.join(map(str, POOLER_COUNTS))} pooler hosts, not {poolers}")
        return dataclasses.replace(self, poolers=poolers)

    @property
    def poolers_file(self) -> Path:
        """How many pooler hosts `qlab up` made (absent: one, as before the option existed)."""
        return self.state_dir / "poolers"

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
# The throwaway lab of tests/lab/test_pooler_vip.py: two pooler hosts sharing a virtual IP.
VIP_TEST_LAB = Lab(name="qlabv", container_prefix="qlabv-", subnet="10.77.19.0/24", poolers=2)
KNOWN_LABS = (OPERATOR_LAB, Lab(name="qlabt", container_prefix="qlabt-", subnet="10.77.17.0/24"),
              SPARE_TEST_LAB, VIP_TEST_LAB)


def lab_by_name(name: str) -> Lab:
    """The known lab, with the number of database nodes and pooler hosts its last `qlab up` made."""
    for known in KNOWN_LABS:
        if known.name == name:
            lab = known
            if lab.nodes_file.exists():
                lab = lab.with_nodes(int(lab.nodes_file.read_text().strip()))
            if lab.poolers_file.exists():
                lab = lab.with_poolers(int(lab.poolers_file.read_text().strip()))
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
