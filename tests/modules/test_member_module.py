"""qluster_member's orchestration (switchover, then removal; check mode) over a scripted API.

The fake API stands in for the agent only to drive this one layer; the requests it records are
what the module would send. The real agent is exercised in test_real_agent.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.qhb.qluster.plugins.module_utils.qluster_api import QlusterApiError
from ansible_collections.qhb.qluster.plugins.modules.qluster_member import MemberModule
from scripted import Api, Clock, member


class Failed(Exception):
    pass


class Module:
    def __init__(self, check_mode=False, **params):
        self.params = {"state": "present", "id": None, "name": None, "address": None, "api_port": 8080,
                       "db_port": 5432, "observer": False, "wait": True, "wait_timeout": 10,
                       "poll_interval": 1.0, "switchover": False, "switchover_to": None, **params}
        self.check_mode = check_mode
        self._diff = True

    def fail_json(self, **result):
        raise Failed(result)


def cluster(leader, ids=(1, 2, 3)):
    return {"leader": leader, "members": [member(i, role="leader", db_role="primary", streaming=False)
                                          if i == leader else member(i) for i in ids]}


def run(module, api, others=None):
    """``others``: address -> Api of the other members' agents."""
    clock = Clock()

    def api_for(row):
        return (others or {})[row["address"]]

    return MemberModule(module, api, clock=clock, sleep=clock.sleep, api_for=api_for).run()


def test_leader_removal_switches_over_first():
    api = Api([cluster(1), cluster(1), cluster(2)])

    def removed(api_):
        api_.maps = [cluster(2, ids=(2, 3))]

    api.on_delete = removed
    result = run(Module(state="absent", name="q1", switchover=True), api)
    assert api.sent == [("POST", "/switchover", {"leader": 2}), ("DELETE", "/members/1")]
    assert result["changed"] is True and result["member"] == {}
    assert result["diff"]["before"]["id"] == 1 and result["diff"]["after"] == {}
    assert result["switchover_to"]["name"] == "q2"


def test_the_old_leader_removed_through_its_own_agent_is_confirmed_on_the_new_leaders():
    # The removed node's agent never hears of its removal: its map keeps listing it.
    own = Api([cluster(1), cluster(1), cluster(2)])
    new_leader = Api([cluster(2, ids=(2, 3))])
    result = run(Module(state="absent", name="q1", switchover=True, switchover_to="q2"), own,
                 others={"10.0.0.2": new_leader})
    assert own.sent == [("POST", "/switchover", {"leader": 2}), ("DELETE", "/members/1")]
    assert result["changed"] is True and result["member"] == {} and new_leader.sent == []


def test_a_removal_neither_map_confirms_fails_after_the_wait():
    own = Api([cluster(1), cluster(1), cluster(2)])
    with pytest.raises(Failed) as caught:
        run(Module(state="absent", name="q1", switchover=True, switchover_to="q2", wait_timeout=5), own,
            others={"10.0.0.2": Api([cluster(2)])})
    assert "was removed but is still in the map after 5 s" in caught.value.args[0]["msg"]


def test_switchover_that_does_not_complete_removes_nothing():
    api = Api([cluster(1)])
    with pytest.raises(Failed) as caught:
        run(Module(state="absent", name="q1", switchover=True, wait_timeout=5), api)
    assert "did not complete within 5 s; nothing was removed" in caught.value.args[0]["msg"]
    assert api.sent == [("POST", "/switchover", {"leader": 2})]


def test_check_mode_sends_nothing():
    api = Api([cluster(1)])
    result = run(Module(check_mode=True, state="absent", name="q1", switchover=True, switchover_to="q3"), api)
    assert api.sent == []
    assert result["changed"] is True and result["switchover_to"]["name"] == "q3"
    assert result["actions"] == ['POST /switchover {"leader": 3}', "DELETE /members/1"]
    api = Api([cluster(1)])
    result = run(Module(check_mode=True, name="q4", address="10.0.0.4"), api)
    assert api.sent == [] and result["changed"] is True and result["diff"]["after"]["id"] == 167772164


def test_add_waits_until_the_member_streams():
    joining = dict(cluster(1), members=cluster(1)["members"] + [member(4, role="joining", state="unreachable",
                                                                       db_role="unknown", streaming=False)])
    streaming = cluster(1, ids=(1, 2, 3, 4))
    api = Api([cluster(1), joining, joining, streaming])
    result = run(Module(name="q4", address="10.0.0.4", id=4), api)
    assert api.sent == [("POST", "/members", {"id": 4, "name": "q4", "address": "10.0.0.4", "api_port": 8080,
                                              "db_port": 5432, "observer": False})]
    assert result["changed"] is True and result["member"]["streaming"] is True


def test_a_retried_delete_that_finds_the_member_gone_is_success():
    api = Api([cluster(1), cluster(1, ids=(1, 2))])

    def gone_already(api_):
        raise QlusterApiError("DELETE", "http://x/members/3", 404, "member '3' is not a member of this cluster")

    api.on_delete = gone_already
    result = run(Module(state="absent", name="q3"), api)
    assert result["changed"] is True
