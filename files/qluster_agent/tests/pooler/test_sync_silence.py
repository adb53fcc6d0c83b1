"""How the sync reads a silent leader and the failover hold's bound from the map, and when it
takes the leader's sessions ending together for news (no HAProxy needed: the map and its log are fed)."""

from __future__ import annotations

import socket

import pytest

from qluster_agent.pooler.holder import Holder
from qluster_agent.pooler.session_log import SessionLog
from qluster_agent.pooler.settings import parse_settings
from qluster_agent.pooler.sync import DEFAULT_NODE_TIMEOUT, HOLD_QUIET, RECONNECT_QUIET, Syncer


def cluster_map(leader: int | None, leader_heard_ago: float = 0.05, node_timeout: float | None = 0.8) -> dict:
    rows = [{"id": node_id, "name": f"n{node_id}", "address": f"10.0.0.{node_id}", "db_port": 5432, "api_port": 8080,
             "role": "leader" if node_id == leader else "follower", "voter": True,
             "last_seen_s": leader_heard_ago if node_id == leader else 0.05} for node_id in (1, 2, 3)]
    found = {"cluster_id": "c", "term": 4, "leader": leader, "members": rows}
    if node_timeout is not None:
        found["node_timeout_s"] = node_timeout
    return found


def syncer_reading(maps: list[dict], tmp_path, **raw) -> Syncer:
    answers = iter(maps)
    settings = parse_settings({"state-file": str(tmp_path / "members.json"), **raw})
    return Syncer(settings, read_map=lambda url, timeout: next(answers), emit=lambda level, message: None)


@pytest.mark.parametrize("found,silent", [
    (cluster_map(1, 0.05), False),
    (cluster_map(1, 0.24), False),
    (cluster_map(1, 0.26), True),  # half a lease of 0.8 s is 0.25 s
    (cluster_map(1, 0.26, node_timeout=2.0), False),  # half a lease of 2 s is 0.625 s
    (cluster_map(1, 0.7, node_timeout=2.0), True),
    (cluster_map(None), False),  # no leader named since this process started: nothing is known
])
def test_the_leader_is_silent_once_unheard_for_half_a_lease(found, silent, tmp_path):
    syncer = syncer_reading([found], tmp_path)
    assert syncer.refresh_members(100.0)
    assert syncer.leader_silent is silent


def test_a_map_that_stops_naming_a_leader_is_a_silent_leader(tmp_path):
    syncer = syncer_reading([cluster_map(1), cluster_map(None), cluster_map(2)], tmp_path)
    syncer.refresh_members(100.0)
    assert not syncer.leader_silent
    syncer.refresh_members(100.1)
    assert syncer.leader_silent
    syncer.refresh_members(100.2)
    assert not syncer.leader_silent and syncer.leader_id == 2


def test_the_failover_bound_is_twice_the_node_timeout_the_map_gives_unless_set(tmp_path):
    syncer = syncer_reading([cluster_map(1, node_timeout=1.5), cluster_map(1, node_timeout=None)], tmp_path)
    assert syncer.failover_hold_timeout == pytest.approx(2 * DEFAULT_NODE_TIMEOUT)  # before any map
    syncer.refresh_members(100.0)
    assert syncer.failover_hold_timeout == pytest.approx(3.0)
    syncer.refresh_members(100.1)  # an older agent says nothing: the last value given stays
    assert syncer.failover_hold_timeout == pytest.approx(3.0)
    assert syncer_reading([], tmp_path, **{"failover-hold-timeout": "5s"}).failover_hold_timeout == 5.0
    assert syncer_reading([], tmp_path, **{"failover-hold": False}).failover_hold_timeout == 0.0


def test_the_leaders_sessions_ending_together_are_news_unless_pgbouncer_closes_them_for_a_hold(tmp_path):
    path = tmp_path / "sessions.sock"
    syncer = syncer_reading([cluster_map(1)], tmp_path, **{"haproxy-session-log": str(path)})
    syncer.session_log = SessionLog(str(path))
    syncer.holder = Holder(None, ("db_tx",), str(tmp_path / "hold.json"), 15.0, syncer.say, syncer.limited)
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def leader_sessions_end(now: float) -> bool:
        for port in (40001, 40002):
            sender.sendto(f"127.0.0.1:{port} [07/Dec/2026:07:55:19.781] fe_pg_rw pg_rw/n1 1/0/9 0 SD 3/3/2/2/0 0/0"
                          .encode(), str(path))
        return syncer._leader_reset(now)  # pylint: disable=protected-access

    syncer.refresh_members(100.0)
    assert leader_sessions_end(100.0)
    syncer.holder.resumed_at = 200.0  # a hold ended: PgBouncer may still be closing what it paused
    assert not leader_sessions_end(200.0 + HOLD_QUIET / 2)
    assert leader_sessions_end(200.0 + HOLD_QUIET * 1.1)
    syncer.holder.reconnected_at = 300.0  # the sync's start reconnected databases that were not paused
    assert not leader_sessions_end(300.0 + RECONNECT_QUIET / 2)
    assert leader_sessions_end(300.0 + RECONNECT_QUIET * 1.1)
    sender.close()
    syncer.session_log.close()
