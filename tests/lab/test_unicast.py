"""A network without multicast (most clouds; issue 16 item 6): `qhb_node_udp_multicast: false`
makes every agent, the pooler's observer included, send to the inventory's hosts by unicast, and
the cluster elects a new leader when its leader's host dies while the lab's network drops every
multicast packet. The test puts the cluster back on multicast afterwards."""

from __future__ import annotations

import time

import pytest
import yaml

from conftest import cluster_map, three_healthy_members
from qlab import deploy
from qlab.chaos.cluster import Cluster, available, converged, leader_name
from qlab.faults import allow_multicast, block_multicast, keep_if, multicast_dropped, wait_until
from qlab.topology import NFS_HOST

PROBE = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
         "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1); "
         "[s.sendto(b'probe', ('239.0.0.1', 9998)) for i in range(3)]")


@pytest.fixture
def unicast_lab(deployed_test_lab):
    lab = deployed_test_lab
    try:
        deploy.run_site(lab, ["-e", "qhb_node_udp_multicast=false"])
        yield lab
    finally:
        allow_multicast(lab)
        deploy.run_site(lab, [])
        wait_until(lambda: three_healthy_members(cluster_map(lab)), 300, 2, "3 healthy members on multicast again")


def test_without_multicast_the_agents_use_unicast_and_elect_a_leader(unicast_lab, hosts):
    lab = unicast_lab
    cluster = Cluster.of(lab)
    addresses = sorted(cluster.addresses.values())
    for name in (*lab.db_hostnames, NFS_HOST):
        config = yaml.safe_load(hosts[name].exec("cat", "/etc/qluster/config.yaml").stdout)
        assert sorted(config["udp"]["peers"]) == addresses, name

    block_multicast(lab)
    hosts[lab.db_hostnames[0]].exec("python3", "-c", PROBE)
    assert multicast_dropped(lab) > 0, "the block let a multicast datagram through"
    wait_until(lambda: keep_if(cluster.freshest_map(), converged), 120, 1, "a converged cluster without multicast")

    old = cluster.leader()
    hosts[old].kill()
    killed_at = time.monotonic()
    try:
        found = wait_until(lambda: keep_if(cluster.freshest_map(), lambda m: available(m) and leader_name(m) != old),
                           60, 0.2, "a new leader without multicast")
        print(f"new leader {leader_name(found)} {time.monotonic() - killed_at:.1f} s after {old}'s host was killed")
    finally:
        hosts[old].start()
    wait_until(lambda: keep_if(cluster.freshest_map(), converged), 180, 2, f"{old} back, streaming, without multicast")
