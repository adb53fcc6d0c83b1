"""Three agents, three real PostgreSQL 15 instances: the behaviours issue 4 promises, in order.

The steps share one cluster (building it costs an initdb and two base backups), and each step
leaves it healthy for the next one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qluster_agent.cli import ctl

from .harness import OPENAPI_CHECKED, OPENAPI_MISFITS, Cluster, UdpPartition, Writer, wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/lib/postgresql/15/bin/initdb").exists(),
                                reason="needs root and PostgreSQL 15 (the agents run it as `postgres`)")


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="qluster-it-", dir="/tmp"))
    c = Cluster(root)
    c.prepare()
    yield c
    c.shutdown()
    if os.environ.get("QLUSTER_KEEP_IT"):
        print(f"integration cluster kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


def insert_row(node) -> str:
    value = uuid.uuid4().hex
    node.query("INSERT INTO acked(v) VALUES (%s)", (value,))
    return value


def new_leader(cluster, old, among=None):
    """The leader the nodes agree on, once it is no longer `old` (maps lag an election)."""
    leader = cluster.leader(among)
    return leader if leader is not None and leader is not old else None


def test_bootstrap_leader_then_followers_one_at_a_time(cluster):
    n1, n2, n3 = cluster.nodes
    n1.start()
    wait_for(lambda: cluster.leader([n1]) is n1 and n1.writable(), 60, "node 1 to bootstrap and lead")
    n1.query("CREATE TABLE acked(v text PRIMARY KEY)")
    # postgres.password-file: the users get their password in the cycle after initdb.
    wait_for(lambda: n1.query("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                              "WHERE rolname = 'postgres'") == [(True,)], 10, "the password set after initdb")
    for follower in (n2, n3):
        follower.start(marker=True)
        wait_for(lambda f=follower: cluster.healthy([n for n in cluster.nodes if n.running()]), 90,
                 f"node {follower.number} to clone and stream")
        wait_for(lambda f=follower: not f.marker.exists(), 10, "the add_node marker to be removed")
    # Quorum commit: ANY 1 of the two followers must confirm every commit (the leader rewrites
    # the list in the cycle after a member joins).
    wait_for(lambda: n1.query("SELECT state, sync_state FROM pg_stat_replication ORDER BY 1")
             == [("streaming", "quorum"), ("streaming", "quorum")], 10, "both followers in the quorum")
    assert n1.query("SHOW synchronous_standby_names")[0][0].startswith("ANY 1 (")


def test_a_row_written_on_the_leader_is_read_on_both_followers(cluster):
    leader = cluster.leader()
    value = insert_row(leader)
    for node in cluster.nodes:
        if node is not leader:
            wait_for(lambda n=node: n.query("SELECT count(*) FROM acked WHERE v = %s", (value,))[0][0] == 1,
                     15, f"the row on node {node.number}")
    assert cluster.writable_nodes() == [leader]


def test_map_names_one_leader_and_every_member(cluster):
    # A follower's map is as of its last full cycle (at most a second old): the last clone may
    # have ended after it.
    wait_for(lambda: all(m["wal_position"] is not None for m in cluster.nodes[1].map()["members"]), 5,
             "node 2's map to show every member's WAL position")
    cmap = cluster.nodes[1].map()
    assert cmap["leader"] == cluster.leader().node_id
    roles = sorted(m["role"] for m in cmap["members"])
    assert roles == ["follower", "follower", "leader"]


def scrape(node) -> dict[str, list]:
    """GET /metrics through prometheus_client's parser: name -> [(labels, value)]."""
    with urllib.request.urlopen(f"http://{node.ip}:{node.api_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def every_node_scrapes_three_healthy_members(cluster, leader) -> bool:
    """Each agent's /metrics shows the leader and two replicas (each agent's view settles on its
    own: a beacon a loaded machine delayed shows a member without its role for a moment)."""
    for node in cluster.nodes:
        samples = scrape(node)
        roles = {name: sum(value for _labels, value in samples.get(name, [])) for name in
                 ("qluster_member_leader", "qluster_member_primary", "qluster_member_replica")}
        if roles != {"qluster_member_leader": 1, "qluster_member_primary": 1, "qluster_member_replica": 2}:
            return False
    return True


def test_metrics_name_every_member_with_its_role_timeline_and_lag(cluster):
    leader = cluster.leader()
    members = {str(m["id"]): (m["name"], m["address"]) for m in leader.map()["members"]}
    wait_for(lambda: every_node_scrapes_three_healthy_members(cluster, leader), 15,
             "every agent's metrics naming the leader and two replicas")
    for node in cluster.nodes:
        samples = scrape(node)
        # The harness's members share the machine's host name: id and address tell them apart.
        for name in ("qluster_member_leader", "qluster_member_timeline", "qluster_member_lag_bytes"):
            assert {labels["id"]: (labels["member"], labels["address"]) for labels, _value in samples[name]} == members
        by_id = {name: {labels["id"]: value for labels, value in samples[name]} for name in samples if "member" in name}
        assert by_id["qluster_member_leader"][str(leader.node_id)] == 1 and sum(by_id["qluster_member_leader"].values()) == 1
        assert by_id["qluster_member_primary"][str(leader.node_id)] == 1 and sum(by_id["qluster_member_primary"].values()) == 1
        assert sum(by_id["qluster_member_replica"].values()) == 2
        assert all(value >= 1 for value in by_id["qluster_member_timeline"].values())
        assert samples["qluster_paused"] == [({}, 0.0)]
        assert samples["qluster_elections_total"][0][1] >= 1
        assert {labels["direction"] for labels, _value in samples["qluster_transport_bytes_total"]} == {"sent", "received"}
        assert not [labels for labels, _value in samples["qluster_transport_events_total"] if "bytes" in labels["kind"]]
    # Only the leader measures replay lag in seconds, for both replicas once they replayed WAL.
    wait_for(lambda: len(scrape(leader).get("qluster_member_lag_seconds", [])) == 2, 10,
             "the leader's replay lag of both replicas")


def test_bad_config_post_changes_nothing(cluster):
    node = cluster.nodes[2]
    before = node.api("/config")[1]
    status, body = node.api("/config", "POST", {"node-timeout": "soon", "heartbeat-interval": "1s", "bogus": 1})
    assert status == 400
    assert any(d.startswith("node-timeout:") for d in body["details"])
    assert any(d.startswith("bogus:") for d in body["details"])
    for other in cluster.nodes:
        assert other.api("/config")[1] == before


def test_good_config_post_on_a_follower_is_applied_everywhere(cluster):
    follower = next(n for n in cluster.nodes if n is not cluster.leader())
    status, body = follower.api("/config", "POST", {"replication-retry-interval": "300ms"})
    assert status == 200, body
    assert body["replication-retry-interval"] == "300ms"
    for node in cluster.nodes:
        wait_for(lambda n=node: n.api("/config")[1]["replication-retry-interval"] == "300ms", 10,
                 f"the new setting on node {node.number}")


def test_kill_leader_agent_and_database_keeps_every_acknowledged_row(cluster):
    old = cluster.leader()
    acked = [insert_row(old) for _unused in range(20)]
    old.kill_agent()
    old.kill_database()
    survivors = [n for n in cluster.nodes if n is not old]
    new = wait_for(lambda: new_leader(cluster, old, survivors), 30, "a new leader among the survivors")
    wait_for(new.writable, 30, "the new leader's database to accept writes")
    found = {r[0] for r in new.query("SELECT v FROM acked")}
    assert set(acked) <= found
    assert [n for n in survivors if n.writable()] == [new]
    # The old leader comes back as a replica of the new one (pg_rewind or a fresh clone).
    old.start()
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the old leader to rejoin as a streaming replica")
    assert cluster.writable_nodes() == [new]


def test_isolated_leader_is_fenced_and_a_new_one_elected(cluster):
    old = cluster.leader()
    others = [n for n in cluster.nodes if n is not old]
    with UdpPartition(old.ip):
        wait_for(lambda: not old.writable(), 15, "the isolated leader's database to stop taking writes")
        new = wait_for(lambda: new_leader(cluster, old, others), 30, "a leader among the majority")
        wait_for(new.writable, 30, "the new leader's database to accept writes")
        assert cluster.writable_nodes() == [new]
        value = insert_row(new)
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the isolated node to rejoin as a replica")
    wait_for(lambda: old.query("SELECT count(*) FROM acked WHERE v = %s", (value,))[0][0] == 1, 30,
             "the row written during the partition on the rejoined node")


def test_switchover_under_writes_hands_leadership_to_the_named_node(cluster):
    # A switchover to a replica that is not streaming yet is refused (409), rightly: the step
    # before may leave the fenced old leader still rejoining.
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "every node streaming before the switchover")
    old = cluster.leader()
    target = next(n for n in cluster.nodes if n is not old)
    writer = Writer(cluster, "acked").start()
    try:
        wait_for(writer.writing_recently, 30, "steady writes")
        status, body = old.api("/switchover", "POST", {"leader": target.node_id})
        assert status == 200, body
        wait_for(lambda: cluster.leader() is target and target.writable(), 60, "the target to lead")
        writer.first_commit_after(time.monotonic(), not_on=old.pg_port)
    finally:
        writer.stop()
    assert writer.acknowledged() <= {r[0] for r in target.query("SELECT v FROM acked")}
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "the old leader to follow the target")
    assert cluster.writable_nodes() == [target]


def test_reinit_recreates_a_replica_from_the_leader_and_never_the_leader_itself(cluster):
    leader = cluster.leader()
    replica, other = [n for n in cluster.nodes if n is not leader]
    status, body = other.api("/reinit", "POST", {"member": leader.node_id})
    assert status == 409, body
    assert "is the leader" in body["error"]
    assert cluster.writable_nodes() == [leader]
    # A file no clone would bring along: gone once the data directory has been wiped.
    canary = replica.pgdata / "qluster-it-canary"
    canary.write_text("the old data directory")
    status, body = other.api("/reinit", "POST", {"member": replica.node_id})  # forwarded to the leader
    assert status == 200, body
    wait_for(lambda: not canary.exists(), 60, "the replica's data directory to be wiped")
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the re-cloned replica to stream again")
    value = insert_row(leader)
    wait_for(lambda: replica.query("SELECT count(*) FROM acked WHERE v = %s", (value,))[0][0] == 1, 15,
             "a row written after the reinit on the re-cloned replica")
    assert cluster.writable_nodes() == [leader]


def test_pgdata_deleted_on_the_leader_fails_over_and_the_node_reclones(cluster):
    """Seed 003's drill: the primary's data directory is deleted under it."""
    old = wait_for(cluster.leader, 60, "a leader")  # the test before may end mid-election under load
    acked = [insert_row(old) for _unused in range(5)]
    shutil.rmtree(old.pgdata / "base")
    shutil.rmtree(old.pgdata / "global")
    new = wait_for(lambda: new_leader(cluster, old), 60, "leadership to leave the node without data")
    wait_for(new.writable, 30, "the new leader's database to accept writes")
    assert set(acked) <= {r[0] for r in new.query("SELECT v FROM acked")}
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the node to re-clone and stream again")
    assert cluster.writable_nodes() == [new]


def test_agent_stopped_during_a_reclone_exits_and_leaves_no_database_running(cluster):
    """SIGTERM while the replica's base backup and first start run: the agent must end within
    the unit's TimeoutStopSec (90 s) with no server of its own left, or systemd kills it and a
    database nobody supervises (or fences) may go on running."""
    leader = wait_for(cluster.leader, 60, "a leader")
    replica = next(n for n in cluster.nodes if n is not leader)
    status, body = replica.api("/reinit", "POST", {"member": replica.node_id})
    assert status == 200, body
    wait_for(lambda: replica.postmaster_pid() is None, 30, "the replica's old database to be stopped for the re-clone")
    stopped_at = time.monotonic()
    replica.process.send_signal(signal.SIGTERM)
    replica.process.wait(90)
    took = time.monotonic() - stopped_at
    assert replica.process.returncode == 0, replica.log_text()[-3000:]
    leftovers = subprocess.run(["pgrep", "-f", f"postgres -D {replica.pgdata}"], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == "", f"a server of the stopped agent still runs:\n{leftovers.stdout}"
    print(f"\nagent stop during a re-clone took {took:.1f} s")
    replica.start()
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the replica to re-clone and stream again")
    assert cluster.writable_nodes() == [leader]


def test_qlusterctl_switchover_waits_until_the_target_leads_and_lists_it(cluster, capsys):
    leader = wait_for(cluster.leader, 60, "a leader")
    wait_for(lambda: cluster.healthy(cluster.nodes), 60, "every node healthy")
    target = next(n for n in cluster.nodes if n is not leader)
    url = f"http://{target.ip}:{target.api_port}"
    code = ctl.main(["--config", "/nonexistent", "--api", url, "switchover", "--to", target.ip, "--force",
                     "--timeout", "60"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    # It returned once the target led with its database primary: no wait needed here.
    assert cluster.leader() is target and target.writable(), out
    assert f"(node {target.node_id}) leads" in out and "switchover: " in out
    assert ctl.main(["--config", "/nonexistent", "--api", url, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("cluster qluster   leader ") and f"(node {target.node_id})" in table[0]
    row = next(line.split() for line in table[3:] if line.split()[0] == str(target.node_id))
    assert row[3] == "leader" and row[7] == "leader", table


def test_paused_cluster_leaves_a_database_stopped_by_hand_alone_and_recovers_on_resume(cluster):
    """Maintenance mode (issue 20 item 1): pause -> stop the leader's database by hand -> for
    several HA cycles no agent starts, promotes, fences or demotes anything -> resume -> the
    leader starts and promotes its database and the cluster is healthy again."""
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "every node healthy before the pause")
    leader = cluster.leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    acked = [insert_row(leader) for _unused in range(5)]
    status, body = follower.api("/pause", "POST", {})  # forwarded to the leader
    assert (status, body["paused"]) == (200, True), body
    wait_for(lambda: all(n.map()["paused"] for n in cluster.nodes), 15, "every node to apply the pause")
    assert scrape(follower)["qluster_paused"] == [({}, 1.0)]
    leader.stop_database()
    wait_for(lambda: leader.postmaster_pid() is None, 15, "the leader's database to stop")
    # Five seconds of HA cycles (one a second at least): everything stays as it was left.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert leader.postmaster_pid() is None, "an agent started the database of a paused cluster"
        assert cluster.writable_nodes() == [], "an agent promoted a database of a paused cluster"
        for node in cluster.nodes:
            cmap = node.map()
            assert cmap["paused"] is True and cmap["leader"] in (leader.node_id, None), cmap
        time.sleep(0.3)
    rows = {m["id"]: m for m in leader.map()["members"]}
    assert rows[leader.node_id]["db_role"] == "stopped"
    assert all("the cluster is paused" in (m["decision"] or "") for m in rows.values() if m["role"] != "observer"), rows
    status, body = follower.api("/switchover", "POST", {"leader": follower.node_id})
    assert status == 409 and "paused" in body["error"], body
    status, body = leader.api("/resume", "POST", {})
    assert (status, body["paused"]) == (200, False), body
    wait_for(lambda: cluster.healthy(cluster.nodes), 120, "the cluster to recover after the resume")
    new = cluster.leader()
    assert cluster.writable_nodes() == [new]
    assert set(acked) <= {r[0] for r in new.query("SELECT v FROM acked")}
    assert all(n.map()["paused"] is False for n in cluster.nodes)
    assert scrape(new)["qluster_paused"] == [({}, 0.0)]


def test_history_records_the_leader_changes_of_the_steps_above(cluster):
    leader = wait_for(cluster.leader, 60, "a leader")
    changes = wait_for(lambda: leader.api("/history")[1]["history"], 15, "a history")
    assert changes[0]["reason"] == "initial" and changes[0]["from"] is None
    reasons = [c["reason"] for c in changes]
    # The failovers (a killed leader, an isolated one, a leader without data) and the switchovers.
    assert reasons.count("failover") >= 2 and reasons.count("switchover") >= 2, changes
    assert [c["term"] for c in changes] == sorted({c["term"] for c in changes})
    assert all(c["from"] != c["to"] for c in changes[1:])
    assert changes[-1]["to"] == leader.node_id


def pending_restart(seen_by, node) -> tuple:
    """`node`'s pending_restart in `seen_by`'s map, and its qluster_member_pending_restart samples."""
    row = next(m for m in seen_by.map()["members"] if m["id"] == node.node_id)
    samples = scrape(seen_by).get("qluster_member_pending_restart", [])
    return row["pending_restart"], [value for labels, value in samples if labels["id"] == str(node.node_id)]


def test_qlusterctl_restarts_a_replica_in_place_and_the_leader_after_a_switchover(cluster, capsys):
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "every node healthy before the restarts")
    leader = cluster.leader()
    replica = next(n for n in cluster.nodes if n is not leader)
    url = f"http://{leader.ip}:{leader.api_port}"  # asked of the leader: carried to the replica's agent
    # A restart-only setting reloaded: the map and the metrics say a restart is pending until it is done.
    replica.query("ALTER SYSTEM SET track_activity_query_size = 2048")
    replica.query("SELECT pg_reload_conf()")
    wait_for(lambda: pending_restart(leader, replica) == (True, [1.0]), 30, "the replica's pending restart reported")
    before = replica.postmaster_pid()
    code = ctl.main(["--config", "/nonexistent", "--api", url, "restart", replica.ip, "--timeout", "90"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert replica.postmaster_pid() not in (None, before), "the replica's database was not restarted"
    wait_for(lambda: pending_restart(leader, replica) == (False, [0.0]), 30, "the replica's pending restart cleared")
    assert replica.query("SHOW track_activity_query_size") == [("2kB",)]
    assert cluster.leader() is leader and leader.writable()
    assert ctl.main(["--config", "/nonexistent", "--api", url, "reload", str(leader.node_id)]) == 0
    assert "configuration reloaded" in capsys.readouterr().out
    status, body = replica.api("/restart", "POST", {"member": leader.node_id})
    assert status == 409 and "is the leader" in body["error"], body
    wait_for(lambda: cluster.healthy(cluster.nodes), 60, "every node healthy before the leader's restart")
    before = leader.postmaster_pid()
    code = ctl.main(["--config", "/nonexistent", "--api", url, "restart", leader.ip, "--timeout", "90"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "switching over to" in out and "restart done" in out, out
    new = cluster.leader()
    assert new is not leader and new.writable() and leader.postmaster_pid() not in (None, before)
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "the former leader to stream from the new one")
    assert cluster.writable_nodes() == [new]
    assert new.api("/history")[1]["history"][-1]["reason"] == "switchover"
    # Forced: the leader's database restarted in place, a primary again, the leader unchanged.
    before = new.postmaster_pid()
    status, body = new.api("/restart", "POST", {"member": new.node_id, "force": True})
    assert status == 200, body
    wait_for(lambda: new.postmaster_pid() not in (None, before) and new.writable(), 60,
             "the leader's database back as the primary")
    assert cluster.leader() is new
    wait_for(lambda: cluster.healthy(cluster.nodes), 90, "the replicas streaming again")
    assert cluster.writable_nodes() == [new]


def test_every_answer_of_the_agents_fit_their_openapi_document(cluster):
    # Every API call above went through the harness, which checked its answer (map, config,
    # switchover, reinit, refusals) against /openapi.json; wait_for retries may have hidden a misfit.
    document = next(n for n in cluster.nodes if n.running()).api("/openapi.json")[1]
    assert document["openapi"].startswith("3.0")
    # Every read and health check of every node, and the refusals, once more through the check.
    reads = ["/map", "/members", "/config", "/replica?lag=16MB", "/replica?lag=lots", "/nope", "/members/1"]
    for node in cluster.nodes:
        for path in reads + [path for path in document["paths"] if path not in ("/metrics", "/openapi.json")
                             and "{" not in path and "get" in document["paths"][path]]:
            node.api(path)
    assert node.api("/config", "DELETE")[0] == 405
    assert len({call.split(" -> ")[0] for call in OPENAPI_CHECKED}) >= 5, OPENAPI_CHECKED[:20]
    assert OPENAPI_MISFITS == []
