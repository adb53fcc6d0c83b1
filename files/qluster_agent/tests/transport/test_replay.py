from qluster_agent.transport.replay import ReplayGuard, Verdict, new_incarnation

ACCEPT, REPLAYED, STALE = Verdict.ACCEPT, Verdict.REPLAYED, Verdict.STALE_INCARNATION


def test_each_sequence_number_is_accepted_once_even_out_of_order():
    guard = ReplayGuard(window=8)
    assert [guard.check(1, 100, seq) for seq in (1, 3, 2, 3, 1, 4)] == [ACCEPT, ACCEPT, ACCEPT, REPLAYED, REPLAYED, ACCEPT]


def test_too_old_sequence_numbers_are_refused():
    guard = ReplayGuard(window=8)
    assert guard.check(1, 100, 20) is ACCEPT
    assert guard.check(1, 100, 13) is ACCEPT  # 7 behind: inside the window
    assert guard.check(1, 100, 12) is REPLAYED  # 8 behind: outside


def test_a_restarted_sender_is_heard_and_its_old_run_is_not():
    guard = ReplayGuard()
    assert guard.check(1, 100, 50) is ACCEPT
    assert guard.check(1, 200, 1) is ACCEPT  # restarted: newer incarnation, counting from 1
    assert guard.check(1, 100, 51) is STALE
    assert guard.check(1, 200, 1) is REPLAYED


def test_senders_are_tracked_separately():
    guard = ReplayGuard()
    assert guard.check(1, 100, 1) is ACCEPT
    assert guard.check(2, 100, 1) is ACCEPT


def test_incarnations_grow_across_process_starts():
    first = new_incarnation()
    assert new_incarnation() > first >> 12 << 12
    assert 0 < first < 2**64


def test_a_stored_incarnation_wins_over_a_clock_that_stepped_back():
    far_future = new_incarnation() + (10**12 << 12)
    assert new_incarnation(previous=far_future) == far_future + 1
