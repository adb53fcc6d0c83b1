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


class Api:
    def __init__(self, answer):
        self.answer = answer
        self.asked = []

    def get(self, path, accept=(200,)):
        self.asked.append(path)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

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
    assert api.asked == ["/map"]
    assert result["changed"] is False and result["map"] == CLUSTER
    assert (result["leader"]["name"], result["leader"]["ready"], result["timeline"], result["term"]) == ("q1", True, 2, 5)
    assert {m["name"]: m["ready"] for m in result["members"]} == {"q1": True, "q2": True, "q3": False, "q9": True}
    assert result["member"]["name"] == "q3" and "state basebackup" in result["member"]["ready_reason"]
    assert [m["name"] for m in result["switchover_candidates"]] == ["q2"]
    assert (result["member_count"], result["voter_count"], result["healthy_count"], result["ready_count"]) == (4, 3, 3, 3)
    # q3 clones: the agent measures it against the leader all the same (here 0); the largest is q2's.
    assert result["max_lag_bytes"] == 64


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
