"""Votes compare (timeline, LSN): a node on the cluster's newer timeline outranks a forked one."""

from __future__ import annotations

from qluster_agent.agent.vote_context import (
    LSN_MAX, HeldDataMarker, StoppedSinceRead, context_to_answer, stands_by_no_position, vote_context)
from qluster_agent.pg.status import DataDirState, PgStatus, WalMark


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


# --- context_to_answer: what a vote is answered with, or abstaining ---------------------------

KEPT = vote_context(WalMark(3, 0x5000000))


def stopped(wal_end_lsn=0x5000000, datadir=DataDirState.VALID) -> PgStatus:
    return PgStatus(datadir=datadir, running=False, accepting=False, wal_end_lsn=wal_end_lsn)


def running() -> PgStatus:
    return PgStatus(datadir=DataDirState.VALID, running=True, accepting=True)


def no_answer() -> None:
    return None


def test_a_live_read_raises_the_context_on_the_known_timeline():
    assert context_to_answer(KEPT, running(), lambda: 0x5100000) == vote_context(WalMark(3, 0x5100000))
    assert context_to_answer(KEPT, running(), lambda: 0x4000000) == KEPT  # never lowered


def test_a_stopped_database_with_its_end_of_wal_read_from_disk_votes_with_it():
    assert context_to_answer(KEPT, stopped(), no_answer) == KEPT


def test_a_brand_new_node_with_an_empty_data_directory_votes_with_nothing():
    assert context_to_answer(0, stopped(wal_end_lsn=None, datadir=DataDirState.EMPTY), no_answer) == 0


def test_without_a_position_to_stand_by_the_node_abstains():
    # Before the first cycle after a start (every node restarted at once).
    assert context_to_answer(0, None, no_answer) is None
    assert context_to_answer(KEPT, None, lambda: 0x5100000) is None
    # A data directory deleted under the primary, which went on committing before it was fenced.
    assert context_to_answer(KEPT, stopped(wal_end_lsn=None, datadir=DataDirState.INVALID), no_answer) is None
    assert context_to_answer(0, stopped(wal_end_lsn=None, datadir=DataDirState.INVALID), no_answer) is None
    # A server that ran at the last cycle and does not answer now.
    assert context_to_answer(KEPT, running(), no_answer) is None
    # Stopped, but its end of WAL not read (an operation was running).
    assert context_to_answer(KEPT, stopped(wal_end_lsn=None), no_answer) is None


def test_the_ha_loop_campaigns_with_no_position_exactly_when_it_would_abstain():
    assert stands_by_no_position(KEPT, running())  # a running server the cycle could not read
    assert stands_by_no_position(KEPT, stopped(wal_end_lsn=None, datadir=DataDirState.INVALID))
    assert not stands_by_no_position(KEPT, stopped())
    assert not stands_by_no_position(0, stopped(wal_end_lsn=None, datadir=DataDirState.EMPTY))


def test_a_standby_not_yet_consistent_stands_by_its_wal_on_disk_while_nothing_arrives():
    # It takes no query (so read_now has nothing), but the last cycle read its WAL end from
    # disk and it has no walreceiver: it confirmed nothing past that, so it can vote.
    waiting = PgStatus(datadir=DataDirState.VALID, running=True, accepting=False, wal_end_lsn=0x5000000)
    assert context_to_answer(KEPT, waiting, no_answer, lambda: False) == KEPT
    # A walreceiver may have started since: WAL may arrive and be confirmed at any moment.
    assert context_to_answer(KEPT, waiting, no_answer, lambda: True) is None
    # Without the disk read (not a recovering standby, or receiving when the cycle looked).
    assert context_to_answer(KEPT, running(), no_answer, lambda: False) is None


def test_a_server_stopped_since_its_wal_was_read_stands_by_it_whatever_became_of_its_files():
    # A former primary, stopped, its end of WAL read; then a rewind that failed half-way left
    # pg_wal unreadable (the chaos run: its abstention and a wiped leader's left no quorum).
    watch = StoppedSinceRead()
    watch.observe(stopped(), KEPT)
    half_rewound = stopped(wal_end_lsn=None)  # same pg_control: a failed pg_rewind writes it last
    watch.observe(half_rewound, KEPT)
    assert watch.holds
    assert context_to_answer(KEPT, half_rewound, no_answer, stopped_since_read=watch.holds) == KEPT
    # Emptied while stopped (a re-clone under way): it cannot have run, so it confirmed nothing.
    emptied = stopped(wal_end_lsn=None, datadir=DataDirState.EMPTY)
    watch.observe(emptied, KEPT)
    assert context_to_answer(KEPT, emptied, no_answer, stopped_since_read=watch.holds) == KEPT


def test_a_server_seen_running_or_with_a_new_pg_control_no_longer_stands_by_the_old_read():
    watch = StoppedSinceRead()
    watch.observe(stopped(), KEPT)
    watch.observe(running(), KEPT)
    assert not watch.holds
    deleted_under_it = stopped(wal_end_lsn=None, datadir=DataDirState.EMPTY)  # it ran, then was deleted
    watch.observe(deleted_under_it, KEPT)
    assert context_to_answer(KEPT, deleted_under_it, no_answer, stopped_since_read=watch.holds) is None
    # Started and stopped again between two cycles: pg_control's checkpoint moved.
    watch.observe(stopped(), KEPT)
    moved = PgStatus(datadir=DataDirState.VALID, running=False, accepting=False, checkpoint_lsn=0x6000000)
    watch.observe(moved, KEPT)
    assert not watch.holds
    assert stands_by_no_position(KEPT, moved, watch.holds)


def test_an_emptied_node_whose_agent_restarted_abstains_if_it_ever_held_data(tmp_path):
    # The chaos run's lab: the leader's data wiped, its agent restarted (kept lost with it). Voting
    # as a new node (0, for anyone) elected a node that lacked what the third node confirmed.
    empty = stopped(wal_end_lsn=None, datadir=DataDirState.EMPTY)
    assert context_to_answer(0, empty, no_answer, held_data=False) == 0  # a brand-new node
    marker = HeldDataMarker(str(tmp_path))
    assert not marker.present
    marker.note(empty)
    assert not marker.present
    marker.note(PgStatus(datadir=DataDirState.VALID, running=True, accepting=True, in_recovery=True,
                         timeline=3, received_lsn=0x5000000))
    assert marker.present
    after_restart = HeldDataMarker(str(tmp_path))
    assert after_restart.present
    assert context_to_answer(0, empty, no_answer, held_data=after_restart.present) is None
    assert stands_by_no_position(0, empty, held_data=after_restart.present)
    # A cluster reinitialisation empties the agent's state, and with it the marker.
    (tmp_path / HeldDataMarker.NAME).unlink()
    assert not HeldDataMarker(str(tmp_path)).present


def test_an_agent_restarted_while_its_data_directory_is_unreadable_still_knows_where_its_wal_ended(tmp_path):
    # CI's lab: two former primaries' rewinds failed at once (their source stopped), then every
    # agent restarted; both abstained for good and the third node, holding the newest WAL, had
    # no quorum. The position read while stopped is saved with the pg_control it belongs to.
    watch = StoppedSinceRead(str(tmp_path))
    read = PgStatus(datadir=DataDirState.VALID, running=False, accepting=False, wal_end_lsn=0x5000000,
                    checkpoint_lsn=0x4F00028, system_identifier=7)
    watch.observe(read, KEPT)
    restarted = StoppedSinceRead(str(tmp_path))
    assert restarted.holds and restarted.context == KEPT
    half_rewound = PgStatus(datadir=DataDirState.INVALID, running=False, accepting=False)
    restarted.observe(half_rewound, KEPT)
    assert context_to_answer(restarted.context, half_rewound, no_answer, stopped_since_read=restarted.holds) == KEPT
    # Seen running: the saved position no longer stands, after a restart either.
    restarted.observe(running(), KEPT)
    assert not StoppedSinceRead(str(tmp_path)).holds
