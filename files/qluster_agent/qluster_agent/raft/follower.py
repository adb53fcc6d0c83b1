"""Follower, pre-candidate and candidate behaviour: election timers and taking the leader's log."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .types import Message, MessageType, Role

if TYPE_CHECKING:
    from .core import Raft


def tick(r: "Raft") -> None:
    """Count towards the current round's timeout; a voter that reaches it starts a pre-vote."""
    r.election_elapsed += 1
    if r.election_elapsed >= r.timeout:
        r.election_elapsed = 0
        if r.promotable():
            r.hup(force=False)
        else:
            r.timeout = r.randomized(r.cfg.election_ticks)


def ticks_until_due(r: "Raft") -> int:
    """The tick() that reaches the round's timeout; the ones before it only count."""
    return max(1, r.timeout - r.election_elapsed)


def step_follower(r: "Raft", m: Message) -> None:
    t = m.type
    if t in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
        r.election_elapsed = 0
        r.lead = m.frm
        _handle_leader_message(r, m)
    elif t == MessageType.TIMEOUT_NOW:
        r.say(f"received TimeoutNow from {m.frm}: campaigning at once")
        r.hup(force=True)
    # Proposals are not forwarded: the layer above talks to the leader it sees in SoftState.


def step_candidate(r: "Raft", m: Message) -> None:
    t = m.type
    if t in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
        r.become_follower(m.term, m.frm)  # somebody won this term
        _handle_leader_message(r, m)
    elif t == MessageType.PRE_VOTE_RESP and r.role == Role.PRE_CANDIDATE:
        # a grant carries term+1; a stale grant from an earlier round would carry less
        if m.reject or m.term == r.term + 1:
            r.record_vote(m)
    elif t == MessageType.VOTE_RESP and r.role == Role.CANDIDATE:
        r.record_vote(m)


def _handle_leader_message(r: "Raft", m: Message) -> None:
    if m.type == MessageType.APP:
        _handle_append(r, m)
    elif m.type == MessageType.HEARTBEAT:
        r.commit_to(m.commit)  # the leader sends min(our match, its commit): we hold that prefix
        r.send(MessageType.HEARTBEAT_RESP, m.frm)
    else:
        assert m.snapshot is not None
        if r.restore(m.snapshot):
            r.send(MessageType.APP_RESP, m.frm, index=r.log.last_index())
        else:
            r.send(MessageType.APP_RESP, m.frm, index=r.log.committed)


def _handle_append(r: "Raft", m: Message) -> None:
    if m.index < r.log.committed:
        # Everything up to our commit index matches the leader's log already.
        r.send(MessageType.APP_RESP, m.frm, index=r.log.committed)
        return
    new_last = r.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
    r.refresh_conf()
    if new_last is not None:
        r.send(MessageType.APP_RESP, m.frm, index=new_last)
        return
    # Fast log repair: suggest the last index whose term is <= the leader's term at m.index,
    # so the leader skips a whole divergent term in one round trip.
    hint, hint_term = r.log.find_conflict_by_term(min(m.index, r.log.last_index()), m.log_term)
    r.say(f"rejects App at {m.log_term}/{m.index}: suggests {hint_term}/{hint}")
    r.send(MessageType.APP_RESP, m.frm, index=m.index, reject=True, reject_hint=hint, log_term=hint_term)
