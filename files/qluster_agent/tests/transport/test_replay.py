from qluster_agent.transport.replay import (LEGACY_HELLO_TAG, WAIT_FOR_ECHO_S, PeerTrust, ReplayGuard, Verdict,
                                            hello_tag, new_incarnation)

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


ME, PEER, CHALLENGE = 2, 1, 12345
UNTRUSTED = Verdict.UNTRUSTED


def check(trust, seq, incarnation=100, hello=False, dest=0, tag=hello_tag(999, False), now=0.0):
    return trust.check(hello, PEER, incarnation, seq, dest, tag, now)


def test_a_peers_run_is_trusted_from_its_echo_on_and_nothing_it_sent_before():
    trust = PeerTrust(ME, CHALLENGE)
    assert [check(trust, seq) for seq in (5, 6)] == [UNTRUSTED, UNTRUSTED]  # recorded, or just early
    assert trust.wants_echo(now=0.0) and trust.waiting_run(PEER) == 100
    assert check(trust, 9, hello=True, dest=ME, tag=hello_tag(CHALLENGE, False)) is ACCEPT  # the echo
    assert not trust.wants_echo(now=0.0)
    assert [check(trust, seq) for seq in (6, 8, 9, 10, 10)] == [REPLAYED, REPLAYED, REPLAYED, ACCEPT, REPLAYED]


def test_an_echo_of_another_challenge_or_to_another_node_trusts_nothing():
    trust = PeerTrust(ME, CHALLENGE)
    assert check(trust, 3, hello=True, dest=ME, tag=hello_tag(CHALLENGE + 1, False)) is UNTRUSTED  # an old run's
    assert check(trust, 4, hello=True, dest=0, tag=hello_tag(CHALLENGE, True)) is UNTRUSTED  # not addressed to us
    assert check(trust, 5) is UNTRUSTED


def test_a_restarted_peer_waits_for_its_echo_and_its_old_run_stays_refused():
    trust = PeerTrust(ME, CHALLENGE)
    assert check(trust, 2, hello=True, dest=ME, tag=hello_tag(CHALLENGE, False)) is ACCEPT
    assert check(trust, 1, incarnation=200) is UNTRUSTED  # its new run: not before its echo
    assert check(trust, 3) is ACCEPT  # the old run still counts until the new one echoes
    assert check(trust, 4, incarnation=200, hello=True, dest=ME, tag=hello_tag(CHALLENGE, False)) is ACCEPT
    assert check(trust, 4) is STALE


def test_a_peer_from_before_echoes_is_trusted_at_its_first_hello():
    trust = PeerTrust(ME, CHALLENGE)
    assert check(trust, 1) is UNTRUSTED  # data before its hello: it may be either kind
    assert check(trust, 2, hello=True, tag=LEGACY_HELLO_TAG) is ACCEPT
    assert check(trust, 3) is ACCEPT and not trust.wants_echo(now=0.0)


def test_a_run_silent_for_a_while_no_longer_asks_for_echoes():
    trust = PeerTrust(ME, CHALLENGE)
    assert check(trust, 1, now=100.0) is UNTRUSTED
    assert trust.wants_echo(now=100.0 + WAIT_FOR_ECHO_S - 1)
    assert not trust.wants_echo(now=100.0 + WAIT_FOR_ECHO_S)
