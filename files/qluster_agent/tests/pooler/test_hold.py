"""The switchover hold's planner: (view, state, now) -> decision, and the state after it."""

from __future__ import annotations

import pytest

from qluster_agent.pooler.hold import Action, HoldState, HoldView, Kind, Stage, decide, failover_bound, silence_after

TIMEOUT = 15.0
FREE = HoldState()
PAUSING = HoldState(Stage.PAUSING, target=2, old_leader=1, since=100.0)
HELD = HoldState(Stage.HELD, target=2, old_leader=1, since=100.0)
SPENT = HoldState(spent=2)
DROPPING = HoldState(Stage.HELD, target=2, old_leader=1, since=100.0, dropped_since=100.5)


@pytest.mark.parametrize("view,state,now,action,reason", [
    # Nothing announced, or nothing (more) to hold for.
    (HoldView(1, None), FREE, 100.0, Action.NOTHING, "no switchover under way"),
    (HoldView(2, 2), FREE, 100.0, Action.NOTHING, "target node 2 leads already"),
    (HoldView(1, 2), SPENT, 100.0, Action.NOTHING, "held once already"),
    # The leader announces a switchover: pause.
    (HoldView(1, 2), FREE, 100.0, Action.PAUSE, "the leader, node 1, hands over to node 2"),
    (HoldView(1, 3), SPENT, 100.0, Action.PAUSE, "hands over to node 3"),
    # PAUSE sent: wait for the transactions in flight, then announce.
    (HoldView(1, 2), PAUSING, 100.3, Action.NOTHING, "waiting for the transactions in flight"),
    (HoldView(1, 2, paused=True), PAUSING, 100.25, Action.ANNOUNCE, "paused for node 2 after 250 ms"),
    # Held: wait for the target to lead and to be routed, then resume.
    (HoldView(1, 2, paused=True), HELD, 101.0, Action.NOTHING, "waiting for it to lead"),
    (HoldView(None, 2, paused=True), HELD, 101.0, Action.NOTHING, "waiting for it to lead"),
    (HoldView(None, None, paused=True), HELD, 101.0, Action.NOTHING, "waiting for it to lead"),
    (HoldView(2, None, paused=True), HELD, 101.0, Action.NOTHING, "waiting until HAProxy routes writes to it"),
    (HoldView(2, None, routed=True, paused=True), HELD, 101.2, Action.RESUME, "takes writes through HAProxy: "
                                                                              "resuming after 1200 ms"),
    (HoldView(2, 2, routed=True, paused=True), HELD, 101.0, Action.RESUME, "2 leads"),
    # Routed before every PAUSE came back (a long transaction cut by the demote): resume too.
    (HoldView(2, None, routed=True), PAUSING, 101.0, Action.RESUME, "2 leads"),
    # Routed means the map's leader: a routed old leader ends nothing.
    (HoldView(1, 2, routed=True, paused=True), HELD, 101.0, Action.NOTHING, "waiting for it to lead"),
    # Bounded.
    (HoldView(1, 2, paused=True), HELD, 115.0, Action.RESUME, "has not completed within 15 s (the leader: node 1)"),
    (HoldView(None, 2), PAUSING, 116.0, Action.RESUME, "has not completed within 15 s"),
    (HoldView(2, None, paused=True), HELD, 115.0, Action.RESUME, "resuming anyway"),
    # Dropped: the map names no target (or another) while the old leader leads, for DROP_GRACE.
    # Until then it may also be a hand-over whose new leader the observer has not heard of yet.
    (HoldView(1, None, paused=True), HELD, 100.5, Action.NOTHING, "dropped, or handed over"),
    (HoldView(1, 3, paused=True), HELD, 100.5, Action.NOTHING, "dropped, or handed over"),
    (HoldView(1, None), PAUSING, 100.5, Action.NOTHING, "dropped, or handed over"),
    (HoldView(1, None, paused=True), DROPPING, 101.2, Action.NOTHING, "dropped, or handed over"),
    (HoldView(1, None, paused=True), DROPPING, 101.5, Action.RESUME, "was dropped (node 1 still leads): resuming after 1500 ms"),
    (HoldView(1, 3, paused=True), DROPPING, 101.5, Action.RESUME, "was dropped"),
    (HoldView(2, None, routed=True, paused=True), DROPPING, 101.5, Action.RESUME, "2 leads and takes writes"),
    # Another node took over (a failover during the switchover).
    (HoldView(3, None, paused=True), HELD, 101.0, Action.RESUME, "node 3 leads, not the switchover target node 2"),
    # A PAUSE PgBouncer refused (or could not take): resume what was paused.
    (HoldView(1, 2, failed="no such database: x_tx"), PAUSING, 100.1, Action.RESUME, "failed (no such database"),
])
def test_decide(view, state, now, action, reason):
    decision = decide(view, state, now, TIMEOUT)
    assert decision.action is action, decision.reason
    assert reason in decision.reason


def test_a_hold_cycle_goes_free_pausing_held_free_and_is_not_repeated_for_the_same_switchover():
    state, now = FREE, 100.0
    script = [
        (HoldView(1, 2), Action.PAUSE, Stage.PAUSING),
        (HoldView(1, 2), Action.NOTHING, Stage.PAUSING),
        (HoldView(1, 2, paused=True), Action.ANNOUNCE, Stage.HELD),
        (HoldView(None, 2, paused=True), Action.NOTHING, Stage.HELD),
        (HoldView(2, 2, paused=True), Action.NOTHING, Stage.HELD),
        (HoldView(2, 2, routed=True, paused=True), Action.RESUME, Stage.FREE),
        # The map may still name the target for a moment: not paused again.
        (HoldView(2, 2, routed=True), Action.NOTHING, Stage.FREE),
        (HoldView(2, None, routed=True), Action.NOTHING, Stage.FREE),
        # A later switchover back to 1, then again to 2: each held.
        (HoldView(2, 1, routed=True), Action.PAUSE, Stage.PAUSING),
    ]
    for view, action, stage in script:
        decision = decide(view, state, now, TIMEOUT)
        assert decision.action is action, (view, state, decision)
        state = state.after(decision, view, now)
        assert state.stage is stage
        now += 0.05
    assert (state.target, state.old_leader) == (1, 2)


def test_after_a_timeout_the_same_switchover_is_not_paused_again_but_the_next_one_is():
    state = HELD
    view = HoldView(1, 2, paused=True)
    decision = decide(view, state, 200.0, TIMEOUT)
    state = state.after(decision, view, 200.0)
    assert (decision.action, state) == (Action.RESUME, HoldState(spent=2))
    assert decide(view, state, 200.1, TIMEOUT).action is Action.NOTHING
    state = state.after(decide(HoldView(1, None), state, 201.0, TIMEOUT), HoldView(1, None), 201.0)
    assert state == FREE
    assert decide(HoldView(1, 2), state, 300.0, TIMEOUT).action is Action.PAUSE


def test_a_map_that_stops_naming_the_target_is_a_drop_only_if_it_lasts():
    state = HELD
    script = [  # (now, view, action, dropped_since after)
        (100.5, HoldView(1, None, paused=True), Action.NOTHING, 100.5),
        (100.9, HoldView(1, None, paused=True), Action.NOTHING, 100.5),
        (101.0, HoldView(2, None, paused=True), Action.NOTHING, None),  # the new leader heard of: a hand-over
        (101.1, HoldView(1, None, paused=True), Action.NOTHING, 101.1),  # (a stale map again)
        (102.0, HoldView(1, None, paused=True), Action.NOTHING, 101.1),
        (102.1, HoldView(1, None, paused=True), Action.RESUME, None),
    ]
    for now, view, action, since in script:
        decision = decide(view, state, now, TIMEOUT)
        assert decision.action is action, (now, decision)
        state = state.after(decision, view, now)
        assert state.dropped_since == since, (now, state)


# ------------------------------------------------------------------------ the failover hold
FAILOVER_TIMEOUT = 1.6
SILENT = HoldState(Stage.PAUSING, target=None, old_leader=1, since=100.0, kind=Kind.FAILOVER, old_term=5)


@pytest.mark.parametrize("view,state,now,action,reason", [
    # The leader goes silent: pause, unless there is no failover hold.
    (HoldView(1, None, leader_silent=True), FREE, 100.0, Action.PAUSE, "node 1, has gone silent"),
    (HoldView(None, None, leader_silent=True), FREE, 100.0, Action.PAUSE, "the last leader, has gone silent"),
    # A switchover announced is held as one (announced back), even if the leader seems silent.
    (HoldView(1, 2, leader_silent=True), FREE, 100.0, Action.PAUSE, "hands over to node 2"),
    # A failover hold that ran out is not repeated while the leader stays silent.
    (HoldView(1, None, leader_silent=True), HoldState(silence_spent=True), 100.0, Action.NOTHING, "held for once already"),
    # Held: wait for a leader that is heard and routed.
    (HoldView(1, None, leader_silent=True), SILENT, 100.5, Action.NOTHING, "waiting for a leader to be elected"),
    (HoldView(None, None, leader_silent=True), SILENT, 100.5, Action.NOTHING, "waiting for a leader to be elected"),
    (HoldView(2, None), SILENT, 100.8, Action.NOTHING, "node 2 leads; waiting until HAProxy routes writes to it"),
    (HoldView(2, None, routed=True), SILENT, 100.9, Action.RESUME, "node 2 leads and takes writes through HAProxy: "
                                                                   "resuming after 900 ms"),
    (HoldView(2, None, routed=True, paused=True), SILENT, 100.9, Action.RESUME, "node 2 leads"),
    # A false alarm: the old leader is heard again, in the same term (without a term: a new leader).
    (HoldView(1, None, routed=True, term=5), SILENT, 100.2, Action.RESUME, "node 1 is heard again and still leads (term 5)"),
    (HoldView(1, None, routed=True, term=6), SILENT, 100.2, Action.RESUME, "node 1 leads and takes writes"),
    (HoldView(1, None, routed=True), SILENT, 100.2, Action.RESUME, "node 1 leads and takes writes"),
    # Routed but still silent: not yet.
    (HoldView(1, None, routed=True, leader_silent=True), SILENT, 100.2, Action.NOTHING, "waiting for a leader"),
    # Bounded.
    (HoldView(None, None, leader_silent=True), SILENT, 101.65, Action.RESUME, "no leader takes writes within 1.6 s"),
    (HoldView(2, None), SILENT, 101.7, Action.RESUME, "resuming anyway"),
    (HoldView(None, None, failed="no such database: x_tx", leader_silent=True), SILENT, 100.1, Action.RESUME,
     "the PAUSE for the failover failed"),
    # HAProxy saw the leader reset its sessions at once: held before it falls silent ...
    (HoldView(1, None, routed=True, leader_reset=True), FREE, 100.0, Action.PAUSE, "node 1, reset its sessions at once"),
    # ... until it is heard again after the pause (heard 0.5 s ago, paused 0.2 s ago: not yet).
    (HoldView(1, None, routed=True, term=5, leader_heard_ago=0.5), SILENT, 100.2, Action.NOTHING, "waiting"),
    (HoldView(1, None, routed=True, term=5, leader_heard_ago=0.05), SILENT, 100.2, Action.RESUME, "heard again"),
    # A failover hold never writes the hold file: nobody waits for it.
    (HoldView(1, None, paused=True, leader_silent=True), SILENT, 100.5, Action.NOTHING, "waiting for a leader"),
])
def test_decide_failover(view, state, now, action, reason):
    decision = decide(view, state, now, TIMEOUT, FAILOVER_TIMEOUT)
    assert decision.action is action, decision.reason
    assert reason in decision.reason


def test_without_a_failover_timeout_a_silent_leader_holds_nothing():
    assert decide(HoldView(1, None, leader_silent=True), FREE, 100.0, TIMEOUT).action is Action.NOTHING
    assert decide(HoldView(1, None, leader_reset=True), FREE, 100.0, TIMEOUT).action is Action.NOTHING
    assert decide(HoldView(1, None, leader_silent=True), FREE, 100.0, TIMEOUT, 0.0).action is Action.NOTHING


def test_a_failover_hold_cycle_and_its_rearming():
    state, now = FREE, 100.0
    script = [  # (view, action, stage, silence_spent after)
        (HoldView(1, None), Action.NOTHING, Stage.FREE, False),
        (HoldView(1, None, leader_silent=True), Action.PAUSE, Stage.PAUSING, False),
        (HoldView(1, None, leader_silent=True, paused=True), Action.NOTHING, Stage.PAUSING, False),
        (HoldView(2, None, leader_silent=False), Action.NOTHING, Stage.PAUSING, False),
        (HoldView(2, None, routed=True), Action.RESUME, Stage.FREE, False),
        # The new leader goes silent in turn: held again.
        (HoldView(2, None, routed=True, leader_silent=True), Action.PAUSE, Stage.PAUSING, False),
    ]
    for view, action, stage, spent in script:
        decision = decide(view, state, now, TIMEOUT, FAILOVER_TIMEOUT)
        assert decision.action is action, (view, state, decision)
        state = state.after(decision, view, now)
        assert (state.stage, state.silence_spent) == (stage, spent), (view, state)
        now += 0.1
    assert (state.kind, state.old_leader, state.target) == (Kind.FAILOVER, 2, None)
    # It runs out while the cluster has no leader: not held again until a leader is heard.
    view = HoldView(None, None, leader_silent=True)
    decision = decide(view, state, now + FAILOVER_TIMEOUT, TIMEOUT, FAILOVER_TIMEOUT)
    state = state.after(decision, view, now + FAILOVER_TIMEOUT)
    assert (decision.action, state) == (Action.RESUME, HoldState(silence_spent=True))
    assert decide(view, state, now + 5, TIMEOUT, FAILOVER_TIMEOUT).action is Action.NOTHING
    heard = HoldView(3, None, routed=True)
    state = state.after(decide(heard, state, now + 6, TIMEOUT, FAILOVER_TIMEOUT), heard, now + 6)
    assert state == FREE
    assert decide(HoldView(3, None, leader_silent=True), state, now + 7, TIMEOUT, FAILOVER_TIMEOUT).action is Action.PAUSE


def test_silence_is_two_beats_of_the_fastest_leader_and_the_bound_two_node_timeouts():
    assert silence_after(0.8) == pytest.approx(0.25)
    assert silence_after(30.0) == pytest.approx(9.375)
    assert failover_bound(0.8) == pytest.approx(1.6)


def test_only_a_false_alarm_keeps_the_server_connections():
    assert decide(HoldView(1, None, routed=True, term=5), SILENT, 100.2, TIMEOUT, FAILOVER_TIMEOUT).reconnect is False
    assert decide(HoldView(2, None, routed=True, term=6), SILENT, 100.2, TIMEOUT, FAILOVER_TIMEOUT).reconnect
    assert decide(HoldView(1, None, routed=True, term=6), SILENT, 100.2, TIMEOUT, FAILOVER_TIMEOUT).reconnect
    assert decide(HoldView(None, None, leader_silent=True), SILENT, 102.0, TIMEOUT, FAILOVER_TIMEOUT).reconnect
