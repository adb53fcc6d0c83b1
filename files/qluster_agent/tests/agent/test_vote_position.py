"""VotePosition: what one cycle's database status makes this node vote (and campaign) with."""

from __future__ import annotations

import pytest

from qluster_agent.agent.vote_context import vote_context
from qluster_agent.agent.vote_position import VotePosition
from qluster_agent.pg.status import DataDirState, PgStatus, WalMark

TL = 3


def primary(lsn: int) -> PgStatus:
    return PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=False, timeline=TL,
                    current_lsn=lsn, flush_lsn=lsn)


def replica(received: int) -> PgStatus:
    return PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True, timeline=TL,
                    received_lsn=received, replayed_lsn=received)


def stopped(wal_end: int | None, datadir: DataDirState = DataDirState.VALID, checkpoint: int | None = None) -> PgStatus:
    return PgStatus(datadir=datadir, running=False, accepting=False, timeline=TL if checkpoint else None,
                    wal_end_lsn=wal_end, checkpoint_lsn=checkpoint, system_identifier=7)


def unreadable() -> PgStatus:  # a running server whose status query failed
    return PgStatus(datadir=DataDirState.VALID, running=True, accepting=False, error="timeout")


def at(lsn: int) -> int:
    return vote_context(WalMark(TL, lsn))


# (statuses the cycles read, in order) -> (what the core is given after the last one, the context kept)
@pytest.mark.parametrize("statuses, gives, keeps", [
    pytest.param([replica(0x5000000)], at(0x5000000), at(0x5000000), id="a replica votes with what it received"),
    pytest.param([replica(0x5000000), replica(0x4000000)], at(0x5000000), at(0x5000000),
                 id="a replica's position never goes down within a run"),
    pytest.param([replica(0x5000000), primary(0x4800000)], at(0x4800000), at(0x4800000),
                 id="a primary's write position is not kept: it is its own"),
    pytest.param([primary(0x5000100), replica(0x5000000)], at(0x5000000), at(0x5000000),
                 id="a former primary, now a replica, starts keeping from what it receives"),
    pytest.param([replica(0x5000000), unreadable()], 0, at(0x5000000),
                 id="no position to stand by: campaign with none, keep the last for the beacon"),
    pytest.param([stopped(None, DataDirState.EMPTY)], None, 0,
                 id="a brand-new empty node leaves the core as it is"),
    pytest.param([replica(0x5000000), stopped(None, DataDirState.EMPTY)], 0, at(0x5000000),
                 id="a node that held data and lost it campaigns with none"),
])
def test_what_each_cycle_gives_the_core(tmp_path, statuses, gives, keeps) -> None:
    position = VotePosition(str(tmp_path))
    choice = None
    for status in statuses:
        choice = position.observe(status)
    assert choice.context == gives
    assert choice.reason
    assert position.context == keeps


def test_the_position_of_a_stopped_server_survives_an_agent_restart(tmp_path) -> None:
    before = VotePosition(str(tmp_path))
    before.observe(replica(0x5000000))
    before.observe(stopped(0x5000000, checkpoint=0x4F00028))
    after = VotePosition(str(tmp_path))
    assert after.context == at(0x5000000)
    # Its data directory unreadable after the restart: it still stands by what it read.
    half_rewound = PgStatus(datadir=DataDirState.INVALID, running=False, accepting=False)
    assert after.observe(half_rewound).context is None
    assert after.answer(half_rewound, lambda: None, lambda: False) == at(0x5000000)


# (last published status, the server's position read now, receiving now) -> the answer (None: abstain)
@pytest.mark.parametrize("last, read_now, receiving, answer", [
    pytest.param(None, 0x5100000, True, None, id="before the first cycle: abstain"),
    pytest.param(replica(0x5000000), 0x5100000, True, at(0x5100000), id="the live read raises it"),
    pytest.param(replica(0x5000000), 0x4000000, True, at(0x5000000), id="the live read never lowers it"),
    pytest.param(replica(0x5000000), None, True, None, id="a running server that does not answer: abstain"),
])
def test_what_a_vote_is_answered_with(tmp_path, last, read_now, receiving, answer) -> None:
    position = VotePosition(str(tmp_path))
    position.observe(replica(0x5000000))
    assert position.answer(last, lambda: read_now, lambda: receiving) == answer
