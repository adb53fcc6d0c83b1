"""Leader behaviour: replication, commit, heartbeats, check-quorum, transfer and autoremove."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .errors import ProposalDropped
from .membership import check_change
from .progress import Progress, ProgressState
from .quorum import committed_index, has_quorum, required_acks
from .types import NONE, ConfChange, ConfChangeType, Entry, EntryType, Message, MessageType, Role

if TYPE_CHECKING:
    from .config import CoreConfig
    from .core import Raft


def start_term(r: "Raft") -> None:
    """Fresh progress for everybody, then a no-op entry that commits everything before it.

    pending_conf_index points at the no-op: no conf change is accepted until it has
    committed (the fix for the single-server membership bug in the Raft thesis errata).
    """
    last = r.log.last_index()
    for member in r.conf.members | {r.id}:
        r.progress[member] = Progress(match=0, next=last + 1, last_heard=r.now, last_progress=r.now)
    append(r, [Entry(term=r.term, index=0)])
    r.pending_conf_index = r.log.last_index()
    broadcast_append(r)


def append(r: "Raft", entries: list) -> int:
    """Append new entries at the end of the leader's log (indexes assigned here)."""
    index = r.log.last_index()
    stamped = []
    for entry in entries:
        index += 1
        stamped.append(Entry(term=r.term, index=index, type=entry.type, data=entry.data))
    r.log.append(stamped)
    r.progress[r.id].maybe_update(index)
    if any(e.type == EntryType.CONF_CHANGE for e in stamped):
        r.pending_conf_index = index
        r.refresh_conf()  # the new membership counts from the moment it is in the log
    maybe_commit(r)  # a single voter commits on its own
    return index


def maybe_commit(r: "Raft") -> bool:
    """Advance the commit index to what enough voters hold; True when it moved."""
    match = {node: pr.match for node, pr in r.progress.items()}
    need = required_acks(r.conf.voters, r.cfg.replication_factor)
    index = committed_index(r.conf.voters, match, need)
    # Only entries of the current term are committed by counting (Raft §5.4.2).
    return r.log.term(index) == r.term and r.commit_to(index)


def send_append(r: "Raft", to: int, send_empty: bool = True) -> None:
    pr = r.progress[to]
    if pr.state == ProgressState.SNAPSHOT or (pr.state == ProgressState.PROBE and pr.probe_sent):
        return
    prev = pr.next - 1
    prev_term = r.log.term(prev)
    if prev_term is None or prev < r.log.snapshot.index:
        send_snapshot(r, to)
        return
    entries = r.log.slice(pr.next, r.cfg.max_entries_per_msg, r.cfg.max_bytes_per_msg)
    if not entries and not send_empty:
        return
    r.send(MessageType.APP, to, index=prev, log_term=prev_term, entries=entries, commit=r.log.committed)
    if pr.state == ProgressState.REPLICATE and entries:
        pr.next = entries[-1].index + 1  # optimistic: losses are caught by a reject or the retry timer
    elif pr.state == ProgressState.PROBE:
        pr.probe_sent = True


def send_snapshot(r: "Raft", to: int) -> None:
    pr = r.progress[to]
    snap = r.log.snapshot
    pr.become_snapshot(snap.index)
    pr.last_progress = r.now
    r.send(MessageType.SNAP, to, snapshot=snap)


def broadcast_append(r: "Raft") -> None:
    for member in sorted(r.progress):
        if member != r.id:
            send_append(r, member)


def broadcast_heartbeat(r: "Raft") -> None:
    """Every member gets every beat, observers included: an observer neither votes nor counts for
    the lease, but a pooler host's observer tells its sync within two beats that the leader has
    gone silent (pooler/hold.py: the failover hold), which a sparser beat would delay past the
    election. (Every fourth beat saved about 0.1 % of a core on an idle leader.)"""
    for member in sorted(r.progress):
        if member != r.id:
            pr = r.progress[member]
            # never tell a follower to commit past what we know it holds
            r.send(MessageType.HEARTBEAT, member, commit=min(pr.match, r.log.committed))


def step_down_if_removal_committed(r: "Raft") -> None:
    """A leader that removed itself keeps leading until that change commits (thesis §4.2.2)."""
    if r.log.committed >= r.pending_conf_index:
        r.say("is no longer a voter and its removal committed; stepping down")
        r.become_follower(r.term, NONE)


def on_conf_change(r: "Raft") -> None:
    """The membership changed (a conf change was appended): track new members, forget removed ones."""
    last = r.log.last_index()
    for member in r.conf.members - set(r.progress):
        r.progress[member] = Progress(match=0, next=last + 1, last_heard=r.now, last_progress=r.now)
        send_append(r, member)
    for member in set(r.progress) - r.conf.members - {r.id}:
        del r.progress[member]
    if r.transferee not in r.conf.voters:
        r.transferee = NONE


def propose(r: "Raft", entry: Entry) -> int:
    if r.transferee != NONE:
        raise ProposalDropped(f"leadership transfer to {r.transferee} in progress")
    if r.log.last_index() - r.log.committed >= r.cfg.max_uncommitted_entries:
        raise ProposalDropped("too many uncommitted entries")
    if entry.type == EntryType.CONF_CHANGE:
        if r.pending_conf_index > r.log.committed:
            raise ProposalDropped("another membership change is not committed yet")
        problem = check_change(r.conf, ConfChange.decode(entry.data))
        if problem:
            raise ProposalDropped(problem)
    index = append(r, [entry])
    if r.role == Role.LEADER:
        broadcast_append(r)
    return index


def step(r: "Raft", m: Message) -> None:
    t = m.type
    if t == MessageType.BEAT:
        broadcast_heartbeat(r)
        return
    if t == MessageType.TRANSFER_LEADER:
        transfer(r, m.frm)
        return
    pr = r.progress.get(m.frm)
    if pr is None:
        return  # not (or no longer) a member
    if t in (MessageType.APP_RESP, MessageType.HEARTBEAT_RESP):
        pr.last_heard = r.now
    if t == MessageType.APP_RESP:
        _handle_append_response(r, m, pr)
    elif t == MessageType.HEARTBEAT_RESP:
        if pr.state == ProgressState.PROBE:
            pr.probe_sent = False  # the follower is reachable: probe again now
        if pr.match < r.log.last_index():
            send_append(r, m.frm)
    elif t in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
        r.say(f"ignores {m.describe()}: two leaders in one term would be a bug")


def _handle_append_response(r: "Raft", m: Message, pr: Progress) -> None:
    if m.reject:
        hint = m.reject_hint
        if m.log_term > 0:
            hint, _unused = r.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decrease(m.index, hint):
            pr.last_progress = r.now
            send_append(r, m.frm)
        return
    if pr.maybe_update(m.index):
        pr.last_progress = r.now
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        committed = maybe_commit(r)
        if r.role != Role.LEADER:
            return  # the commit applied our own removal
        if committed:
            broadcast_append(r)  # tell everybody the new commit index
        elif m.frm in r.progress:
            send_append(r, m.frm, send_empty=False)
        if m.frm == r.transferee and pr.match == r.log.last_index():
            _send_timeout_now(r)
    elif pr.state == ProgressState.SNAPSHOT and m.index >= pr.pending_snapshot:
        pr.become_probe()


def transfer(r: "Raft", to: int) -> None:
    if to == r.id or to not in r.conf.voters:
        r.say(f"ignores leadership transfer to {to}: not another voter")
        return
    if r.transferee == to:
        return
    r.transferee = to
    r.transfer_elapsed = 0
    r.say(f"starts leadership transfer to {to}")
    if r.progress[to].match == r.log.last_index():
        _send_timeout_now(r)
    else:
        send_append(r, to)


def _send_timeout_now(r: "Raft") -> None:
    r.send(MessageType.TIMEOUT_NOW, r.transferee)


def tick(r: "Raft") -> None:
    r.heartbeat_elapsed += 1
    if not _check_quorum(r):
        return
    if r.transferee != NONE:
        r.transfer_elapsed += 1
        if r.transfer_elapsed >= r.cfg.transfer_ticks:
            r.say(f"aborts leadership transfer to {r.transferee}: no takeover within {r.cfg.transfer_ticks} ticks")
            r.transferee = NONE
    if r.heartbeat_elapsed >= r.cfg.heartbeat_ticks:
        r.heartbeat_elapsed = 0
        broadcast_heartbeat(r)
    _retry_stalled(r)
    if r.cfg.autoremove_enabled:
        _autoremove(r)


def awaits_answers(r: "Raft") -> bool:
    """Whether an answer may change what this leader does before its due tick: an entry not yet
    committed or not yet on some member, or a leadership transfer under way. Otherwise the
    answers only keep the lease, which a tick reads, and a vote request meets a lease that
    holds: they can wait for the due tick (see the runtime)."""
    last = r.log.last_index()
    if r.transferee != NONE or r.log.committed < last:
        return True
    return any(pr.match < last for member, pr in r.progress.items() if member != r.id)


def ticks_until_due(r: "Raft") -> int:
    """The first coming tick() that may act: beat, step down, abort a transfer, retry or remove.

    Each bound mirrors the test in tick() and its helpers, with the k-th tick from now seeing
    r.now + k. A bound left out (None) is one no tick can bring: only a message, a proposal or
    another bound's tick can, and the caller asks again after each of those.
    """
    due = [r.cfg.heartbeat_ticks - r.heartbeat_elapsed, _lease_due(r), _retry_due(r), _transfer_due(r),
           _autoremove_due(r)]
    return max(1, min(k for k in due if k is not None))


def _lease_due(r: "Raft") -> Optional[int]:
    """The tick at which _check_quorum steps down: a voter counts as active while
    r.now - last_heard < lease_ticks, so the k-th tick loses it from k = last_heard + lease - now."""
    expires = {member: pr.last_heard + r.cfg.lease_ticks - r.now
               for member, pr in r.progress.items() if member != r.id}
    for k in sorted({1} | {max(1, left) for left in expires.values()}):
        active = {member for member, left in expires.items() if k < left} | {r.id}
        if not has_quorum(r.conf.voters, active):
            return k
    return None  # the leader alone is a quorum


def _retry_due(r: "Raft") -> Optional[int]:
    """The tick at which _retry_stalled resends to the first member it would act on."""
    last = r.log.last_index()
    return min((pr.last_progress + r.cfg.replication_retry_ticks - r.now for member, pr in r.progress.items()
                if member != r.id and (pr.match < last or pr.state == ProgressState.SNAPSHOT)), default=None)


def _transfer_due(r: "Raft") -> Optional[int]:
    if r.transferee == NONE:
        return None
    return r.cfg.transfer_ticks - r.transfer_elapsed


def _autoremove_due(r: "Raft") -> Optional[int]:
    """The tick at which _autoremove proposes removing the first member it may remove."""
    if not r.cfg.autoremove_enabled or r.pending_conf_index > r.log.committed or r.transferee != NONE:
        return None  # the commit comes by a message, the transfer's end by its own due tick
    return min((pr.last_heard + r.cfg.remove_ticks - r.now for member, pr in r.progress.items()
                if member != r.id and not _kept_for_minimum(r, member)), default=None)


def _kept_for_minimum(r: "Raft", member: int) -> bool:
    return member in r.conf.voters and len(r.conf.voters) - 1 < r.cfg.autoremove_minimum


def _check_quorum(r: "Raft") -> bool:
    """Step down when fewer than a quorum of voters answered within lease_ticks."""
    active = {node for node, pr in r.progress.items() if r.now - pr.last_heard < r.cfg.lease_ticks}
    active.add(r.id)
    if has_quorum(r.conf.voters, active):
        return True
    r.say(f"lost quorum: no answer from a quorum within {r.cfg.lease_ticks} ticks; stepping down")
    r.become_follower(r.term, NONE)
    return False


def _retry_stalled(r: "Raft") -> None:
    """Datagrams get lost: resend from match+1 to a follower that made no progress for a while."""
    last = r.log.last_index()
    for member in sorted(r.progress):
        pr = r.progress[member]
        if member == r.id or r.now - pr.last_progress < r.cfg.replication_retry_ticks:
            continue
        if pr.match < last or pr.state == ProgressState.SNAPSHOT:
            if pr.state == ProgressState.PROBE:
                pr.probe_sent = False  # the probe or its answer was lost: probe the same index again
            else:
                pr.become_probe()  # restart from what the follower is known to hold
            pr.last_progress = r.now
            send_append(r, member)


def _autoremove(r: "Raft") -> None:
    if r.pending_conf_index > r.log.committed or r.transferee != NONE:
        return
    for member in sorted(r.progress):
        pr = r.progress[member]
        silent = r.now - pr.last_heard
        if member == r.id or silent < r.cfg.remove_ticks:
            continue
        if _kept_for_minimum(r, member):
            continue
        change = ConfChange(ConfChangeType.REMOVE, member)
        try:
            propose(r, Entry(term=0, index=0, type=EntryType.CONF_CHANGE, data=change.encode()))
        except ProposalDropped as exc:
            r.say(f"cannot remove silent member {member} yet: {exc}")
            return
        r.say(f"proposed removing {member}: silent for {silent} ticks")
        return
