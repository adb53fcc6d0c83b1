"""AgentBackend.metrics(): this node's rows for GET /metrics (api/metrics.py adds the members')."""

from __future__ import annotations

from types import SimpleNamespace

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.pg.status import ArchiverStats, DataDirState, PgStatus, ReplicationRow

MEMBERS = {1: SimpleNamespace(name="pg-1", address="10.0.0.1"), 2: SimpleNamespace(name="pg-2", address="10.0.0.2"),
           3: SimpleNamespace(name="pg-3", address="10.0.0.3")}


def agent(is_leader: bool, replication=(), current_lsn: int = 500):
    pg = PgStatus(DataDirState.VALID, running=True, accepting=True, in_recovery=not is_leader, timeline=2,
                  current_lsn=current_lsn if is_leader else None, replication=tuple(replication),
                  archiver=ArchiverStats(10, 1, None, None, None, None))
    raft = SimpleNamespace(term=5, is_leader=is_leader, voters=frozenset({1, 2, 3}), observers=frozenset(), commit=40)
    snap = SimpleNamespace(raft=raft, pg=pg, state=SimpleNamespace(members=MEMBERS))
    runtime = SimpleNamespace(counters={"leader_changes": 2, "stepped_down": 1}, late_max=0.01, late_counts={0.1: 3})
    transport = SimpleNamespace(stats=lambda: {"sent_bytes": 9000, "received_bytes": 8000, "sent_datagrams": 30,
                                               "dropped_bad_magic": 4})
    return SimpleNamespace(snapshot=lambda: snap, runtime=runtime, transport=transport)


def rows_by_name(backend: AgentBackend) -> dict[str, list[tuple[dict, float]]]:
    found: dict[str, list[tuple[dict, float]]] = {}
    for name, _kind, _help, labels, value in backend.metrics():
        found.setdefault(name, []).append((labels, value))
    return found


def test_bytes_and_event_counts_are_separate_metrics() -> None:
    rows = rows_by_name(AgentBackend(agent(is_leader=False)))
    assert sorted(rows["qluster_transport_bytes_total"], key=str) == [({"direction": "received"}, 8000),
                                                                      ({"direction": "sent"}, 9000)]
    assert sorted(rows["qluster_transport_events_total"], key=str) == [({"kind": "dropped_bad_magic"}, 4),
                                                                       ({"kind": "sent_datagrams"}, 30)]


def test_the_leader_reports_each_replicas_replay_lag_in_seconds() -> None:
    replication = [ReplicationRow("qluster_2", "10.0.0.2", "streaming", "quorum", 400, 400, 400, 300, replay_lag_s=1.5),
                   # caught up on an idle primary: PostgreSQL has no measure, the position says 0
                   ReplicationRow("qluster_3", "10.0.0.3", "streaming", "quorum", 500, 500, 500, 500)]
    rows = rows_by_name(AgentBackend(agent(is_leader=True, replication=replication)))
    assert rows["qluster_member_lag_seconds"] == [({"member": "pg-2", "id": "2", "address": "10.0.0.2"}, 1.5),
                                                  ({"member": "pg-3", "id": "3", "address": "10.0.0.3"}, 0.0)]
    assert "qluster_member_lag_seconds" not in rows_by_name(AgentBackend(agent(is_leader=False)))


def test_a_replica_behind_without_a_measure_has_no_lag_seconds_rather_than_zero() -> None:
    replication = [ReplicationRow("qluster_2", "10.0.0.2", "catchup", "async", 400, 400, 400, 300)]
    assert "qluster_member_lag_seconds" not in rows_by_name(AgentBackend(agent(is_leader=True, replication=replication)))
