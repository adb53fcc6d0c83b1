"""qluster_switchover over a scripted API, and the one switchover it shares with qluster_member:
the target plan_switchover chooses, nothing sent in check mode or when the target leads, the
wait until the target leads with its primary (a map that cannot be read is one more attempt),
and the refusals before anything is sent."""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_members import PlanError, plan_switchover
from ansible_collections.qhb.qluster.plugins.module_utils.qluster_switchover import hand_over, leads
from ansible_collections.qhb.qluster.plugins.modules.qluster_switchover import SwitchoverModule
from scripted import Api, Clock, member


class Failed(Exception):
    pass


class Module:
    def __init__(self, check_mode=False, diff=True, **params):
        self.params = {"target": None, "wait": True, "wait_timeout": 10, "poll_interval": 1.0, **params}
        self.check_mode = check_mode
        self._diff = diff

    def fail_json(self, **result):
        raise Failed(result)


def cluster(leader, **fields_of):
    rows = []
    for i in (1, 2, 3):
        row = member(i, role="leader", db_role="primary", streaming=False) if i == leader else member(i)
        row.update(fields_of.get(f"n{i}", {}))
        rows.append(row)
    return {"leader": leader, "leader_name": f"q{leader}" if leader else None, "members": rows}


def run(module, api):
    clock = Clock()
    return SwitchoverModule(module, api, clock=clock, sleep=clock.sleep).run()


ELECTION = QlusterApiError("GET", "http://127.0.0.1:8080/map", 503, "no leader yet")


def test_plan_names_a_target_or_takes_the_least_lag():
    cmap = cluster(1, n2={"lag_bytes": 64})
    assert plan_switchover(cmap)["id"] == 3
    assert plan_switchover(cmap, "q2")["id"] == 2
    assert plan_switchover(cmap, "10.0.0.2")["id"] == 2 and plan_switchover(cmap, "2")["id"] == 2
    assert plan_switchover(cmap, "q1") is None  # already leads


@pytest.mark.parametrize("cmap, to, said", [
    (cluster(None), None, "the cluster has no leader"),
    (cluster(1, n2={"streaming": False, "state": "degraded"}, n3={"state": "basebackup"}), None,
     "no other voter is a healthy streaming replica"),
    (cluster(1, n2={"streaming": False, "state": "degraded"}), "q2", "'q2' is not a healthy streaming voter"),
    (cluster(1), "q9", "'q9' is not a healthy streaming voter (candidates: node 2 (q2, 10.0.0.2), node 3"),
])
def test_plan_refuses_what_the_agent_would(cmap, to, said):
    with pytest.raises(PlanError, match=said.replace("(", r"\(").replace(")", r"\)")):
        plan_switchover(cmap, to)


def test_hands_over_and_waits_until_the_target_leads_with_its_primary():
    api = Api([cluster(1), ELECTION, cluster(None), cluster(2, n2={"db_role": "replica"}), cluster(2)])
    result = run(Module(target="q2"), api)
    assert api.sent == [("POST", "/switchover", {"leader": 2})]
    assert result["changed"] is True and result["actions"] == ['POST /switchover {"leader": 2}']
    assert (result["previous_leader"]["name"], result["leader"]["name"], result["leader"]["ready"]) == ("q1", "q2", True)
    assert result["diff"] == {"before": {"leader": "q1", "id": 1}, "after": {"leader": "q2", "id": 2}}


def test_a_target_that_leads_changes_nothing():
    api = Api([cluster(2)])
    result = run(Module(target="q2"), api)
    assert api.sent == [] and result["changed"] is False and result["leader"]["name"] == "q2"
    assert result["diff"]["before"] == result["diff"]["after"]


def test_check_mode_sends_nothing_and_predicts_the_target():
    api = Api([cluster(1)])
    result = run(Module(check_mode=True), api)
    assert api.sent == [] and result["changed"] is True and result["leader"]["name"] == "q2"
    assert result["actions"] == ['POST /switchover {"leader": 2}']


def test_without_wait_only_the_request():
    api = Api([cluster(1)])
    result = run(Module(target="q3", wait=False), api)
    assert api.sent == [("POST", "/switchover", {"leader": 3})] and result["leader"]["name"] == "q3"


def test_a_target_that_does_not_lead_in_time_fails_saying_why():
    api = Api([cluster(1), cluster(1)])
    with pytest.raises(Failed) as caught:
        run(Module(target="q2", wait_timeout=5), api)
    failed = caught.value.args[0]
    assert "node 2 (q2, 10.0.0.2) did not lead with its database the primary within 5 s" in failed["msg"]
    assert "the map names q1 as the leader" in failed["msg"] and failed["changed"] is True


def test_a_refused_request_is_the_agents_answer():
    class Refusing(Api):
        def post(self, path, body):
            raise QlusterApiError("POST", "http://127.0.0.1:8080/switchover", 409, "not a streaming replica")

    with pytest.raises(QlusterApiError, match="409"):
        run(Module(target="q2"), Refusing([cluster(1)]))


def test_leads_needs_the_primary():
    assert leads(cluster(2), 2) == (True, "leader, database primary, state healthy")
    assert leads(cluster(2, n2={"db_role": "replica"}), 2)[0] is False
    assert leads(cluster(1), 2) == (False, "the map names q1 as the leader")


def test_hand_over_times_out_on_unreadable_maps_with_the_last_error():
    clock = Clock()
    done, last, why = hand_over(Api([ELECTION]), member(2), 3, 1.0, clock, clock.sleep)
    assert (done, last) == (False, None) and "no leader yet" in why
