"""Five database nodes (seed 000 §2: "3 or 5"; issue 16 item 5), under writes all along:

1. a running 3-node cluster grows to 5 with two brand-new hosts through
   `site.yml --tags add_node`;
2. the leader's host and a follower's host die at once: the other three elect a leader and the
   writers go on through the pooler;
3. both come back and stream again;
4. playbooks/remove_node.yml takes the two new nodes out again and the lab shrinks to 3.

No acknowledged write (autocommit inserts and balance transfers, through the pooler and
directly) may be missing from the leader's database at the end, and the transfers' total holds.
The writers and the checks are the chaos test's (qlab.chaos)."""

from __future__ import annotations

import time

from qlab import deploy, lifecycle
from qlab.chaos.checker import assert_no_write_lost
from qlab.chaos.clients import Clients
from qlab.chaos.cluster import Cluster, available, converged, leader_name
from qlab.chaos.run import prepare
from qlab.faults import keep_if, wait_until

NEW_HOSTS = ("qluster-04", "qluster-05")


def converged_map(cluster: Cluster, size: int, timeout: float, what: str) -> dict:
    return wait_until(lambda: keep_if(cluster.freshest_map(), lambda m: converged(m, size)), timeout, 2, what)


def acknowledged_since(clients: Clients, moment: float) -> bool:
    return any(r["r"] == "ok" and r["t1"] >= moment for r in clients.writes.snapshot())


def members_named(cluster: Cluster, names) -> list[str]:
    found = cluster.freshest_map() or {"members": []}
    return [m["name"] for m in found["members"] if m["name"] in names]


def test_grow_to_five_lose_two_hosts_at_once_and_shrink_back_without_losing_a_write(deployed_test_lab, tmp_path):
    small = deployed_test_lab
    big = small.with_nodes(5)
    three = Cluster.of(small)
    converged_map(three, 3, 300, "a converged 3-node cluster to start from")
    run_id = f"grow{int(time.time())}"
    prepare(three, run_id)
    password = three.nodes[0].exec("cat", "/etc/qluster/db-password").stdout.strip()
    clients = Clients(three, run_id, password, seed=16, log_dir=tmp_path, use_pooler=True)
    shrunk = False
    try:
        clients.start()
        wait_until(lambda: clients.writes.ids("insert", "ok"), 60, 0.5, "a first acknowledged write")

        lifecycle.up(big)
        deploy.run_playbook(big, "site.yml", ["--tags", "add_node", "--limit",
                                              ",".join(NEW_HOSTS) + ",qhb_nodes,nfs_servers,qcp_hosts"])
        five = Cluster.of(big)
        converged_map(five, 5, 300, "5 voters, 4 streaming, after add_node")

        leader = five.leader()
        follower = next(name for name in big.db_hostnames if name != leader)
        killed_at = time.time()
        five.hosts[leader].kill()
        five.hosts[follower].kill()
        wait_until(lambda: keep_if(five.freshest_map(), lambda m: available(m) and leader_name(m) not in (leader, follower)),
                   60, 0.2, f"a new leader after {leader} and {follower} died")
        wait_until(lambda: acknowledged_since(clients, killed_at), 60, 0.5, "writes acknowledged after the kill")
        five.hosts[leader].start()
        five.hosts[follower].start()
        converged_map(five, 5, 300, f"{leader} and {follower} back and streaming")

        for gone in NEW_HOSTS:
            deploy.run_playbook(big, "playbooks/remove_node.yml", ["-e", f"qluster_node={gone}",
                                                                   "-e", "qluster_switchover=true"])
        lifecycle.up(small)
        shrunk = True
        final = converged_map(three, 3, 300, "3 voters again after remove_node")
        shrunk_at = time.time()
        wait_until(lambda: acknowledged_since(clients, shrunk_at), 60, 0.5, "writes acknowledged after the shrink")
    finally:
        clients.stop()
        if not shrunk:  # leave the lab as the other tests expect it: 3 nodes
            for gone in members_named(Cluster.of(big), NEW_HOSTS):
                deploy.run_playbook(big, "playbooks/remove_node.yml", ["-e", f"qluster_node={gone}",
                                                                       "-e", "qluster_switchover=true"])
            lifecycle.up(small)
    assert_no_write_lost(clients.writes, three, final, run_id)
