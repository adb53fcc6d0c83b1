"""What the cluster says about itself: the agents' maps, read from the host machine."""

from __future__ import annotations

from dataclasses import dataclass

from ..agent_api import read_map
from ..faults import Host
from ..topology import NFS_HOST, Lab


@dataclass
class Cluster:
    """The lab's hosts by name, with their addresses read once (podman keeps them across restarts)."""

    lab: Lab
    hosts: dict[str, Host]
    addresses: dict[str, str]

    @classmethod
    def of(cls, lab: Lab) -> "Cluster":
        hosts = {h.hostname: Host(lab, h.hostname) for h in lab.hosts}
        return cls(lab, hosts, {name: host.address for name, host in hosts.items()})

    @property
    def nodes(self) -> list[Host]:
        return [self.hosts[name] for name in self.lab.db_hostnames]

    @property
    def pooler(self) -> Host:
        return self.hosts[NFS_HOST]

    def freshest_map(self) -> dict | None:
        """The map with a leader and the highest term among the agents that answer."""
        best = None
        for name in (*self.lab.db_hostnames, NFS_HOST):
            cluster = read_map(self.addresses[name], timeout=1.5)
            if cluster and cluster.get("leader") is not None:
                if best is None or cluster.get("term", 0) > best.get("term", 0):
                    best = cluster
        return best

    def leader(self) -> str | None:
        """The leader's host name, when some agent knows one."""
        return leader_name(self.freshest_map())


def leader_name(cluster: dict | None) -> str | None:
    """The name of the leader a map names (None without a map or a leader)."""
    if cluster is None:
        return None
    return next((m["name"] for m in cluster["members"] if m["id"] == cluster["leader"]), None)


def voters(cluster: dict) -> list[dict]:
    return [m for m in cluster["members"] if m.get("voter")]


def available(cluster: dict | None) -> bool:
    """A leader with a primary database and a majority of the voters healthy."""
    if not cluster or cluster.get("leader") is None:
        return False
    members = voters(cluster)
    leader = next((m for m in members if m["id"] == cluster["leader"]), None)
    healthy = [m for m in members if m["state"] == "healthy"]
    return leader is not None and leader.get("db_role") == "primary" and 2 * len(healthy) > len(members)


def converged(cluster: dict | None, size: int = 3) -> bool:
    """Every voter healthy, the leader's database primary, every other one a streaming replica."""
    if not cluster or cluster.get("leader") is None:
        return False
    members = voters(cluster)
    if len(members) != size or any(m["state"] != "healthy" for m in members):
        return False
    for member in members:
        if member["id"] == cluster["leader"]:
            if member.get("db_role") != "primary":
                return False
        elif member.get("db_role") != "replica" or not member.get("streaming"):
            return False
    return True
