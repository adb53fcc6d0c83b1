"""qluster_info over a scripted API: one GET /map, nothing sent, the same answer in check mode,
and every failure said as the module says it. The real agent is in test_real_agent.py."""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import PlanError
from ansible_collections.qhb.qluster.plugins.modules.qluster_info import InfoModule


class Module:
    def __init__(self, check_mode=False, **params):
        self.params = {"member": None, **params}
        self.check_mode = check_mode


def health(node_id, writable=False):
    return {"path": "/health", "ok": True, "state": {"node_id": node_id, "writable": writable, "pg_running": True}}


class Api:
    """GET /map answers ``answer``; GET /health ``health_answer`` (the node 3's, a replica, by default)."""

    def __init__(self, answer, health_answer=None):
        self.answer = answer
        self.health_answer = health(3) if health_answer is None else health_answer
        self.asked = []

    def get(self, path, accept=(200,)):
        self.asked.append((path, accept))
        answer = self.health_answer if path == "/health" else self.answer
        if isinstance(answer, Exception):
            raise answer
        return answer

    def url_for(self, path):
        return "http://127.0.0.1:8080" + path

    def post(self, path, body):
        raise AssertionError("qluster_info sent POST %s" % path)

    def delete(self, template, target):
        raise AssertionError("qluster_info sent DELETE")


def row(node_id, **fields):
    base = {"id": node_id, "name": f"q{node_id}", "address": f"10.0.0.{node_id}", "api_port": 8080, "role": "follower",
            "voter": True, "state": "healthy", "db_role": "replica", "streaming": True, "lag_bytes": 0, "timeline": 2}
    return dict(base, **fields)


CLUSTER = {"cluster_id": "c1", "term": 5, "leader": 1, "leader_name": "q1",
           "members": [row(1, role="leader", db_role="primary", streaming=False), row(2, lag_bytes=64),
                       row(3, state="basebackup", streaming=False),
                       row(9, role="observer", voter=False, db_role="unknown", streaming=False, lag_bytes=None)]}


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_read_reports_the_leader_and_who_is_ready(check_mode):
    api = Api(CLUSTER)
    result = InfoModule(Module(check_mode=check_mode, member="10.0.0.3"), api).run()
    assert api.asked == [("/map", (200,)), ("/health", (200, 503))]
    assert result["changed"] is False and result["map"] == CLUSTER
    assert (result["leader"]["name"], result["leader"]["ready"], result["timeline"], result["term"]) == ("q1", True, 2, 5)
    assert {m["name"]: m["ready"] for m in result["members"]} == {"q1": True, "q2": True, "q3": False, "q9": True}
    assert result["member"]["name"] == "q3" and "state basebackup" in result["member"]["ready_reason"]
    assert [m["name"] for m in result["switchover_candidates"]] == ["q2"]
    assert (result["member_count"], result["voter_count"], result["healthy_count"], result["ready_count"]) == (4, 3, 3, 3)
    # q3 clones: the agent measures it against the leader all the same (here 0); the largest is q2's.
    assert result["max_lag_bytes"] == 64
    assert result["answered_by"]["name"] == "q3" and result["writable"] is False


@pytest.mark.parametrize("answer, name, writable", [
    (health(1, writable=True), "q1", True),
    # The leader during a switchover: still the leader, no longer taking writes.
    (health(1, writable=False), "q1", False),
    # The pooler's observer answers 200 with its own id and never writes.
    ({"path": "/health", "ok": True, "state": {"node_id": 9, "observer": True, "writable": False}}, "q9", False),
    # An id the map does not list, or an answer without a state: nobody, not writable.
    (health(42, writable=True), None, True),
    ({}, None, False),
])
def test_who_answered_and_whether_its_node_takes_writes(answer, name, writable):
    result = InfoModule(Module(), Api(CLUSTER, answer)).run()
    assert result["answered_by"].get("name") == name and result["writable"] is writable


def test_a_map_without_a_leader_is_an_answer_not_a_failure():
    result = InfoModule(Module(), Api(dict(CLUSTER, leader=None, leader_name=None))).run()
    assert result["leader"] == {} and result["timeline"] is None and result["switchover_candidates"] == []


def test_failures_name_the_request():
    refused = QlusterApiError("GET", "http://127.0.0.1:8080/map", None, "cannot reach the agent: refused")
    with pytest.raises(QlusterApiError, match="GET http://127.0.0.1:8080/map failed: cannot reach the agent"):
        InfoModule(Module(), Api(refused)).run()
    with pytest.raises(QlusterApiError, match="the answer is not a map"):
        InfoModule(Module(), Api(["not", "a", "map"])).run()
    with pytest.raises(PlanError, match="names more than one member"):
        InfoModule(Module(member="q2"), Api(dict(CLUSTER, members=CLUSTER["members"] + [row(4, name="q2")]))).run()
