"""When the HA loop runs a full cycle and how long it waits meanwhile (agent/wake.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.views import AgentSnapshot
from qluster_agent.agent.wake import (HA_INTERVAL, QUICK_AFTER_STREAMING, QUICK_INTERVAL, Wake,
                                      changed_at_a_glance)
from qluster_agent.cluster.state import ClusterState
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.pg.operation import LongOperation
from qluster_agent.pg.status import DataDirState, DbRole, PgStatus
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import Role
from qluster_agent.transport.discovery import PeerInfo

GLANCE = 0.27
STREAMING = PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True, timeline=1,
                     streaming=True)
NOT_STREAMING = PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True, timeline=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def status(leader: bool, term: int = 3) -> RuntimeStatus:
    return RuntimeStatus(1, Role.LEADER if leader else Role.FOLLOWER, 1 if leader else 2, term,
                         frozenset({1, 2, 3}), frozenset(), 10, 10)


def never() -> bool:
    raise AssertionError("the glance is asked only when nothing else calls for a cycle")


def test_the_first_cycle_runs_at_once_then_one_per_interval():
    clock = Clock()
    wake = Wake(clock)
    assert wake.cycle_now(False, never)
    assert not wake.cycle_now(False, lambda: False)
    clock.now += HA_INTERVAL
    assert wake.cycle_now(False, never)


def test_a_change_seen_at_a_glance_runs_a_cycle():
    wake = Wake(Clock())
    wake.cycle_now(False, never)
    assert wake.cycle_now(False, lambda: True)


def test_a_new_consensus_status_makes_the_next_cycle_due():
    clock = Clock()
    wake = Wake(clock)
    wake.cycle_now(False, never)
    wake.woke(None)  # timed out: nothing new
    assert not wake.cycle_now(False, lambda: False)
    wake.woke(status(leader=False))
    assert wake.last_status == status(leader=False)
    assert wake.cycle_now(False, never)


# (last status a leader?, long operation running, switching, seconds until due) -> timeout
@pytest.mark.parametrize("leads, running, switching, due_in, timeout", [
    (False, False, False, HA_INTERVAL, GLANCE),  # a follower glances
    (True, False, False, HA_INTERVAL, HA_INTERVAL),  # an idle leader does not
    (True, True, False, HA_INTERVAL, GLANCE),  # a leader's bootstrap ending matters to the others
    (None, False, False, HA_INTERVAL, GLANCE),  # no status yet
    (False, False, False, 0.1, 0.1),  # the next full cycle is due sooner than a glance
    (False, False, True, HA_INTERVAL, QUICK_INTERVAL),  # a switchover under way
    (True, False, True, HA_INTERVAL, QUICK_INTERVAL),
])
def test_timeout(leads, running, switching, due_in, timeout):
    clock = Clock()
    wake = Wake(clock)
    wake.cycle_now(False, never)  # due HA_INTERVAL from now
    clock.now += HA_INTERVAL - due_in
    if leads is not None:
        wake.last_status = status(leads)
    assert wake.timeout(switching, running, GLANCE) == pytest.approx(timeout)


def test_a_past_due_cycle_waits_no_time():
    clock = Clock()
    wake = Wake(clock)
    wake.cycle_now(False, never)
    clock.now += 5 * HA_INTERVAL
    assert wake.timeout(False, False, GLANCE) == 0.0


HANDING_OVER = Beacon("n1", "10.0.0.1", 8080, 5432, False, switchover_to=2)
LEADING = Beacon("n1", "10.0.0.1", 8080, 5432, False)


# (pg before, pg now, the leader's beacon) -> quick for QUICK_AFTER_STREAMING
@pytest.mark.parametrize("before, now, leader, quick", [
    (STREAMING, NOT_STREAMING, None, True),  # a replica stopped streaming: a failover may be near
    (STREAMING, STREAMING, None, False),
    (NOT_STREAMING, NOT_STREAMING, None, False),
    (None, NOT_STREAMING, None, False),  # the first cycle
    (STREAMING, None, None, False),  # an unreadable database is no stop of streaming
    (STREAMING, STREAMING, HANDING_OVER, True),  # the leader hands over: on the write gap
    (STREAMING, STREAMING, LEADING, False),
])
def test_what_keeps_the_loop_quick(before, now, leader, quick):
    clock = Clock()
    wake = Wake(clock)
    wake.saw(before, now, leader, clock.now)
    assert wake.quick(False) is quick
    clock.now += QUICK_AFTER_STREAMING
    assert wake.quick(False) is False
    assert wake.quick(True) is True  # a switchover this node leads is quick throughout


def test_quick_runs_a_cycle_every_time():
    clock = Clock()
    wake = Wake(clock)
    wake.cycle_now(False, never)
    assert wake.cycle_now(True, never)


def hello(role: DbRole, operation: str | None = None) -> bytes:
    return Beacon("n1", "10.0.0.1", 8080, 5432, False, db_role=role, operation=operation).encode()


def test_the_leaders_database_changing_wakes_the_loop_once():
    wake = Wake(Clock())
    assert wake.leader_hello(1, 1, hello(DbRole.UNKNOWN))
    assert not wake.leader_hello(1, 1, hello(DbRole.UNKNOWN))  # heard already
    assert wake.leader_hello(1, 1, hello(DbRole.UNKNOWN, "bootstrap"))
    assert wake.leader_hello(1, 1, hello(DbRole.PRIMARY))
    assert not wake.leader_hello(2, 1, hello(DbRole.REPLICA))  # not the leader
    assert not wake.leader_hello(1, None, hello(DbRole.REPLICA))  # nobody leads yet
    assert not wake.leader_hello(1, 1, b"{not a beacon")


def test_the_leader_announcing_a_switchover_wakes_the_loop_once():
    """A pooler host's observer reads its hold at once: the leader waits for it to demote."""
    wake = Wake(Clock())
    primary = Beacon("n1", "10.0.0.1", 8080, 5432, False, db_role=DbRole.PRIMARY)
    assert wake.leader_hello(1, 1, primary.encode())
    assert wake.leader_hello(1, 1, replace(primary, switchover_to=2).encode())
    assert not wake.leader_hello(1, 1, replace(primary, switchover_to=2).encode())
    assert wake.leader_hello(1, 1, primary.encode())  # dropped, or handed over


ME, LEADER, NOW, FRESH = 2, 1, 500.0, 3.0


def snapshot(leader: int = LEADER, leader_beacon: Beacon | None = None,
             operation: LongOperation | None = None) -> AgentSnapshot:
    raft = RuntimeStatus(ME, Role.LEADER if leader == ME else Role.FOLLOWER, leader, 3, frozenset({1, 2, 3}),
                         frozenset(), 10, 10)
    beacons = {LEADER: leader_beacon} if leader_beacon is not None else {}
    return AgentSnapshot(my_id=ME, raft=raft, state=ClusterState(default_cluster_settings()), beacons=beacons,
                         last_seen={}, pg=NOT_STREAMING, add_node_marker=False, switchover_target=None,
                         operation=operation, operation_started_at=None)


def peers(info: bytes, age: float = 0.0):
    return lambda: {LEADER: PeerInfo(LEADER, ("10.0.0.1", 9999), 1, info, NOW - age)}


PRIMARY_BEACON = Beacon("n1", "10.0.0.1", 8080, 5432, False, db_role=DbRole.PRIMARY)
PRIMARY = PRIMARY_BEACON.encode()


@pytest.mark.parametrize("snap, running, seen, database, changed", [
    (None, None, peers(PRIMARY), None, True),  # no full cycle yet
    (snapshot(), LongOperation.BASE_BACKUP, peers(PRIMARY), None, True),  # an operation started
    (snapshot(operation=LongOperation.BASE_BACKUP), None, peers(PRIMARY), None, True),  # ... or ended
    (snapshot(leader_beacon=PRIMARY_BEACON), None, peers(PRIMARY), False, False),  # nothing new
    (snapshot(leader_beacon=PRIMARY_BEACON), None, peers(hello(DbRole.UNKNOWN)), None, True),  # the leader's db
    (snapshot(), None, peers(PRIMARY), None, True),  # the leader was not in the last view
    (snapshot(), None, peers(PRIMARY, age=FRESH + 1), False, False),  # too old to count, as in the view
    (snapshot(), None, peers(b"{not a beacon"), False, False),
    (snapshot(leader=ME), None, peers(PRIMARY), False, False),  # I lead: my own database is read
    (snapshot(leader=0), None, peers(PRIMARY), False, False),
    (snapshot(leader_beacon=PRIMARY_BEACON), None, peers(PRIMARY), True, True),  # my database changed
    (snapshot(leader_beacon=PRIMARY_BEACON), None, peers(PRIMARY), OSError, True),  # unreadable: a full read says why
])
def test_changed_at_a_glance(snap, running, seen, database, changed):
    def database_changed():
        if database is None:
            raise AssertionError("the database is asked last")
        if database is OSError:
            raise OSError("gone")
        return database
    assert changed_at_a_glance(snap, running, seen, NOW, FRESH, database_changed) is changed
