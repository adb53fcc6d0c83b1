"""Votes compare (timeline, LSN): a node on the cluster's newer timeline outranks a forked one."""

from __future__ import annotations

from qluster_agent.agent.vote_context import LSN_MAX, vote_context
from qluster_agent.pg.status import WalMark


def test_newer_timeline_wins_over_more_wal_on_an_old_one():
    forked_old_primary = WalMark(timeline=1, lsn=0x5000000)
    new_history = WalMark(timeline=2, lsn=0x4800000)
    assert vote_context(new_history) > vote_context(forked_old_primary)


def test_same_timeline_orders_by_lsn():
    assert vote_context(WalMark(3, 100)) < vote_context(WalMark(3, 101))


def test_unknown_loses_and_values_fit_in_64_bits():
    assert vote_context(None) == 0 < vote_context(WalMark(1, 0))
    assert vote_context(WalMark(70000, 1 << 60)) == (0xFFFF << 48) | LSN_MAX
    assert vote_context(WalMark(70000, 1 << 60)) < 1 << 64


def test_a_position_just_past_a_page_header_equals_the_page_start():
    # pg_control's checkpoint location right after a segment switch vs a standby that has it all
    assert vote_context(WalMark(3, 0x5000028)) == vote_context(WalMark(3, 0x5000000))
    assert vote_context(WalMark(3, 0x5002018)) == vote_context(WalMark(3, 0x5002000))
    assert vote_context(WalMark(3, 0x5000030)) > vote_context(WalMark(3, 0x5000000))
