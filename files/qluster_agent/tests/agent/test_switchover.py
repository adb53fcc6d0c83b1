"""When a switchover's leader may demote its database, and when it may hand leadership over."""

from __future__ import annotations

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.pooler_hold import POOLER_HOLD_WAIT, waiting_for_poolers
from qluster_agent.agent.switchover import (
    MAX_DEMOTE_LAG, Switchover, wait_before_demote, wait_before_handover, why_not_a_target)
from qluster_agent.pg.status import DataDirState, DbRole, PgStatus, ReplicationRow, WalMark

LEADER, TARGET, OTHER = 1, 2, 3
TL = 5 << 48


def primary(*rows: ReplicationRow, flushed: int = 0x5008000) -> PgStatus:
    return PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=False, timeline=5,
                    current_lsn=flushed + 0x100, flush_lsn=flushed, replication=rows)


def row(node_id: int, flushed: int | None, state: str = "streaming") -> ReplicationRow:
    return ReplicationRow(f"qluster_{node_id}", "127.0.0.2", state, "quorum", flushed, flushed, flushed, flushed)


@pytest.mark.parametrize("pg, waits_for", [
    (primary(row(TARGET, 0x5008000)), None),
    (primary(row(TARGET, 0x5008000 - MAX_DEMOTE_LAG)), None),
    (primary(row(TARGET, 0x5008000 - MAX_DEMOTE_LAG - 1)), "1048577 bytes behind my flushed WAL"),
    (primary(row(OTHER, 0x5008000)), "does not stream from my database yet (not connected)"),
    (primary(row(TARGET, 0x5000000, state="catchup")), "does not stream from my database yet (catchup)"),
    (primary(row(TARGET, None)), "does not stream"),
])
def test_demote_waits_for_the_target_to_stream_close_behind(pg, waits_for) -> None:
    reason = wait_before_demote(pg, TARGET)
    if waits_for is None:
        assert reason is None
    else:
        assert reason is not None and waits_for in reason and f"node {TARGET}" in reason


def beacon(context: int) -> Beacon:
    return Beacon(name="n", address="127.0.0.1", api_port=8080, db_port=5432, observer=False, vote_context=context)


CHECKPOINT = TL | 0x6000000  # my shutdown checkpoint at 0/6000028, counted from its page's start
VOTERS = frozenset({LEADER, TARGET, OTHER})


@pytest.mark.parametrize("beacons, waits_for", [
    ({TARGET: beacon(TL | 0x60000A0), OTHER: beacon(TL | 0x60000A0)}, None),
    ({TARGET: beacon(TL | 0x60000A0)}, None),  # the other voter is silent: it cannot outvote the target
    ({TARGET: beacon(TL | 0x60000A0), OTHER: beacon(TL | 0x5008918)}, None),
    # Only the switch's padding arrived, not the checkpoint record after it.
    ({TARGET: beacon(TL | 0x6000000), OTHER: beacon(TL | 0x60000A0)}, "my shutdown checkpoint is at 5/6000000"),
    # Its walreceiver died: the restartpoint's older timeline is no position at all.
    ({TARGET: beacon((4 << 48) | 0x60000A0)}, "node 2 announces WAL up to 4/60000A0"),
    ({TARGET: beacon(TL | 0x60000A0), OTHER: beacon(TL | 0x6000100)}, "node 3 announces more WAL (5/6000100)"),
    ({OTHER: beacon(TL | 0x60000A0)}, "no recent announcement from node 2"),
])
def test_handover_waits_until_the_target_would_win_the_vote(beacons, waits_for) -> None:
    reason = wait_before_handover(TARGET, LEADER, CHECKPOINT, {LEADER: beacon(CHECKPOINT), **beacons}, VOTERS)
    if waits_for is None:
        assert reason is None
    else:
        assert reason is not None and waits_for in reason


def replica_beacon(role: DbRole = DbRole.REPLICA, streaming: bool = True) -> Beacon:
    return Beacon("qluster-02", "10.0.0.2", 8080, 5432, False, db_role=role, streaming=streaming)


@pytest.mark.parametrize("pg, announced, refused_because", [
    # The leader's own pg_stat_replication suffices, whatever the target announced lately.
    (primary(row(TARGET, 0x5000000)), None, None),
    (primary(row(TARGET, 0x5000000)), replica_beacon(streaming=False), None),
    # Or the target's announcement, when the leader's view has no row (or no status at all).
    (primary(), replica_beacon(), None),
    (None, replica_beacon(), None),
    (primary(), None, "announced nothing recently"),
    (primary(row(TARGET, 0x5000000, state="catchup")), replica_beacon(streaming=False),
     "announces that it does not stream"),
    (primary(row(OTHER, 0x5000000)), replica_beacon(role=DbRole.PRIMARY, streaming=False),
     "announces its database as primary"),
])
def test_a_switchover_target_must_stream_as_the_leader_or_itself_sees_it(pg, announced, refused_because) -> None:
    reason = why_not_a_target(TARGET, pg, announced)
    if refused_because is None:
        assert reason is None
    else:
        assert reason is not None and refused_because in reason and f"node {TARGET} is not a streaming replica" in reason


# --- Switchover: the leader's state while it switches over -----------------------------------

TIMEOUT = 30.0


def asked(target: int = TARGET, at: float = 100.0) -> Switchover:
    switchover = Switchover(LEADER)
    switchover.request(target, at, TIMEOUT)
    return switchover


@pytest.mark.parametrize("is_leader, leader, now, dropped", [
    (True, LEADER, 100.0 + TIMEOUT, None),
    (True, LEADER, 100.0 + TIMEOUT + 0.01, "switchover to node 2 did not happen within set-leader-timeout; staying leader"),
    (False, TARGET, 101.0, "switchover: node 2 now leads (I am node 1)"),
    (False, 0, 101.0, "switchover: node none now leads (I am node 1)"),
])
def test_a_switchover_ends_when_another_node_leads_or_its_time_is_up(is_leader, leader, now, dropped) -> None:
    switchover = asked()
    assert switchover.expire(is_leader, leader, now) == dropped
    assert switchover.target == (None if dropped else TARGET)


def test_nothing_expires_without_a_switchover() -> None:
    assert Switchover(LEADER).expire(False, TARGET, 1e9) is None


def stopped_after_switch(checkpoint: int | None = 0x6000028) -> PgStatus:
    return PgStatus(datadir=DataDirState.VALID, running=False, accepting=False, timeline=5,
                    checkpoint_lsn=checkpoint, wal_end_lsn=0x60000A0)


# (switchover asked?, my database, the target's position as announced and as read from its database now)
#   -> whom to hand over to now, or what the hand-over waits for (None: nothing to hand over)
@pytest.mark.parametrize("target, pg, announced, read_now, to, waits_for", [
    pytest.param(TARGET, stopped_after_switch(), TL | 0x60000A0, None, TARGET, None, id="the target has it all"),
    pytest.param(TARGET, stopped_after_switch(), TL | 0x6000000, WalMark(5, 0x60000A0), TARGET, None,
                 id="announced short, but its database has it now"),
    pytest.param(TARGET, stopped_after_switch(), TL | 0x6000000, WalMark(5, 0x6000000), None,
                 "my shutdown checkpoint is at 5/6000000", id="the target lacks the checkpoint record"),
    pytest.param(TARGET, stopped_after_switch(), TL | 0x6000000, None, None, "waiting to hand over",
                 id="its database does not answer"),
    pytest.param(None, stopped_after_switch(), TL | 0x60000A0, None, None, None, id="no switchover"),
    pytest.param(TARGET, primary(row(TARGET, 0x5008000)), TL | 0x60000A0, None, None, None,
                 id="my database still runs as the primary"),
    pytest.param(TARGET, None, TL | 0x60000A0, None, None, None, id="no database status"),
])
def test_when_the_leader_hands_over(target, pg, announced, read_now, to, waits_for) -> None:
    switchover = asked(target) if target else Switchover(LEADER)
    beacons = {LEADER: beacon(CHECKPOINT), TARGET: beacon(announced), OTHER: beacon(TL | 0x5008918)}
    handover = switchover.hand_over(pg, CHECKPOINT, beacons, VOTERS, lambda _beacon: read_now)
    if to is None and waits_for is None:
        assert handover is None
    elif to is not None:
        assert handover.to == to
    else:
        assert handover.to is None and waits_for in handover.reason


def test_the_hand_over_compares_with_my_checkpoint_when_pg_control_tells_none() -> None:
    # No checkpoint location (pg_control unreadable): my own vote context is the bar.
    beacons = {LEADER: beacon(CHECKPOINT), TARGET: beacon(CHECKPOINT + 0x10)}
    assert asked().hand_over(stopped_after_switch(checkpoint=None), CHECKPOINT, beacons, VOTERS,
                             lambda _beacon: None).to == TARGET
    assert asked().hand_over(stopped_after_switch(checkpoint=None), CHECKPOINT + 0x10, beacons, VOTERS,
                             lambda _beacon: None).to is None


@pytest.mark.parametrize("pg, acts_on", [
    pytest.param(primary(row(TARGET, 0x5008000)), TARGET, id="the target streams close behind: demote"),
    pytest.param(primary(row(OTHER, 0x5008000)), None, id="the target does not stream from me yet: wait"),
    pytest.param(primary(row(TARGET, 0x5008000 - MAX_DEMOTE_LAG - 1)), None, id="too far behind: wait"),
    pytest.param(stopped_after_switch(), TARGET, id="already shut down: the hand-over decides"),
    pytest.param(None, TARGET, id="no database status"),
])
def test_what_decide_sees_of_a_switchover(pg, acts_on) -> None:
    assert asked().target_for_decide(pg, {}, 0.0) == acts_on
    assert Switchover(LEADER).target_for_decide(pg, {}, 0.0) is None


def pooler(held_for: int | None, holds: bool = True) -> Beacon:
    return Beacon(name="qcp", address="127.0.0.9", api_port=8080, db_port=None, observer=True, db_role=DbRole.NONE,
                  holds_pooler=holds, pooler_held_for=held_for)


READY = primary(row(TARGET, 0x5008000))


@pytest.mark.parametrize("observers, waited, acts_on", [
    pytest.param({}, 0.0, TARGET, id="no pooler host: demote"),
    pytest.param({9: pooler(None, holds=False)}, 0.0, TARGET, id="an observer that holds no pooler: demote"),
    pytest.param({9: pooler(TARGET)}, 0.0, TARGET, id="the pooler holds for the target: demote"),
    pytest.param({9: pooler(None)}, 0.0, None, id="the pooler does not hold yet: wait"),
    pytest.param({9: pooler(OTHER)}, 0.0, None, id="held for another switchover: wait"),
    pytest.param({9: pooler(TARGET), 10: pooler(None)}, 1.9, None, id="one of two holds, within the bound: wait"),
    pytest.param({9: pooler(None)}, POOLER_HOLD_WAIT, TARGET, id="not held after the bound: demote anyway"),
])
def test_demote_waits_a_bounded_time_for_the_pooler_hosts_to_hold(observers, waited, acts_on) -> None:
    switchover = asked()
    beacons = {TARGET: beacon(TL | 0x5008000), **observers}
    first = switchover.target_for_decide(READY, beacons, 100.0)
    assert switchover.target_for_decide(READY, beacons, 100.0 + waited) == acts_on
    assert first == (TARGET if not waiting_for_poolers(TARGET, beacons) else None)


def test_the_pooler_wait_starts_when_the_target_caught_up() -> None:
    """Catching up may take longer than the pooler's bound: the bound counts from then."""
    switchover = asked()
    beacons = {9: pooler(None)}
    assert switchover.target_for_decide(primary(row(OTHER, 0x5008000)), beacons, 100.0) is None
    assert switchover.target_for_decide(READY, beacons, 100.0 + POOLER_HOLD_WAIT) is None
    assert switchover.target_for_decide(READY, beacons, 100.0 + 2 * POOLER_HOLD_WAIT) == TARGET
