"""qlusterctl switchover and list --watch against a scripted client: the plan, the question,
the wait for the outcome, the exit statuses."""

from __future__ import annotations

import pytest

from qluster_agent.cli.client import ApiClientError
from qluster_agent.cli.ctl import watch
from qluster_agent.cli.switchover import Exit, World, run
from qluster_agent.cli.view import table

from ..api.test_metrics import member


def cluster_map(leader: int, term: int = 7, new_primary: bool = True) -> dict:
    def row(node_id: int, name: str) -> dict:
        leads = node_id == leader
        db_role = "primary" if leads and (new_primary or node_id == 1) else "replica"
        return member(node_id, name, "leader" if leads else "follower", db_role, streaming=not leads,
                      lag_bytes=0 if leads else 512)
    return {"cluster_id": "qc", "term": term, "leader": leader, "leader_name": None,
            "members": [row(1, "pg-1"), row(2, "pg-2"), row(3, "pg-3")]}


class FakeClient:
    """Answers GET /map from a script (one map per call, the last one repeated; an exception
    in it is raised), and records POSTs."""

    def __init__(self, maps: list, refuse: str | None = None) -> None:
        self.maps = list(maps)
        self.posts: list[tuple[str, dict]] = []
        self.refuse = refuse

    def get(self, path: str):
        assert path == "/map"
        answer = self.maps.pop(0) if len(self.maps) > 1 else self.maps[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def post(self, path: str, body: dict):
        self.posts.append((path, body))
        if self.refuse:
            raise ApiClientError(self.refuse)
        return {"message": f"switchover to node {body['leader']} started", "leader": body["leader"]}


class Script:
    def __init__(self, client: FakeClient, answers: list | None = None) -> None:
        self.now = 100.0
        self.out: list[str] = []
        self.err: list[str] = []
        self.questions: list[str] = []
        self.answers = list(answers or [])
        self.world = World(client=client, clock=lambda: self.now, sleep=self.sleep, ask=self.ask,
                           out=self.out.append, err=self.err.append)

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def ask(self, question: str) -> str:
        self.questions.append(question)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_the_plan_is_shown_and_confirmed_then_the_command_waits_for_the_new_leader() -> None:
    client = FakeClient([cluster_map(1), cluster_map(1), cluster_map(0), cluster_map(2, 8, new_primary=False),
                         cluster_map(2, 8)])
    script = Script(client, ["y"])
    assert run(script.world, "pg-2", force=False, timeout=30) is Exit.OK
    assert script.out[0] == "switchover: pg-1 (node 1) -> pg-2 (node 2) (replica, streaming, lag 512 B)"
    assert script.questions == ["Go ahead? [y/N] "]
    assert client.posts == [("/switchover", {"leader": 2})]
    assert script.out[1] == "switchover to node 2 started"
    # Done only once pg-2 leads with its database primary: three polls, 0.5 s apart.
    assert script.out[2] == "switchover done: pg-2 (node 2) leads (term 8), after 1.5 s\n"
    assert script.out[3] == table(cluster_map(2, 8))
    assert script.err == []


@pytest.mark.parametrize("answer", ["", "n", "no", EOFError()])
def test_anything_but_yes_does_nothing(answer) -> None:
    client = FakeClient([cluster_map(1)])
    script = Script(client, [answer])
    assert run(script.world, "2", force=False, timeout=30) is Exit.NOT_CONFIRMED
    assert client.posts == []
    assert "--force" in script.err[0] if isinstance(answer, EOFError) else "not confirmed" in script.err[0]


def test_force_does_not_ask() -> None:
    client = FakeClient([cluster_map(1), cluster_map(3)])
    script = Script(client)
    assert run(script.world, "10.0.0.3", force=True, timeout=30) is Exit.OK
    assert script.questions == [] and client.posts == [("/switchover", {"leader": 3})]


def test_a_target_that_already_leads_is_nothing_to_do() -> None:
    client = FakeClient([cluster_map(2)])
    script = Script(client)
    assert run(script.world, "pg-2", force=True, timeout=30) is Exit.OK
    assert script.out == ["pg-2 (node 2) already leads; nothing to do"] and client.posts == []


def test_an_unknown_member_is_refused_before_anything_is_sent() -> None:
    client = FakeClient([cluster_map(1)])
    script = Script(client)
    assert run(script.world, "pg-9", force=True, timeout=30) is Exit.FAILED
    assert script.err == ["qlusterctl: 'pg-9' is not a member of cluster qc"] and client.posts == []


def test_a_refusal_of_the_agent_is_raised_for_main_to_print() -> None:
    client = FakeClient([cluster_map(1)], refuse="HTTP 409: node 2 is not a streaming replica; switchover refused")
    with pytest.raises(ApiClientError, match="409"):
        run(Script(client).world, "pg-2", force=True, timeout=30)


def test_no_new_leader_within_the_timeout_is_exit_4_with_the_map_as_it_is() -> None:
    unreachable = ApiClientError("cannot reach the agent at http://127.0.0.1:8080: timed out")
    client = FakeClient([cluster_map(1), unreachable, cluster_map(1)])
    script = Script(client)
    assert run(script.world, "pg-2", force=True, timeout=5) is Exit.TIMED_OUT
    assert script.err == ["qlusterctl: switchover to pg-2 (node 2) not done after 5 s: the leader is pg-1 (node 1)"]
    assert script.out[-1] == table(cluster_map(1))
    assert script.now - 100.0 == pytest.approx(5.0)


def test_an_agent_busy_with_the_hand_over_is_asked_again() -> None:
    busy = ApiClientError("cannot reach the agent at http://127.0.0.1:8080: connection refused")
    client = FakeClient([cluster_map(1), busy, busy, cluster_map(2)])
    script = Script(client)
    assert run(script.world, "pg-2", force=True, timeout=30) is Exit.OK


def test_watch_prints_the_table_again_until_interrupted() -> None:
    shown = iter(["table 1", ApiClientError("cannot reach the agent"), "table 3"])
    printed: list[str] = []
    slept: list[float] = []

    def show() -> str:
        item = next(shown)
        if isinstance(item, Exception):
            raise item
        return item

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            raise KeyboardInterrupt

    assert watch(show, 2.5, sleep, printed.append, clear=False, now=lambda: "12:00:00") == 0
    assert printed == ["12:00:00   every 2.5 s, Ctrl-C to stop\n\ntable 1",
                       "12:00:00   every 2.5 s, Ctrl-C to stop\n\nqlusterctl: cannot reach the agent",
                       "12:00:00   every 2.5 s, Ctrl-C to stop\n\ntable 3"]
    assert slept == [2.5, 2.5, 2.5]


def test_watch_clears_a_terminal_and_stops_after_iterations() -> None:
    printed: list[str] = []
    watch(lambda: "t", 1, lambda seconds: None, printed.append, clear=True, now=lambda: "now", iterations=2)
    assert len(printed) == 2 and printed[0].startswith("\033[H\033[2J")


def test_the_leader_row_shows_no_streaming_and_no_lag_and_an_observer_no_database() -> None:
    cmap = cluster_map(1)
    cmap["members"].append(member(9, "pooler", "observer", "none", voter=False, db_port=None, timeline=None,
                                  wal_position=None, lag_bytes=None))
    lines = table(cmap).splitlines()
    assert lines[0] == "cluster qc   leader pg-1 (node 1)   term 7"
    assert lines[3].split()[6:] == ["3", "leader", "0/5000060", "-"]
    assert lines[4].split()[6:] == ["3", "yes", "0/5000060", "512", "B"]
    assert lines[6].split()[3:] == ["observer", "healthy", "none", "-", "-", "-", "-"]
