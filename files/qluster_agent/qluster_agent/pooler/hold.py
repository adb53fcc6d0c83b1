"""Holding PgBouncer's transaction-pooled databases across a planned switchover: the pure planner.

The observer agent on the pooler host learns from the leader that a switchover is under way
(`switchover_to` in GET /map). Clients of a transaction-pooled database hold a server connection
for one transaction at a time, so between two transactions PgBouncer can keep them waiting
(`PAUSE <db>`: it returns once the transactions in flight have ended, and closes the server
connections) while the old leader demotes and the new one promotes, then let them go on to the
new leader (`RECONNECT <db>`, `RESUME <db>`). The clients see a stall, not an error.

The sync announces a finished PAUSE in the hold file (`{"held_for": <member id>}`); the
observer's agent passes it on, and the old leader waits for it (at most about 2 s) before it
demotes. The hold ends when the target is the map's leader and the sync has put it in HAProxy's
read-write backend, when the switchover was dropped (`switchover_to` left the target while the
old leader still leads, for DROP_GRACE: once it has handed over, the old leader stops naming the
target, and the observer may hear that before it hears of the new leader), when another node
took over, or after `hold-timeout`, whatever happened: PgBouncer is never left paused.

An unplanned failover is held the same way, without the hold file (there is no leader left to
wait for it): when the map's leader has not been heard for a while (`leader_silent`: the sync
decides, half a lease by default), or HAProxy saw its sessions reset at once (`leader_reset`),
the databases are paused, so that transactions that start then wait instead of failing on the
dead leader's server connections, and clients that log in then
wait instead of being refused (PgBouncer 1.18 looks their password up on the leader). The
transactions in flight at the crash fail, as they must. The hold ends once a leader is heard
since the pause and routed (a new one, or the same one after a false alarm), or after
`failover-hold-timeout`; a leader still silent then is not held for again until one is heard.

`decide(view, state, now, timeout, failover_timeout) -> HoldDecision` reads no clock and does no
I/O; `HoldState.after` gives the state once the decision is carried out. `holder.py` carries it out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Union

from ..config.heartbeat import LEASE_SHARE

MemberId = Union[int, str]
# How long the map must name no switchover (or another one) while the old leader still leads
# before the hold takes the switchover for dropped.
DROP_GRACE = 1.0
# The failover hold's bound, in node-timeouts, when failover-hold-timeout is not set: a follower
# starts its pre-vote a node-timeout after the leader's last beat, and is elected and promoted
# well within a second one.
FAILOVER_BOUND = 2.0


def silence_after(node_timeout: float) -> float:
    """How long the leader may go unheard before a failover hold begins: half its lease. The
    leader beats at least BEATS_PER_LEASE (4) times a lease, so that is two beats missed at
    least; and a false alarm costs the held clients a stall of about one beat, no error."""
    return node_timeout * LEASE_SHARE / 2


def failover_bound(node_timeout: float) -> float:
    return node_timeout * FAILOVER_BOUND


class Stage(enum.Enum):
    FREE = "free"  # nothing paused
    PAUSING = "pausing"  # PAUSE sent, not answered by every database yet
    HELD = "held"  # every database paused, the hold file written


class Kind(enum.Enum):
    SWITCHOVER = "switchover"  # announced by the leader: announced back through the hold file
    FAILOVER = "failover"  # the leader went silent: nobody to announce to


class Action(enum.Enum):
    NOTHING = "nothing"
    PAUSE = "pause"  # send PAUSE for every database
    ANNOUNCE = "announce"  # every PAUSE answered: write the hold file
    RESUME = "resume"  # RECONNECT and RESUME every database, remove the hold file


@dataclass(frozen=True)
class HoldView:
    """What one round knows: the map's leader and switchover target (member ids), whether the
    sync has the map's leader up in HAProxy's read-write backend (and every former leader out),
    whether every PAUSE sent has been answered (and whether one failed), and whether the leader
    has gone silent (not heard for the sync's silence threshold, or no leader named since one
    was)."""

    leader: MemberId | None
    switchover_to: MemberId | None
    routed: bool = False
    paused: bool = False
    failed: str = ""  # a PAUSE that PgBouncer refused or that could not be sent: why
    leader_silent: bool = False
    term: int | None = None  # the map's term
    leader_reset: bool = False  # HAProxy saw the leader's database reset sessions at once (a dead host)
    leader_heard_ago: float | None = None  # seconds since the observer heard the map's leader


@dataclass(frozen=True)
class HoldState:
    stage: Stage = Stage.FREE
    target: MemberId | None = None  # held (or being paused) for this member (a switchover's)
    old_leader: MemberId | None = None  # the leader when the PAUSE was sent
    since: float = 0.0  # when the PAUSE was sent
    spent: MemberId | None = None  # the target of the last hold: not held again while the map still names it
    dropped_since: float | None = None  # since when the map looks as if the switchover was dropped
    kind: Kind = Kind.SWITCHOVER
    silence_spent: bool = False  # a failover hold ran out: not held again until a leader is heard
    old_term: int | None = None  # the map's term when a failover hold began

    def after(self, decision: HoldDecision, view: HoldView, now: float) -> HoldState:
        """The state once `decision` is carried out."""
        if decision.action is Action.PAUSE:
            if decision.kind is Kind.FAILOVER:
                return HoldState(Stage.PAUSING, None, view.leader, now, kind=Kind.FAILOVER, old_term=view.term)
            return HoldState(Stage.PAUSING, view.switchover_to, view.leader, now, None)
        if decision.action is Action.RESUME:
            if self.kind is Kind.FAILOVER:
                return HoldState(silence_spent=view.leader_silent)
            return HoldState(spent=self.target, silence_spent=view.leader_silent)
        if self.stage is Stage.FREE:
            # The map has moved on: a new switchover to the same member is held again; a leader
            # heard again re-arms the failover hold.
            spent = self.spent if view.switchover_to == self.spent else None
            return HoldState(spent=spent, silence_spent=self.silence_spent and view.leader_silent)
        if self.kind is Kind.FAILOVER:
            return self
        dropped_since = (self.dropped_since if self.dropped_since is not None else now) if _looks_dropped(view, self) else None
        stage = Stage.HELD if decision.action is Action.ANNOUNCE else self.stage
        return replace(self, stage=stage, dropped_since=dropped_since)


@dataclass(frozen=True)
class HoldDecision:
    action: Action
    reason: str
    kind: Kind = Kind.SWITCHOVER  # of the hold a PAUSE starts
    reconnect: bool = True  # a RESUME closes the server connections first (RECONNECT)


def decide(view: HoldView, state: HoldState, now: float, timeout: float, failover_timeout: float = 0.0) -> HoldDecision:
    """What to do this round about PgBouncer's transaction-pooled databases (a failover_timeout
    of 0: no failover hold)."""
    if state.stage is Stage.FREE:
        return _start(view, state, failover_timeout)
    if state.kind is Kind.FAILOVER:
        return _decide_failover(view, state, now, failover_timeout)
    held = state.target
    waited = now - state.since
    if view.leader == held and view.routed:
        return HoldDecision(Action.RESUME, f"node {held} leads and takes writes through HAProxy: resuming after "
                                           f"{waited * 1000:.0f} ms")
    if view.failed:
        return HoldDecision(Action.RESUME, f"the PAUSE for the switchover to node {held} failed ({view.failed}): resuming")
    if waited >= timeout:
        return HoldDecision(Action.RESUME, f"the switchover to node {held} has not completed within {timeout:g} s "
                                           f"(the leader: node {view.leader}): resuming anyway")
    if _looks_dropped(view, state) and state.dropped_since is not None and now - state.dropped_since >= DROP_GRACE:
        return HoldDecision(Action.RESUME, f"the switchover to node {held} was dropped (node {view.leader} still leads): "
                                           f"resuming after {waited * 1000:.0f} ms")
    if view.leader is not None and view.leader not in (held, state.old_leader):
        return HoldDecision(Action.RESUME, f"node {view.leader} leads, not the switchover target node {held}: resuming")
    if _looks_dropped(view, state):
        return HoldDecision(Action.NOTHING, f"the map names no switchover to node {held} while node {view.leader} leads: dropped, "
                                            "or handed over and the new leader not heard of yet")
    if state.stage is Stage.PAUSING:
        if view.paused:
            return HoldDecision(Action.ANNOUNCE, f"every transaction-pooled database is paused for node {held} after "
                                                 f"{waited * 1000:.0f} ms: announcing the hold")
        return HoldDecision(Action.NOTHING, f"waiting for the transactions in flight to end (PAUSE for node {held})")
    if view.leader == held:
        return HoldDecision(Action.NOTHING, f"node {held} leads; waiting until HAProxy routes writes to it")
    return HoldDecision(Action.NOTHING, f"held for node {held}; waiting for it to lead")


def _start(view: HoldView, state: HoldState, failover_timeout: float) -> HoldDecision:
    target = view.switchover_to
    if target is None:
        no_switchover = "no switchover under way"
    elif target == state.spent:
        no_switchover = f"the switchover to node {target} was held once already"
    elif target == view.leader:
        no_switchover = f"the switchover target node {target} leads already"
    else:
        return HoldDecision(Action.PAUSE, f"the leader, node {view.leader}, hands over to node {target}: pausing the "
                                          "transaction-pooled databases")
    if failover_timeout > 0 and view.leader_reset and not view.leader_silent:
        return HoldDecision(Action.PAUSE, f"the leader, node {view.leader}, reset its sessions at once: pausing the "
                                          "transaction-pooled databases until a leader is heard and takes writes",
                            Kind.FAILOVER)
    if failover_timeout > 0 and view.leader_silent:
        if state.silence_spent:
            return HoldDecision(Action.NOTHING, "the leader is still silent, and was held for once already")
        lost = f"node {view.leader}" if view.leader is not None else "the last leader"
        return HoldDecision(Action.PAUSE, f"the leader, {lost}, has gone silent: pausing the transaction-pooled "
                                          "databases until a leader takes writes", Kind.FAILOVER)
    return HoldDecision(Action.NOTHING, no_switchover)


def _decide_failover(view: HoldView, state: HoldState, now: float, timeout: float) -> HoldDecision:
    waited = now - state.since
    heard_since = view.leader_heard_ago is None or view.leader_heard_ago < waited
    if view.leader is not None and not view.leader_silent and view.routed and heard_since:
        if view.leader == state.old_leader and view.term == state.old_term and view.term is not None:
            # A false alarm: the same leader in the same term never lost its lease, so its
            # database never fenced: the server connections to it are good.
            return HoldDecision(Action.RESUME, f"node {view.leader} is heard again and still leads (term {view.term}): "
                                               f"resuming after {waited * 1000:.0f} ms, server connections kept",
                                reconnect=False)
        return HoldDecision(Action.RESUME, f"node {view.leader} leads and takes writes through HAProxy: resuming after "
                                           f"{waited * 1000:.0f} ms")
    if view.failed:
        return HoldDecision(Action.RESUME, f"the PAUSE for the failover failed ({view.failed}): resuming")
    if waited >= timeout:
        return HoldDecision(Action.RESUME, f"no leader takes writes within {timeout:g} s of the pause (the map's leader: "
                                           f"node {view.leader}): resuming anyway")
    if view.leader is not None and not view.leader_silent:
        return HoldDecision(Action.NOTHING, f"node {view.leader} leads; waiting until HAProxy routes writes to it")
    return HoldDecision(Action.NOTHING, "waiting for a leader to be elected")


def _looks_dropped(view: HoldView, state: HoldState) -> bool:
    return view.switchover_to != state.target and view.leader == state.old_leader
