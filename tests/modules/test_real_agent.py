"""The modules through ansible-playbook against ONE real agent and a real PostgreSQL 15.

Each change follows check mode -> verify nothing changed -> apply -> verify -> apply again
unchanged. The collection is installed from this checkout into a temporary collections path;
the API options are set once through module_defaults' group/qhb.qluster.api.

A one-node cluster can add and remove only a member that never joins (its agent does not run):
qluster_member is verified for that, for the idempotence of the existing member and for the
refusals (removing the last voter, the leader); adding a real second node is left to the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

from agent_node import API_PORT, API_TOKEN, IP, NODE_ID, PG_BIN, PG_PORT, AgentNode, wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GHOST_IP = "127.0.0.10"
GHOST_ID = int.from_bytes(bytes([127, 0, 0, 10]), "big")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(PG_BIN, "postgres").exists(),
                                reason="needs root and PostgreSQL 15 in " + PG_BIN)


@pytest.fixture(scope="module")
def node():
    # Not under pytest's tmp_path: its directories are private to root, and the database runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="qluster-modules-", dir="/tmp"))
    node = AgentNode(root)
    node.prepare()
    node.start()
    try:
        wait_for(node.healthy_leader, 120, "the single-voter cluster to elect itself and run its primary",
                 alive=node.running)
        yield node
    except AssertionError:
        print(node.log_text()[-4000:])
        raise
    finally:
        node.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ansible(tmp_path_factory):
    """run(module, args, check=, diff=, token=, python=) -> the task's result dict."""
    root = tmp_path_factory.mktemp("ansible")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-p", str(root / "collections"),
                    str(REPO)], check=True, capture_output=True, text=True)
    (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = False\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
           "ANSIBLE_COLLECTIONS_PATH": str(root / "collections"), "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    counter = iter(range(1000))

    def run(module, args, check=False, diff=False, token=API_TOKEN, python=sys.executable):
        defaults = {"api_url": f"http://{IP}:{API_PORT}", "api_retries": 2}
        if token:
            defaults["api_token"] = token
        play = [{"hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/qhb.qluster.api": defaults},
                 "tasks": [{"name": "run", f"qhb.qluster.{module}": args}]}]
        playbook = root / f"play{next(counter)}.yml"
        playbook.write_text(json.dumps(play))
        argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                "-e", f"ansible_python_interpreter={python}", str(playbook)]
        argv += ["--check"] if check else []
        argv += ["--diff"] if diff else []
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        try:
            output = json.loads(done.stdout)
            return output["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(f"ansible-playbook rc={done.returncode}\n{done.stdout}\n{done.stderr}") from None

    yield run
    shutil.rmtree(root, ignore_errors=True)


def get(path):
    with urllib.request.urlopen(f"http://{IP}:{API_PORT}{path}", timeout=10) as response:
        return json.loads(response.read())


def map_ids():
    return {m["id"] for m in get("/map")["members"]}


# --------------------------------------------------------------------------------------------
def test_qluster_config(node, ansible):
    before = get("/config")
    assert before["node-timeout"] != "3s" and before["heartbeat-interval"] != "500ms"
    wanted = {"settings": {"node-timeout": "3s", "heartbeat-interval": "500ms", "quorum-replication": True}}

    checked = ansible("qluster_config", wanted, check=True, diff=True)
    assert checked["changed"] is True and not checked.get("failed")
    assert checked["sent"] == {}
    assert checked["planned"] == {"node-timeout": "3s", "heartbeat-interval": "500ms"}
    assert checked["diff"]["before"]["node-timeout"] == before["node-timeout"]
    assert checked["diff"]["after"]["node-timeout"] == "3s"
    assert get("/config") == before

    applied = ansible("qluster_config", wanted, diff=True)
    assert applied["changed"] is True and not applied.get("failed")
    assert applied["sent"] == {"node-timeout": "3s", "heartbeat-interval": "500ms"}
    after = get("/config")
    assert after == dict(before, **{"node-timeout": "3s", "heartbeat-interval": "500ms"})

    # The same values spelled differently: nothing to do.
    again = ansible("qluster_config", {"settings": {"node_timeout": "3000ms", "heartbeat-interval": "0.5s"}})
    assert again["changed"] is False and again["sent"] == {} and not again.get("failed")
    assert get("/config") == after


def test_qluster_config_refuses_bad_input_before_sending(node, ansible):
    current = get("/config")
    bad = ansible("qluster_config", {"settings": {"node-timeout": "4s", "node-timout": "5s", "replication-factor": 5000}})
    assert bad["failed"] is True
    assert "nothing was sent" in bad["msg"]
    assert "node-timout: unknown key (did you mean node-timeout?)" in bad["msg"]
    assert "replication-factor: 5000 is out of range 0..1000" in bad["msg"]
    inconsistent = ansible("qluster_config", {"settings": {"heartbeat-interval": "10s"}})
    assert inconsistent["failed"] is True and "heartbeat-interval: '10s' is out of range" in inconsistent["msg"]
    assert "at node-timeout" in inconsistent["msg"]
    assert get("/config") == current


def test_qluster_config_needs_the_token(node, ansible):
    current = get("/config")
    refused = ansible("qluster_config", {"settings": {"node-timeout": "4s"}}, token=None)
    assert refused["failed"] is True
    assert f"POST http://{IP}:{API_PORT}/config returned HTTP 401" in refused["msg"]
    assert get("/config") == current


# --------------------------------------------------------------------------------------------
def test_qluster_member_existing_member_is_unchanged(node, ansible):
    result = ansible("qluster_member", {"id": NODE_ID, "name": get_name(), "address": IP, "wait_timeout": 30},
                     diff=True)
    assert result["changed"] is False and not result.get("failed"), result
    assert result["member"]["id"] == NODE_ID and result["member"]["role"] == "leader"
    assert result["diff"]["before"] == result["diff"]["after"]


def get_name():
    return next(m["name"] for m in get("/map")["members"] if m["id"] == NODE_ID)


def test_qluster_member_refuses_to_remove_the_last_voter(node, ansible):
    for check in (True, False):
        refused = ansible("qluster_member", {"address": IP, "state": "absent", "switchover": True}, check=check)
        assert refused["failed"] is True
        assert "is the last voter of the cluster" in refused["msg"]
        assert NODE_ID in map_ids() and get("/map")["leader"] == NODE_ID


def test_qluster_member_add_and_remove(node, ansible):
    ghost = {"name": "ghost", "address": GHOST_IP, "db_port": 56592, "wait": False}
    checked = ansible("qluster_member", ghost, check=True, diff=True)
    assert checked["changed"] is True and not checked.get("failed"), checked
    assert checked["diff"]["before"] == {} and checked["diff"]["after"]["id"] == GHOST_ID
    assert GHOST_ID not in map_ids()

    added = ansible("qluster_member", ghost, diff=True)
    assert added["changed"] is True and not added.get("failed"), added
    assert added["actions"][0].startswith("POST /members")
    row = next(m for m in get("/map")["members"] if m["id"] == GHOST_ID)
    assert (row["name"], row["address"], row["db_port"]) == ("ghost", GHOST_IP, 56592)

    assert ansible("qluster_member", ghost)["changed"] is False

    # Its agent never runs, so waiting for it to stream must end in a clear failure.
    waited = ansible("qluster_member", dict(ghost, wait=True, wait_timeout=3, poll_interval=0.5))
    assert waited["failed"] is True
    assert f"node {GHOST_ID} did not become ready within 3 s" in waited["msg"]

    gone = {"address": GHOST_IP, "state": "absent"}
    checked = ansible("qluster_member", gone, check=True, diff=True)
    assert checked["changed"] is True and checked["diff"]["after"] == {}
    assert GHOST_ID in map_ids()
    removed = ansible("qluster_member", gone)
    assert removed["changed"] is True and not removed.get("failed"), removed
    assert removed["actions"] == [f"DELETE /members/{GHOST_ID}"]
    assert GHOST_ID not in map_ids()
    assert ansible("qluster_member", gone)["changed"] is False


def test_qluster_member_conflicting_identifiers(node, ansible):
    result = ansible("qluster_member", {"name": get_name(), "address": "127.0.0.11", "wait": False})
    assert result["failed"] is True and "its address is '127.0.0.9', not '127.0.0.11'" in result["msg"]
    assert map_ids() == {NODE_ID}


# --------------------------------------------------------------------------------------------
def test_qluster_info(node, ansible):
    for check in (True, False):
        result = ansible("qluster_info", {"member": IP}, check=check)
        assert result["changed"] is False and not result.get("failed"), result
        assert result["map"]["leader"] == NODE_ID and result["map"]["members"]
        assert result["leader"]["id"] == NODE_ID and result["leader"]["address"] == IP and result["leader"]["ready"] is True
        assert result["member"]["id"] == NODE_ID and result["member"]["ready"] is True
        assert result["timeline"] >= 1 and result["max_lag_bytes"] == 0 and result["switchover_candidates"] == []
        assert (result["member_count"], result["voter_count"], result["healthy_count"], result["ready_count"]) == (1, 1, 1, 1)
        # The one node answered, and it takes writes (its GET /leader answers 200).
        assert result["answered_by"]["id"] == NODE_ID and result["writable"] is True
    # The node's plain loopback listener answers the same (the default api_url on a node).
    loopback = ansible("qluster_info", {"api_url": f"http://127.0.0.1:{API_PORT}"})
    assert loopback["leader"]["id"] == NODE_ID and loopback["member"] == {}


def test_qluster_info_says_who_is_not_ready(node, ansible):
    ghost = {"name": "ghost", "address": GHOST_IP, "db_port": 56592, "wait": False}
    assert ansible("qluster_member", ghost)["changed"] is True
    try:
        result = ansible("qluster_info", {"member": "ghost"})
        assert not result.get("failed"), result
        assert result["member"]["id"] == GHOST_ID and result["member"]["ready"] is False
        assert result["member"]["ready_reason"].startswith("role joining"), result["member"]
        assert (result["member_count"], result["ready_count"]) == (2, 1) and result["leader"]["ready"] is True
    finally:
        ansible("qluster_member", {"address": GHOST_IP, "state": "absent"})
    assert GHOST_ID not in map_ids()


def test_qluster_info_fails_when_no_agent_answers(node, ansible):
    result = ansible("qluster_info", {"api_url": "http://127.0.0.1:1", "api_retries": 0})
    assert result["failed"] is True and "GET http://127.0.0.1:1/map failed: cannot reach the agent" in result["msg"]
    assert "map" not in result and "leader" not in result


# --------------------------------------------------------------------------------------------
DB = {"login_host": IP, "login_port": PG_PORT, "login_user": "postgres"}


def test_qhb_replication_facts_both_sources(node, ansible):
    for check in (True, False):
        result = ansible("qhb_replication_facts", DB, check=check)
        assert result["changed"] is False and not result.get("failed"), result
        facts = result["ansible_facts"]["qhb_replication"]
        assert facts["sources"] == ["db", "api"]
        assert facts["role"] == "primary" and facts["in_recovery"] is False
        assert facts["timeline"] >= 1 and "/" in facts["current_lsn"]
        assert facts["lag_bytes"] == 0 and facts["replication"] == []
        assert isinstance(facts["slots"], list)
        assert "archived_count" in facts["archiver"] and facts["archiver"]["failing"] is False
        assert facts["map"]["leader"] == NODE_ID
        assert facts["agent_member"]["id"] == NODE_ID  # found by the address of api_url
        assert facts["health"]["ok"] is True


@pytest.fixture(scope="module")
def python_without_psycopg2(tmp_path_factory):
    """An interpreter that cannot import psycopg2, whatever the machine has installed (Debian's
    python3-psycopg2 makes /usr/bin/python3 import it): a package of that name that refuses to
    load, ahead of site-packages on PYTHONPATH."""
    root = tmp_path_factory.mktemp("no-psycopg2")
    (root / "hide" / "psycopg2").mkdir(parents=True)
    (root / "hide" / "psycopg2" / "__init__.py").write_text('raise ImportError("No module named psycopg2 (hidden by the test)")\n')
    python = root / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={root / "hide"} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return str(python)


def test_qhb_replication_facts_api_only_without_psycopg2(node, ansible, python_without_psycopg2):
    # Without psycopg2 the API alone must still work.
    result = ansible("qhb_replication_facts", {"sources": ["api"]}, python=python_without_psycopg2)
    assert not result.get("failed"), result
    facts = result["ansible_facts"]["qhb_replication"]
    assert facts["sources"] == ["api"] and facts["role"] == "primary"
    assert facts["timeline"] >= 1 and facts["current_lsn"] == facts["agent_member"]["wal_position"]

    missing = ansible("qhb_replication_facts", DB, python=python_without_psycopg2)
    assert missing.get("failed") is True, missing
    assert "psycopg2" in missing["msg"] and "sources: [api]" in missing["msg"]


def test_qhb_replication_facts_on_the_loopback_listener_finds_its_own_row(node, ansible):
    # On a node the default api_url is http://127.0.0.1:<port>, the agent's plain listener (its
    # address speaks HTTPS only with TLS), which is no member's address: the row is still this
    # node's, the one of the agent that answered.
    for args in ({"sources": ["api"]}, DB):
        result = ansible("qhb_replication_facts", dict(args, api_url=f"http://127.0.0.1:{API_PORT}"))
        assert not result.get("failed"), result
        facts = result["ansible_facts"]["qhb_replication"]
        assert facts["agent_member"]["id"] == NODE_ID and facts["agent_member"]["address"] == IP
        assert facts["health"]["state"]["node_id"] == NODE_ID
        assert facts["role"] == "primary" and facts["lag_bytes"] == 0


def test_qhb_replication_facts_db_only(node, ansible):
    result = ansible("qhb_replication_facts", dict(DB, sources=["db"], api_url="http://127.0.0.1:1"))
    assert not result.get("failed"), result
    facts = result["ansible_facts"]["qhb_replication"]
    assert facts["sources"] == ["db"] and facts["role"] == "primary" and facts["map"] == {}
    bad = ansible("qhb_replication_facts", dict(DB, sources=["db"], login_port=1))
    assert bad["failed"] is True and f"cannot connect to the database at {IP}:1" in bad["msg"]
