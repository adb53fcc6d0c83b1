"""The consensus state machine: term and vote handling, role transitions, elections.

Role-specific behaviour lives in leader.py and follower.py; this module owns the state they
share and the order in which a message is looked at: term first, then votes, then the role.
Nothing here reads a clock or a socket; time is tick(), randomness the injected rng.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Optional

from . import follower, leader
from .config import CoreConfig
from .log import RaftLog
from .membership import apply_change
from .progress import Progress
from .quorum import VoteResult, vote_result
from .types import (NONE, ConfChange, ConfState, Entry, EntryType, HardState, Message, MessageType,
                    Role, Snapshot, SoftState)

Logger = Callable[[str], None]


class Raft:
    def __init__(self, config: CoreConfig, rng: random.Random, hard_state: HardState,
                 snapshot: Snapshot, entries: List[Entry], logger: Logger) -> None:
        self.cfg = config
        self.id = config.node_id
        self.rng = rng
        self.logger = logger
        self.log = RaftLog(snapshot, entries, hard_state.commit)
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.role = Role.FOLLOWER
        self.lead = NONE
        self.msgs: List[Message] = []
        self.now = 0  # ticks since start; only differences are used
        self.election_elapsed = 0
        self.timeout = 0  # randomised timeout of the current role's round
        self.heartbeat_elapsed = 0
        self.votes: Dict[int, bool] = {}
        self.progress: Dict[int, Progress] = {}
        self.pending_conf_index = 0  # leader: index of the last conf change that may be uncommitted
        self.transferee = NONE
        self.transfer_elapsed = 0
        self.vote_context = 0  # this node's WAL position, set by the runtime
        # A timing change being spread (see set_config): the config to take once it has.
        self.target_cfg: Optional[CoreConfig] = None
        self.change_left = 0
        # Membership is the latest conf change in the log, committed or not (Raft thesis §4.1):
        # with one change at a time, any two consecutive memberships share a majority, which is
        # what keeps a node with a stale log from being elected by a stale majority.
        self.conf = self.conf_at(self.log.last_index())
        self.become_follower(self.term, NONE)

    # ---- small helpers
    def promotable(self) -> bool:
        """May this node campaign: not an observer host, and a voter of its membership.

        A voter whose removal is in its log but not committed may still campaign (Raft thesis
        §4.2.2): it may hold the only copy of the change the remaining voters need, and they
        would refuse to elect anybody with a shorter log.
        """
        if self.cfg.observer:
            return False
        if self.id in self.conf.voters:
            return True
        return self.id in self.conf_at(self.log.committed).voters

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def send(self, type: MessageType, to: int, term: Optional[int] = None, **fields: object) -> None:
        self.msgs.append(Message(type=type, frm=self.id, to=to,
                                 term=self.term if term is None else term, **fields))  # type: ignore[arg-type]

    def say(self, line: str) -> None:
        self.logger(f"n{self.id} {line}")

    def randomized(self, base: int) -> int:
        return base + self.rng.randrange(base)

    def in_lease(self) -> bool:
        """Heard from a live leader within the minimum election timeout (leader stickiness)."""
        if self.role == Role.LEADER:
            return True  # a leader that lost its quorum steps down by lease_ticks
        return self.lead != NONE and self.election_elapsed < self.cfg.election_ticks

    # ---- role transitions: each logs one line
    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.votes = {}
        self.progress = {}
        self.transferee = NONE
        self.transfer_elapsed = 0

    def become_follower(self, term: int, lead: int) -> None:
        self._reset(term)
        self.role = Role.FOLLOWER
        self.lead = lead
        self.timeout = self.randomized(self.cfg.election_ticks)
        self.say(f"became follower at term {self.term}" + (f" (leader {lead})" if lead else ""))

    def become_pre_candidate(self) -> None:
        # Term and vote stay as they are: a pre-vote that fails must not disturb anybody.
        self.role = Role.PRE_CANDIDATE
        self.lead = NONE
        self.votes = {}
        self.election_elapsed = 0
        self.timeout = self.randomized(self.cfg.prevote_ticks)
        self.say(f"became pre-candidate at term {self.term}")

    def become_candidate(self) -> None:
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE
        self.timeout = self.randomized(self.cfg.vote_ticks)
        self.say(f"became candidate at term {self.term}")

    def become_leader(self) -> None:
        self._reset(self.term)
        self.role = Role.LEADER
        self.lead = self.id
        self.say(f"became leader at term {self.term}")
        leader.start_term(self)

    # ---- the single entry point for messages
    def step(self, m: Message) -> None:
        if m.type == MessageType.HUP:
            self.hup(force=False)
            return
        if m.term > self.term and not self._step_higher_term(m):
            return
        if m.term < self.term and m.type not in (MessageType.PROPOSE, MessageType.TRANSFER_LEADER,
                                                 MessageType.BEAT):
            self._step_lower_term(m)
            return
        if m.type in (MessageType.PRE_VOTE, MessageType.VOTE):
            self._handle_vote_request(m)
            return
        if self.role == Role.LEADER:
            leader.step(self, m)
        elif self.role == Role.FOLLOWER:
            follower.step_follower(self, m)
        else:
            follower.step_candidate(self, m)

    def _step_higher_term(self, m: Message) -> bool:
        """React to a message from a later term; False means drop the message."""
        if m.type in (MessageType.PRE_VOTE, MessageType.VOTE) and not m.force and self.in_lease():
            self.say(f"ignores {m.describe()}: leader {self.lead} is alive")
            return False
        if m.type == MessageType.PRE_VOTE:
            return True  # answering a pre-vote never changes our term
        if m.type == MessageType.PRE_VOTE_RESP and not m.reject:
            return True  # a grant carries the term we would campaign at, not a newer leader
        lead = m.frm if m.type in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP) else NONE
        self.become_follower(m.term, lead)
        return True

    def _step_lower_term(self, m: Message) -> None:
        if m.type in (MessageType.APP, MessageType.HEARTBEAT):
            # A stale leader: tell it our term so it steps down (it cannot learn it from votes,
            # which check-quorum makes it ignore).
            self.send(MessageType.APP_RESP, m.frm)
        elif m.type == MessageType.PRE_VOTE:
            self.send(MessageType.PRE_VOTE_RESP, m.frm, reject=True)
        # anything else from an old term is simply out of date

    def _handle_vote_request(self, m: Message) -> None:
        pre = m.type == MessageType.PRE_VOTE
        resp = MessageType.PRE_VOTE_RESP if pre else MessageType.VOTE_RESP
        can_vote = (self.vote == m.frm or (self.vote == NONE and self.lead == NONE)
                    or (pre and m.term > self.term))
        reason = ""
        if self.cfg.observer:
            reason = "observer"
        elif not can_vote:
            reason = f"already voted for {self.vote}" if self.vote != NONE else f"following {self.lead}"
        elif not self.log.is_up_to_date(m.index, m.log_term):
            reason = f"log {self.log.last_term()}/{self.log.last_index()} is newer"
        elif m.context < self.vote_context:
            # The database safety rule: never help elect a node whose database has less WAL.
            reason = f"wal {self.vote_context} > candidate's {m.context}"
        if reason:
            self.say(f"rejects {m.describe()}: {reason}")
            self.send(resp, m.frm, reject=True)
            return
        self.send(resp, m.frm, term=m.term)
        if not pre:
            self.election_elapsed = 0
            self.vote = m.frm

    # ---- elections
    def hup(self, force: bool) -> None:
        if self.role == Role.LEADER:
            return
        if not self.promotable():
            self.say("cannot campaign: not a voter")
            return
        if force:
            self.campaign(pre=False, force=True)
        else:
            self.campaign(pre=True)

    def campaign(self, pre: bool, force: bool = False) -> None:
        if pre:
            self.become_pre_candidate()
            kind, term = MessageType.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            kind, term = MessageType.VOTE, self.term
        self.votes[self.id] = True
        if self._tally() != VoteResult.PENDING:
            return
        for voter in sorted(self.conf.voters - {self.id}):
            self.send(kind, voter, term=term, index=self.log.last_index(), log_term=self.log.last_term(),
                      context=self.vote_context, force=force)

    def record_vote(self, m: Message) -> None:
        self.votes.setdefault(m.frm, not m.reject)
        self._tally()

    def _tally(self) -> VoteResult:
        result = vote_result(self.conf.voters, self.votes)
        if result == VoteResult.WON:
            if self.role == Role.PRE_CANDIDATE:
                self.campaign(pre=False)
            else:
                self.become_leader()
        elif result == VoteResult.LOST:
            self.say(f"lost the {'pre-vote' if self.role == Role.PRE_CANDIDATE else 'vote'} at term {self.term}")
            self.become_follower(self.term, NONE)
        return result

    # ---- commit and membership
    def commit_to(self, index: int) -> bool:
        if not self.log.commit_to(index):
            return False
        if self.role == Role.LEADER and self.id not in self.conf.voters:
            leader.step_down_if_removal_committed(self)
        return True

    def refresh_conf(self) -> None:
        """Recompute membership after the log changed (appended conf change or truncated tail)."""
        if not self.log.conf_dirty:
            return
        self.log.conf_dirty = False
        conf = self.conf_at(self.log.last_index())
        if conf == self.conf:
            return
        self.conf = conf
        self.say(f"switched to {conf.describe()}")
        if self.role == Role.LEADER:
            leader.on_conf_change(self)

    def conf_at(self, index: int) -> ConfState:
        """Membership as of `index` (for a snapshot taken there)."""
        conf = self.log.snapshot.conf
        for i in range(self.log.snapshot.index + 1, index + 1):
            entry = self.log.entry(i)
            if entry.type == EntryType.CONF_CHANGE:
                conf = apply_change(conf, ConfChange.decode(entry.data))
        return conf

    def restore(self, snap: Snapshot) -> bool:
        """Install a leader's snapshot; False when our log already covers it."""
        if snap.index <= self.log.committed:
            return False
        if self.log.match_term(snap.index, snap.term):
            self.commit_to(snap.index)  # fast-forward: our log already has it
            return False
        self.log.restore(snap)
        self.log.conf_dirty = False
        self.conf = snap.conf
        self.say(f"restored {snap.describe()}")
        return True

    # ---- ticks
    def set_config(self, config: CoreConfig, blend: bool = True) -> None:
        """Take new timing and policy; a timing change is blended in (CoreConfig.while_changing_to)."""
        if config.node_id != self.id:
            raise ValueError("set_config cannot change the node id")
        if not blend:
            self.cfg, self.target_cfg, self.change_left = config, None, 0
            self._redraw_election_timeout()
            return
        previous = self.target_cfg or self.cfg
        if config.timing() == previous.timing() and self.target_cfg is None:
            self.cfg = config
            return
        self.target_cfg = config
        self.change_left = previous.change_ticks(config)
        self.cfg = self.cfg.while_changing_to(config, previous)
        self._redraw_election_timeout()
        self.say(f"timing changes: election {config.election_ticks}, heartbeat {config.heartbeat_ticks}, "
                 f"lease {config.lease_ticks} ticks after {self.change_left} ticks; meanwhile election "
                 f"{self.cfg.election_ticks}, heartbeat {self.cfg.heartbeat_ticks}, lease {self.cfg.lease_ticks}")

    def _finish_timing_change(self) -> None:
        if self.target_cfg is None:
            return
        self.change_left -= 1
        if self.change_left > 0:
            return
        self.cfg, self.target_cfg = self.target_cfg, None
        self._redraw_election_timeout()
        self.say(f"timing changed: election {self.cfg.election_ticks}, heartbeat {self.cfg.heartbeat_ticks}, "
                 f"lease {self.cfg.lease_ticks} ticks")

    def _redraw_election_timeout(self) -> None:
        # A follower's timeout was drawn from the old election length; drawn again it follows
        # the new one (a longer one at once, so a slower leader's next beat is waited for).
        if self.role == Role.FOLLOWER:
            self.timeout = self.randomized(self.cfg.election_ticks)

    def ticks_until_due(self) -> int:
        """How many tick() calls from now until one may do more than count (>= 1): the ones
        before it change no role, send nothing and draw nothing from the rng, so a runtime may
        sleep through them and count them later. Waking sooner is always correct, only dearer."""
        role_due = leader.ticks_until_due(self) if self.role == Role.LEADER else follower.ticks_until_due(self)
        if self.target_cfg is None:
            return role_due
        # The tick that ends a timing change changes the timeouts the role's due was drawn from.
        return max(1, min(role_due, self.change_left))

    def awaits_answers(self) -> bool:
        """Whether a message may change what this node does before its due tick. Only a leader
        with nothing in flight can let them wait (leader.awaits_answers): a follower answers its
        leader's heartbeats at once, because the leader's lease counts on them."""
        return self.role != Role.LEADER or leader.awaits_answers(self)

    def tick(self) -> None:
        self.now += 1
        self._finish_timing_change()
        if self.role == Role.LEADER:
            leader.tick(self)
        else:
            follower.tick(self)
