"""The day-2 playbooks (issue 7 item 6) and the modules (items 2-5) against the deployed test lab
(`qlabt`, or the lab QLAB_TEST_LAB names).

Each test runs a playbook the way an operator would (ansible-playbook with the lab's inventory)
and checks what the operator would then see: the cluster map, rows in the databases, the files
that list the nodes, the report. The tests share one deployed cluster (the `deployed_test_lab`
fixture) and run in file order; the destructive ones come last, and the last one (full removal)
leaves the hosts bare (conftest runs this file after every other lab test).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import cluster_map, three_healthy_members
from qlab import deploy
from qlab.agent_api import get_json
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import DB_HOSTS, NFS_HOST, REPO

# The modules run on a database node and talk to that node's own agent.
API = "http://127.0.0.1:8080"

CLUSTER_NAME = "qluster1-qhb"  # qhb_node_cluster_name's default: the confirmation phrase


def run_playbook(lab, playbook: str, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    path = REPO / playbook
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path), str(path), *args]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=deploy.ansible_env(), check=False, capture_output=True, text=True)
    print(f"{playbook} {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.0f} s")
    if expect_ok and proc.returncode != 0:
        pytest.fail(f"{playbook} failed (exit {proc.returncode}):\n{failed_tasks(proc.stdout)}\n"
                    f"--- the end of its output:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return proc


def failed_tasks(output: str) -> str:
    """Each failed task's heading and result, which the tail of a long run's output may not hold."""
    lines = output.splitlines()
    shown = []
    for index, line in enumerate(lines):
        if line.startswith(("fatal:", "failed:")) or " FAILED! " in line:
            heading = next((lines[i] for i in range(index, -1, -1) if lines[i].startswith(("TASK [", "RUNNING HANDLER ["))), "")
            shown += [heading, *lines[index:index + 15], ""]
    return "\n".join(shown) or "(no failed task in the output)"


def flat(output: str) -> str:
    """The output with Ansible's line wrapping undone, for looking up a message."""
    return " ".join(output.split())


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines as host -> {ok, changed, failed, ...}."""
    rows = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        rows[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return rows


def member(cluster: dict, name: str) -> dict | None:
    return next((m for m in cluster["members"] if m["name"] == name), None)


def voters_of(cluster: dict) -> list[dict]:
    return [m for m in cluster["members"] if m["voter"]]


def leader(cluster: dict) -> dict:
    return next(m for m in cluster["members"] if m["id"] == cluster["leader"])


def healthy_map(lab) -> dict:
    return wait_until(lambda: keep_if(any_map(lab), three_healthy_members),
                      timeout=180, interval=2, what="3 healthy members in the map")


def any_map(lab) -> dict | None:
    for name in DB_HOSTS:
        cluster = cluster_map(lab, name)
        if cluster and cluster.get("leader") is not None:
            return cluster
    return None


def psql(host: Host, sql: str, check: bool = True) -> subprocess.CompletedProcess:
    return host.exec("runuser", "-u", "qhb", "--", "psql", "-h", "/var/run/postgresql", "-d", "postgres",
                     "-AtXc", sql, check=check)


@pytest.fixture(scope="module")
def lab(deployed_test_lab):
    return deployed_test_lab


@pytest.fixture(scope="module")
def nodes(lab):
    return {h.hostname: Host(lab, h.hostname) for h in lab.hosts}


def test_guarded_playbooks_refuse_without_confirmation(lab):
    before = healthy_map(lab)
    for playbook, variable in (("playbooks/reinit_cluster.yml", "qluster_confirm_reinit"),
                               ("playbooks/remove_cluster.yml", "qluster_confirm_remove")):
        for args in ((), ("-e", f"{variable}=yes")):
            proc = run_playbook(lab, playbook, *args, expect_ok=False)
            assert proc.returncode != 0, proc.stdout[-3000:]
            assert f"{variable}={CLUSTER_NAME}" in flat(proc.stdout) and "Nothing was changed" in flat(proc.stdout)
            assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values())
    after = healthy_map(lab)
    assert after["leader"] == before["leader"] and after["term"] == before["term"]


def test_site_refuses_a_bad_cluster_section_before_any_host_changes(lab):
    """An out-of-range node-timeout once turned failover off for a whole cluster (issue 22): the
    play names each bad key, its value and the allowed range before any host is touched."""
    before = healthy_map(lab)
    bad = {"qhb_node_agent_cluster": {"node-timeout": "99999999999999999999h", "heartbeat-intervl": "1s"}}
    proc = run_playbook(lab, "site.yml", "-e", json.dumps(bad), expect_ok=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    said = flat(proc.stdout)
    assert "99999999999999999999h'' is out of range 100ms..1m" in said, said[-3000:]  # quoted by YAML
    assert "heartbeat-intervl: unknown key (did you mean heartbeat-interval?)" in said
    assert "Nothing was changed" in said
    assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values())
    after = healthy_map(lab)
    assert after["leader"] == before["leader"] and after["term"] == before["term"]


def test_site_refuses_a_variable_of_the_wrong_type_in_its_first_play(lab):
    # site.yml named the entry point `preflight.yml`, which matches no argument spec: a wrong
    # type passed the checks and failed only in the fourth play, after the NFS server's; then it
    # failed in the checks play, inside hundreds of lines of spec data per host. A pooler
    # variable was checked only in the last play, after the database nodes were deployed.
    proc = run_playbook(lab, "site.yml", "-e", "qhb_node_max_connections=lots", "-e", "qcp_host_pool_mode=bogus",
                        expect_ok=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    said = flat(proc.stdout)
    # YAML output doubles the single quotes: argument ''qhb_node_max_connections'' is of type <class ''str''>
    assert re.search(r"argument '+qhb_node_max_connections'+ is of type", said) and "Nothing was changed" in said, said[-3000:]
    assert "qcp_host_pool_mode" in said and "bogus" in said, said[-3000:]
    assert "argument_spec_data" not in proc.stdout
    plays = re.findall(r"^PLAY \[(.*)\]", proc.stdout, re.M)
    assert plays[-1] == "Check every variable's type and value against the roles' argument specs", plays
    assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values())


def test_site_refuses_extra_config_keys_the_role_writes_itself(lab):
    # `udp` in the extra config made config.yaml hold a second top-level `udp` key, silently.
    extra = {"qhb_node_agent_extra_config": {"udp": {"peers": ["10.77.16.11"]}}}
    proc = run_playbook(lab, "site.yml", "-e", json.dumps(extra), expect_ok=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    said = flat(proc.stdout)
    assert "qhb_node_agent_extra_config sets udp" in said and "qhb_node_udp_peers" in said, said[-3000:]
    assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values())


def test_switchover_moves_the_leader_and_writes_still_work(lab, nodes):
    before = healthy_map(lab)
    old = leader(before)
    target = next(m for m in before["members"] if m["voter"] and m["id"] != old["id"])
    proc = run_playbook(lab, "playbooks/switchover.yml", "-e", f"qluster_switchover_to={target['name']}")
    assert f"leader: {target['name']}" in proc.stdout  # the printed map
    after = healthy_map(lab)  # the old leader streams again as a replica
    assert after["leader"] == target["id"]
    assert member(after, old["name"])["db_role"] == "replica"
    row = uuid.uuid4().hex
    psql(nodes[target["name"]], "CREATE TABLE IF NOT EXISTS playbooks_lab (v text)")
    psql(nodes[target["name"]], f"INSERT INTO playbooks_lab VALUES ('{row}')")
    wait_until(lambda: psql(nodes[old["name"]], f"SELECT count(*) FROM playbooks_lab WHERE v = '{row}'",
                            check=False).stdout.strip() == "1",
               timeout=60, interval=1, what="the row replicated to the old leader")
    # Asked again for the node that already leads: nothing to do.
    again = run_playbook(lab, "playbooks/switchover.yml", "-e", f"qluster_switchover_to={target['name']}")
    assert all(r.get("changed", 0) == 0 for r in recap(again.stdout).values())
    assert healthy_map(lab)["leader"] == target["id"]


def test_the_seeds_map_command_works_as_written_on_every_node(lab, nodes):
    # Seed 000 §9.4 and §13: curl and jq on a node, no token, no extra option.
    leader = healthy_map(lab)["leader_name"]
    for name in DB_HOSTS:
        answer = nodes[name].sh("curl -s http://localhost:8080/map | jq -r .leader_name")
        assert answer.stdout.strip() == leader, (name, answer.stdout, answer.stderr)


def test_diagnostics_report_names_every_node_and_reaches_the_databases(lab, tmp_path):
    healthy_map(lab)  # the report describes the cluster as it is: let the switchover above settle
    report_file = tmp_path / "report.txt"
    proc = run_playbook(lab, "playbooks/diagnostics.yml", "-e", f"qluster_diagnostics_file={report_file}")
    assert all(r.get("changed", 0) == 0 for r in recap(proc.stdout).values()), proc.stdout[-3000:]
    report = report_file.read_text()
    for name in (*DB_HOSTS, NFS_HOST):
        assert f"== {name} (" in report
    # Step 6: each database node connects to each node's database: one primary, two replicas.
    step6 = re.findall(r"^    (qluster-0\d) \([0-9.]+\): (.*)$", report, re.M)
    assert len(step6) == 9, report
    assert sorted(pair[1] for pair in step6) == ["ok, primary"] * 3 + ["ok, replica"] * 6, report
    assert "FAILED" not in report and "NOT LISTENING" not in report, report
    assert "Report file: " + str(report_file) in flat(proc.stdout)  # the printed report is the same


def test_remove_node_removes_the_leader_after_a_switchover_and_add_node_brings_it_back(lab, nodes):
    """remove_node.yml refuses the leader without qluster_switchover; with it, the playbook hands
    leadership to another voter, removes the node from the cluster, stops its agent and takes its
    address out of the other nodes' pg_hba.conf and the NFS exports. `site.yml --tags add_node`
    brings it back as a streaming replica with all of that restored."""
    before = settled_map(lab)
    old = leader(before)
    gone, address = old["name"], nodes[old["name"]].address
    refused = run_playbook(lab, "playbooks/remove_node.yml", "-e", f"qluster_node={gone}", expect_ok=False)
    assert refused.returncode != 0 and "it is the leader" in flat(refused.stdout), refused.stdout[-3000:]
    assert healthy_map(lab)["leader"] == before["leader"]

    run_playbook(lab, "playbooks/remove_node.yml", "-e", f"qluster_node={gone}", "-e", "qluster_switchover=true")
    others = [name for name in DB_HOSTS if name != gone]
    after = assert_removed_everywhere(lab, member_args(before, gone), others)
    new_leader = leader(after)
    assert new_leader["name"] in others and new_leader["db_role"] == "primary"
    assert nodes[gone].exec("systemctl", "is-active", "qluster", check=False).stdout.strip() != "active"
    assert nodes[gone].exec("systemctl", "is-enabled", "qluster", check=False).stdout.strip() == "disabled"
    for name in others:
        assert f"{address}/32" not in nodes[name].exec("cat", "/qhb/data/pg_hba.conf").stdout
    assert address not in nodes[NFS_HOST].exec("cat", "/etc/ganesha/ganesha.conf").stdout
    # The new leader takes writes and the remaining replica receives them.
    row = f"leader-removed-{time.time_ns()}"
    sql(nodes[new_leader["name"]], "CREATE TABLE IF NOT EXISTS playbooks_lab (v text)")
    sql(nodes[new_leader["name"]], f"INSERT INTO playbooks_lab VALUES ('{row}')")
    replica = next(name for name in others if name != new_leader["name"])
    wait_until(lambda: sql(nodes[replica], f"SELECT count(*) FROM playbooks_lab WHERE v = '{row}'", check=False) == "1",
               timeout=60, interval=1, what=f"the row on {replica}")

    # --limit with the node alone is refused before anything changes.
    narrow = run_playbook(lab, "site.yml", "--tags", "add_node", "--limit", gone, expect_ok=False)
    assert narrow.returncode != 0 and "the --limit leaves out" in flat(narrow.stdout), narrow.stdout[-3000:]

    run_playbook(lab, "site.yml", "--tags", "add_node", "--limit", f"{gone},qhb_nodes,nfs_servers,qcp_hosts")
    back = member(settled_map(lab), gone)
    assert back is not None and back["db_role"] == "replica" and back["streaming"]
    for name in DB_HOSTS:
        assert f"{address}/32" in nodes[name].exec("cat", "/qhb/data/pg_hba.conf").stdout
    assert address in nodes[NFS_HOST].exec("cat", "/etc/ganesha/ganesha.conf").stdout
    wait_until(lambda: sql(nodes[gone], f"SELECT count(*) FROM playbooks_lab WHERE v = '{row}'", check=False) == "1",
               timeout=60, interval=1, what=f"the row on the old leader {gone}")
    # The pooler's observer knows the node again (its HAProxy sync follows this map).
    pooler_map = wait_until(lambda: keep_if(cluster_map(lab, NFS_HOST), lambda c: c and member(c, gone)),
                            timeout=60, interval=1, what=f"{gone} in the pooler's map")
    assert member(pooler_map, gone)["streaming"]


# --------------------------------------------------------------------------------------------
# The three modules on the deployed three-node cluster (issue 7 items 2-5). tests/modules covers one
# agent; here each module runs through ansible-playbook on a database node of the lab (the agents
# take changes from their own host without a token, as the playbooks send them) and is checked on
# what every node then reports. Each change follows check mode -> nothing changed -> apply ->
# verify -> apply again unchanged, and each test leaves three voters, one leader, two streaming
# replicas. They run before the destructive playbooks below.

@pytest.fixture(scope="module")
def module(lab, tmp_path_factory):
    """run(host, module, args, check=, diff=) -> the task's result, run on that lab host."""
    root = tmp_path_factory.mktemp("plays")
    env = {**deploy.ansible_env(), "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    counter = iter(range(1000))

    def run(host: str, name: str, args: dict, check: bool = False, diff: bool = False,
            become_user: str | None = None) -> dict:
        play = {"hosts": host, "gather_facts": False,
                "module_defaults": {"group/qhb.qluster.api": {"api_url": API}},
                "tasks": [{"name": "run", f"qhb.qluster.{name}": args}]}
        # As an operator runs them: root through sudo (the token file is root's and qhb's), or
        # the user the test names.
        play.update(become=True, become_user=become_user or "root")
        play = [play]
        path = root / f"play{next(counter)}.yml"
        path.write_text(json.dumps(play))
        argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory_path), str(path)]
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        started = time.monotonic()
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
        print(f"{name} on {host} {json.dumps(args)}{' --check' if check else ''}: exit {done.returncode} "
              f"in {time.monotonic() - started:.0f} s")
        try:
            return json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"][host]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(f"ansible-playbook rc={done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}") from None

    return run


def maps(lab) -> dict[str, dict | None]:
    return {name: cluster_map(lab, name) for name in DB_HOSTS}


def map_with_leader(lab) -> dict:
    for cluster in maps(lab).values():
        if cluster and cluster.get("leader") is not None:
            return cluster
    raise AssertionError(f"no database node's agent answers GET /map with a leader: {maps(lab)}")


def settled_map(lab, timeout: float = 240) -> dict:
    """Waits until every database node's agent shows the same leader and 3 healthy members."""
    def settled():
        seen = maps(lab)
        if all(three_healthy_members(c) for c in seen.values()) and len({c["leader"] for c in seen.values()}) == 1:
            return seen[DB_HOSTS[0]]
        return None
    return wait_until(settled, timeout=timeout, interval=2, what="3 healthy members in every node's map")


def config(lab, name: str) -> dict:
    return get_json(Host(lab, name).address, "/config", timeout=5)


def sql(host: Host, statement: str, check: bool = True) -> str:
    return psql(host, statement, check=check).stdout.strip()


# --------------------------------------------------------------------------------------------
def test_qluster_config_change_reaches_every_node(lab, module):
    before = {name: config(lab, name) for name in DB_HOSTS}
    assert len({json.dumps(c, sort_keys=True) for c in before.values()}) == 1, before
    current = before[DB_HOSTS[0]]
    # Two settings that change nothing an operator would notice within the test: the switchover
    # deadline and the autoremove floor (autoremove stays off).
    wanted = {"set-leader-timeout": "7s" if current["set-leader-timeout"] != "7s" else "8s",
              "autoremove-minimum": 2 if current["autoremove-minimum"] != 2 else 3}
    # Through the leader's host: without an api-token (the lab has none) the leader refuses a
    # change a follower forwards to it.
    via = leader(settled_map(lab))["name"]
    other = next(name for name in DB_HOSTS if name != via)
    try:
        checked = module(via, "qluster_config", {"settings": wanted}, check=True, diff=True)
        assert checked["changed"] is True and not checked.get("failed"), checked
        assert checked["sent"] == {} and checked["planned"] == wanted
        assert checked["diff"]["before"]["set-leader-timeout"] == current["set-leader-timeout"]
        assert checked["diff"]["after"]["set-leader-timeout"] == wanted["set-leader-timeout"]
        assert {name: config(lab, name) for name in DB_HOSTS} == before

        applied = module(via, "qluster_config", {"settings": wanted}, diff=True)
        assert applied["changed"] is True and not applied.get("failed"), applied
        assert applied["sent"] == wanted
        expected = dict(current, **wanted)
        for name in (*DB_HOSTS, NFS_HOST):  # the pooler's observer agent follows the cluster state too
            wait_until(lambda n=name: config(lab, n) == expected, timeout=30, interval=1,
                       what=f"the new settings on {name}")

        # Again, spelled differently, through a follower (it only reads): nothing to do, in check
        # mode or not.
        spelled = {"set_leader_timeout": f"{int(wanted['set-leader-timeout'][:-1]) * 1000}ms",
                   "autoremove-minimum": wanted["autoremove-minimum"]}
        for check in (True, False):
            again = module(other, "qluster_config", {"settings": spelled}, check=check, diff=True)
            assert again["changed"] is False and again["sent"] == {} and not again.get("failed"), again
            assert again["diff"]["before"] == again["diff"]["after"]
    finally:
        restore = {key: current[key] for key in wanted}
        module(via, "qluster_config", {"settings": restore})
    assert all(config(lab, name) == current for name in DB_HOSTS)


def test_qluster_config_paused_leaves_a_killed_leader_database_alone_until_resumed(lab, nodes, module):
    """Maintenance mode (issue 20 item 1): paused through the module (check mode changes nothing,
    a second run is unchanged), the leader's postmaster killed, nothing done for several HA
    cycles (no restart, no failover, every decision says paused), then resumed: the cluster
    recovers on its own."""
    via = leader(settled_map(lab))["name"]  # a change goes to the leader's agent, as above
    other = next(name for name in DB_HOSTS if name != via)
    try:
        checked = module(via, "qluster_config", {"paused": True}, check=True, diff=True)
        assert checked["changed"] is True and checked["paused"] is True and not checked.get("failed"), checked
        assert checked["diff"] == {"before": {"paused": False}, "after": {"paused": True}}
        assert all(c and c["paused"] is False for c in maps(lab).values())

        applied = module(via, "qluster_config", {"paused": True})
        assert applied["changed"] is True and not applied.get("failed"), applied
        for name in (*DB_HOSTS, NFS_HOST):  # the pooler's observer applies it too
            wait_until(lambda n=name: (cluster_map(lab, n) or {}).get("paused") is True, timeout=30, interval=1,
                       what=f"the pause on {name}")
        assert module(other, "qluster_config", {"paused": True}, check=True)["changed"] is False

        nodes[via].exec("sh", "-c", '. /etc/systemd/system/qluster.env && kill -9 "$(head -1 "$PGDATA/postmaster.pid")"')
        wait_until(lambda: keep_if(member(cluster_map(lab, other) or {"members": []}, via),
                                   lambda row: row and row["db_role"] not in ("primary", "unknown")),
                   timeout=30, interval=1, what=f"{via}'s database seen down")
        deadline = time.monotonic() + 15  # fifteen HA cycles at least
        while time.monotonic() < deadline:
            for name, seen in maps(lab).items():
                if seen is None:
                    continue
                assert seen["paused"] is True, (name, seen)
                assert leader(seen)["name"] == via, (name, seen)
                assert not any(m["db_role"] == "primary" for m in voters_of(seen)), (name, seen)
                assert all("the cluster is paused" in (m["decision"] or "") for m in voters_of(seen)
                           if m["state"] != "unreachable"), (name, seen)
            time.sleep(1)
    finally:
        resumed = module(via, "qluster_config", {"paused": False})
    assert resumed["changed"] is True and resumed["paused"] is False and not resumed.get("failed"), resumed
    cluster = settled_map(lab)
    assert cluster["paused"] is False
    assert leader(cluster)["name"] == via  # its database was started again and promoted


def member_args(cluster: dict, name: str) -> dict:
    row = member(cluster, name)
    return {"name": row["name"], "address": row["address"].split(":")[0], "id": row["id"]}


def assert_removed_everywhere(lab, removed: dict, via_names) -> dict:
    """Every remaining node's map lists 2 voters and not the removed member; returns one map."""
    def gone():
        seen = {name: cluster_map(lab, name) for name in via_names}
        ok = all(c and c.get("leader") is not None and not any(m["id"] == removed["id"] for m in c["members"])
                 and len([m for m in c["members"] if m["voter"]]) == 2 for c in seen.values())
        return seen[via_names[0]] if ok else None
    return wait_until(gone, timeout=60, interval=1, what=f"{removed['name']} gone from every remaining map")


def add_back(lab, module, via: str, args: dict) -> dict:
    """qluster_member present for a removed node: check mode changes nothing, the add waits until it
    streams, a second run is unchanged; returns the healthy map."""
    present = dict(args, wait_timeout=600, poll_interval=1)
    checked = module(via, "qluster_member", present, check=True, diff=True)
    assert checked["changed"] is True and not checked.get("failed"), checked
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["id"] == args["id"]
    assert member(map_with_leader(lab), args["name"]) is None

    added = module(via, "qluster_member", present, diff=True)
    assert added["changed"] is True and not added.get("failed"), added
    assert [a.split(" ")[:2] for a in added["actions"]] == [["POST", "/members"]]
    # The module returned once the member streams: its row says so at that moment.
    assert added["member"]["db_role"] == "replica" and added["member"]["streaming"] is True, added["member"]
    cluster = settled_map(lab)

    again = module(via, "qluster_member", present, check=True, diff=True)
    assert again["changed"] is False and again["actions"] == [] and not again.get("failed"), again
    assert again["diff"]["before"] == again["diff"]["after"]
    assert module(via, "qluster_member", present)["changed"] is False
    return cluster


def test_qluster_member_removes_a_follower_and_adds_it_back(lab, nodes, module):
    before = settled_map(lab)
    follower = next(m for m in before["members"] if m["voter"] and m["id"] != before["leader"])
    args = member_args(before, follower["name"])
    via = leader(before)["name"]  # through the leader's host
    absent = dict(args, state="absent")

    checked = module(via, "qluster_member", absent, check=True, diff=True)
    assert checked["changed"] is True and not checked.get("failed"), checked
    assert checked["actions"] == [f"DELETE /members/{args['id']}"]
    assert checked["diff"]["before"]["name"] == args["name"] and checked["diff"]["after"] == {}
    assert member(settled_map(lab), args["name"]) is not None

    removed = module(via, "qluster_member", absent, diff=True)
    assert removed["changed"] is True and not removed.get("failed"), removed
    assert removed["actions"] == [f"DELETE /members/{args['id']}"] and removed["member"] == {}
    others = [name for name in DB_HOSTS if name != args["name"]]
    after = assert_removed_everywhere(lab, args, others)
    assert after["leader"] == before["leader"]  # removing a follower leaves the leader alone
    # The two remaining nodes still commit writes (quorum commit over the remaining voters).
    assert sql(nodes[via], "SELECT 1") == "1"
    for check in (True, False):
        again = module(via, "qluster_member", absent, check=check)
        assert again["changed"] is False and again["actions"] == [] and not again.get("failed"), again

    cluster = add_back(lab, module, via, args)
    assert member(cluster, args["name"])["db_role"] == "replica"


def test_qluster_member_refuses_a_removal_that_would_lose_quorum(lab, nodes, module):
    """With one follower cut off, removing the other would leave the leader alone with the
    unreachable one: 1 of 2 remaining voters reachable, 2 needed. Refused, nothing sent."""
    before = settled_map(lab)
    via = leader(before)["name"]
    cut, other = [m for m in before["members"] if m["voter"] and m["id"] != before["leader"]]
    nodes[cut["name"]].partition()
    try:
        wait_until(lambda: member(cluster_map(lab, via), cut["name"])["state"] == "unreachable",
                   timeout=60, interval=1, what=f"{cut['name']} unreachable in the leader's map")
        for check in (True, False):
            refused = module(via, "qluster_member", {"name": other["name"], "state": "absent"}, check=check)
            assert refused.get("failed") is True and "needed for quorum" in refused["msg"], refused
            assert not refused.get("changed") and not refused.get("actions"), refused
        assert sorted(m["id"] for m in voters_of(cluster_map(lab, via))) == sorted(m["id"] for m in voters_of(before))
    finally:
        nodes[cut["name"]].heal()
    settled_map(lab)


def test_qluster_member_refuses_the_leader_and_plans_a_switchover(lab, module):
    before = settled_map(lab)
    old = leader(before)
    args = member_args(before, old["name"])
    absent = dict(args, state="absent")
    refused = module(old["name"], "qluster_member", absent)
    assert refused.get("failed") is True and "it is the leader" in refused["msg"], refused
    target = next(m for m in before["members"] if m["voter"] and m["id"] != old["id"])
    checked = module(old["name"], "qluster_member", dict(absent, switchover=True, switchover_to=target["name"]),
                     check=True, diff=True)
    assert checked["changed"] is True and not checked.get("failed"), checked
    assert checked["actions"] == [f'POST /switchover {{"leader": {target["id"]}}}', f"DELETE /members/{old['id']}"]
    assert checked["diff"]["before"]["id"] == old["id"] and checked["diff"]["after"] == {}
    after = settled_map(lab)
    assert after["leader"] == old["id"] and member(after, old["name"]) is not None


def rejoin(lab, nodes, module, via: str, args: dict) -> dict:
    """A node qluster_member removed (its agent stopped since) comes back as seed 000 §7.4 says:
    the add_node marker, its agent started, and qluster_member adding it and waiting until it
    streams. The module leaves pg_hba.conf and the NFS exports alone, so nothing else is needed."""
    host = nodes[args["name"]]
    host.exec("install", "-o", "qhb", "-g", "qhb", "-m", "0644", "/dev/null", "/opt/qluster/add_node")
    host.exec("systemctl", "enable", "--now", "qluster")
    return add_back(lab, module, via, args)


def test_qluster_member_alone_removes_the_leader_with_switchover(lab, nodes, module):
    before = settled_map(lab)
    old = leader(before)
    args = member_args(before, old["name"])
    target = next(m for m in before["members"] if m["voter"] and m["id"] != old["id"])
    removed = module(old["name"], "qluster_member", dict(args, state="absent", switchover=True,
                                                         switchover_to=target["name"], wait_timeout=300))
    try:
        assert removed["changed"] is True and not removed.get("failed"), removed
    finally:
        # The new leader's map: the removed node's own agent never hears of its removal.
        cluster = cluster_map(lab, target["name"]) or map_with_leader(lab)
        if member(cluster, old["name"]) is None:  # removed after all: bring it back for the next test
            nodes[old["name"]].stop_service("qluster")
            rejoin(lab, nodes, module, target["name"], args)
        else:
            settled_map(lab)


def test_qhb_replication_facts_on_every_node(lab, module):
    cluster = settled_map(lab)
    for name in DB_HOSTS:
        for check in (True, False):
            # The module talks to 127.0.0.1: it is told which row of the map is this node's.
            args = {"login_unix_socket": "/var/run/postgresql", "login_user": "qhb", "member": name}
            # As the database's OS user: the local socket authenticates by peer.
            result = module(name, "qhb_replication_facts", args, check=check, become_user="qhb")
            assert result["changed"] is False and not result.get("failed"), result
            facts = result["ansible_facts"]["qhb_replication"]
            row = member(cluster, name)
            assert facts["agent_member"]["id"] == row["id"]
            if row["id"] == cluster["leader"]:
                assert facts["role"] == "primary" and facts["in_recovery"] is False
                assert len(facts["replication"]) == 2 and all(r["state"] == "streaming" for r in facts["replication"])
            else:
                assert facts["role"] == "replica" and facts["in_recovery"] is True
                assert facts["wal_receiver"]["status"] == "streaming"
                assert facts["lag_bytes"] >= 0


def test_reinit_cluster_with_confirmation_yields_a_fresh_cluster(lab, nodes):
    first = nodes[leader(healthy_map(lab))["name"]]
    psql(first, "CREATE TABLE IF NOT EXISTS playbooks_lab (v text)")
    psql(first, "INSERT INTO playbooks_lab VALUES ('before reinit')")
    run_playbook(lab, "playbooks/reinit_cluster.yml", "-e", f"qluster_confirm_reinit={CLUSTER_NAME}")
    after = healthy_map(lab)
    assert leader(after)["name"] == DB_HOSTS[0]  # the initial leader bootstrapped the new cluster
    for name in DB_HOSTS:
        # The old data is gone everywhere: a fresh database without the table.
        assert psql(nodes[name], "SELECT to_regclass('playbooks_lab') IS NULL").stdout.strip() == "t"
    new_leader = nodes[DB_HOSTS[0]]
    # The seed's database is there again (qhb_node_databases).
    assert psql(new_leader, "SELECT count(*) FROM pg_database WHERE datname = 'qhb'").stdout.strip() == "1"
    psql(new_leader, "CREATE TABLE playbooks_lab (v text)")
    psql(new_leader, "INSERT INTO playbooks_lab VALUES ('after reinit')")
    for name in DB_HOSTS[1:]:
        wait_until(lambda n=name: psql(nodes[n], "SELECT count(*) FROM playbooks_lab", check=False).stdout.strip() == "1",
                   timeout=60, interval=1, what=f"the new row on {name}")


def test_remove_cluster_with_confirmation_leaves_nothing(lab, nodes):
    # The last lab test of the session (conftest orders this file last): it leaves the hosts bare,
    # and a later session's deployed_test_lab deploys them again.
    run_playbook(lab, "playbooks/remove_cluster.yml", "-e", f"qluster_confirm_remove={CLUSTER_NAME}")
    for name in (*DB_HOSTS, NFS_HOST):
        host = nodes[name]
        assert host.exec("id", "qhb", check=False).returncode != 0
        units = host.exec("systemctl", "list-units", "--all", "--no-legend", "qluster*", "pgbouncer*",
                          "haproxy*", "nfs-ganesha*", check=False).stdout
        assert not [u for u in units.splitlines() if " active " in u or "running" in u], units
        procs = host.exec("ps", "-eo", "args").stdout
        assert not re.search(r"qluster|postgres:|pgbouncer|haproxy|ganesha", procs), procs
        # /etc/pgbouncer held PgBouncer's TLS key and the auth role's password.
        for path in ("/qhb", "/opt/qluster", "/usr/local/lib/qluster", "/etc/qluster", "/var/lib/qluster",
                     "/etc/pgbouncer", "/etc/haproxy"):
            assert host.exec("test", "-e", path, check=False).returncode != 0, f"{path} left on {name}"
    for name in DB_HOSTS:
        # The WAL archive is the lab's shared volume: emptied, not deleted.
        assert nodes[name].exec("ls", "-A", "/opt/qhb-backup/wal").stdout.strip() == ""
