"""qlusterctl restart and reload against a scripted client: a replica restarted in place, the
leader switched over first (or, forced, restarted in place), the wait for the member to be
healthy again, and the exit statuses."""

from __future__ import annotations

from qluster_agent.cli.restart import reload, restart, switchover_target
from qluster_agent.cli.switchover import Exit

from ..api.test_metrics import member
from .test_switchover import Script


def cluster_map(leader: int, restarting: int | None = None, lags: tuple[int, int] = (512, 256)) -> dict:
    def row(node_id: int, lag: int) -> dict:
        leads = node_id == leader
        state = "restart" if node_id == restarting else "healthy"
        return member(node_id, f"pg-{node_id}", "leader" if leads else "follower", "primary" if leads else "replica",
                      streaming=not leads, lag_bytes=0 if leads else lag, state=state)
    return {"cluster_id": "qc", "term": 7, "leader": leader, "leader_name": None,
            "members": [row(1, 0), row(2, lags[0]), row(3, lags[1])]}


class Client:
    """GET /map from a script (the last map repeated); POSTs recorded and answered by kind."""

    def __init__(self, maps: list, done: bool = True) -> None:
        self.maps = list(maps)
        self.posts: list[tuple[str, dict]] = []
        self.done = done

    def get(self, path: str):
        assert path == "/map"
        return self.maps.pop(0) if len(self.maps) > 1 else self.maps[0]

    def post(self, path: str, body: dict):
        self.posts.append((path, body))
        if path == "/switchover":
            return {"message": f"switchover to node {body['leader']} started", "leader": body["leader"]}
        return {"message": f"node {body['member']}: {path[1:]} answered", "member": body["member"], "done": self.done}


def test_a_replica_is_restarted_in_place_and_the_command_waits_until_it_is_healthy() -> None:
    client = Client([cluster_map(1), cluster_map(1, restarting=2), cluster_map(1)], done=False)
    script = Script(client)
    assert restart(script.world, "pg-2", force=False, timeout=30) is Exit.OK
    assert client.posts == [("/restart", {"member": 2, "force": False})]
    assert script.out[1] == "restart done: pg-2 (node 2) is healthy again, after 0.5 s\n"


def test_the_leader_is_switched_over_first_to_the_replica_with_the_least_lag() -> None:
    client = Client([cluster_map(1), cluster_map(1), cluster_map(3), cluster_map(3)])
    script = Script(client)
    assert restart(script.world, "pg-1", force=False, timeout=30) is Exit.OK
    assert [path for path, _body in client.posts] == ["/switchover", "/restart"]
    assert client.posts[0][1] == {"leader": 3}
    assert script.out[0] == "restart: pg-1 (node 1) leads; switching over to pg-3 (node 3) first"
    assert script.questions == []  # asking for the restart was the confirmation


def test_a_forced_restart_of_the_leader_stays_in_place() -> None:
    client = Client([cluster_map(1)])
    script = Script(client)
    assert restart(script.world, "1", force=True, timeout=30) is Exit.OK
    assert client.posts == [("/restart", {"member": 1, "force": True})]


def test_a_leader_without_a_streaming_replica_is_not_restarted_unforced() -> None:
    lonely = cluster_map(1)
    for row in lonely["members"][1:]:
        row["streaming"] = False
    client = Client([lonely])
    script = Script(client)
    assert restart(script.world, "pg-1", force=False, timeout=30) is Exit.FAILED
    assert client.posts == [] and "add --force" in script.err[0]
    assert switchover_target(lonely, 1) is None
    assert switchover_target(cluster_map(1, lags=(10, 10)), 1).id == 2  # equal lag: the lowest id


def test_a_member_not_healthy_within_the_timeout_is_reported() -> None:
    client = Client([cluster_map(1), cluster_map(1, restarting=2)], done=False)
    script = Script(client)
    assert restart(script.world, "pg-2", force=False, timeout=5) is Exit.TIMED_OUT
    assert "is not healthy 5 s after its restart" in script.err[0]


def test_reload_and_an_unknown_member() -> None:
    client = Client([cluster_map(1)])
    script = Script(client)
    assert reload(script.world, "pg-3") is Exit.OK
    assert client.posts == [("/reload", {"member": 3})]
    assert restart(script.world, "pg-9", force=False, timeout=5) is Exit.FAILED
    assert reload(script.world, "pg-9") is Exit.FAILED
