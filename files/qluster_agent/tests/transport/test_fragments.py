from qluster_agent.transport.fragments import (
    Reassembler,
    SentCache,
    decode_nack,
    encode_nack,
    nack_capacity,
    split,
)

import pytest

ADDRESS = ("10.77.200.11", 9999)


def test_split_covers_the_payload_in_order():
    assert split(b"abcdefg", 3) == [b"abc", b"def", b"g"]
    assert split(b"abcdef", 3) == [b"abc", b"def"]
    assert split(b"", 3) == [b""]


def test_fragments_in_any_order_make_the_message_once():
    reassembler = Reassembler()
    key = (7, 1, 42)
    assert reassembler.add(key, 2, 3, b"g", ADDRESS, now=0.0) is None
    assert reassembler.add(key, 0, 3, b"abc", ADDRESS, now=0.0) is None
    assert reassembler.add(key, 0, 3, b"abc", ADDRESS, now=0.0) is None  # duplicate
    assert reassembler.add(key, 1, 3, b"def", ADDRESS, now=0.0) == b"abcdefg"
    assert reassembler.add(key, 1, 3, b"def", ADDRESS, now=0.0) is None  # late re-send
    assert reassembler.duplicates == 2 and reassembler.pending == 0


def test_a_stalled_message_asks_for_what_is_missing_backing_off_then_gives_up():
    reassembler = Reassembler(max_nacks=2)
    key = (7, 1, 42)
    reassembler.add(key, 1, 4, b"b", ADDRESS, now=0.0)
    # Times are binary fractions so the arithmetic is exact.
    assert reassembler.due_nacks(now=0.125, delay=0.25) == []  # may still be arriving
    (request,) = reassembler.due_nacks(now=0.25, delay=0.25)
    assert (request.key, request.address, request.missing) == (key, ADDRESS, (0, 2, 3))
    assert reassembler.due_nacks(now=0.625, delay=0.25) == []  # the second NACK waits twice as long
    (request,) = reassembler.due_nacks(now=0.75, delay=0.25)
    assert request.missing == (0, 2, 3)
    assert reassembler.due_nacks(now=1.625, delay=0.25) == []
    assert reassembler.due_nacks(now=1.75, delay=0.25) == []  # two NACKs unanswered: given up
    assert reassembler.expired == 1 and reassembler.pending == 0
    assert reassembler.add(key, 0, 4, b"a", ADDRESS, now=2.0) is None  # a straggler restarts nothing
    assert reassembler.pending == 0


def test_a_slowly_paced_sender_is_given_three_gaps_before_a_nack():
    reassembler = Reassembler()
    key = (7, 1, 42)
    reassembler.add(key, 0, 4, b"a", ADDRESS, now=0.0)
    reassembler.add(key, 1, 4, b"b", ADDRESS, now=0.25)  # 250ms between fragments
    assert reassembler.due_nacks(now=0.875, delay=0.0625) == []
    (request,) = reassembler.due_nacks(now=1.0, delay=0.0625)
    assert request.missing == (2, 3)


def test_the_number_of_partial_messages_is_bounded():
    reassembler = Reassembler(max_pending=2)
    for msg_id in range(3):
        reassembler.add((7, 1, msg_id), 0, 2, b"x", ADDRESS, now=0.0)
    assert reassembler.pending == 2 and reassembler.evicted == 1
    assert reassembler.add((7, 1, 0), 1, 2, b"y", ADDRESS, now=0.0) is None  # the evicted one restarts


def test_the_sent_cache_is_bounded_in_bytes_and_forgets_the_oldest():
    cache = SentCache(max_bytes=10)
    cache.remember(1, [b"aaaa"])
    cache.remember(2, [b"bbbb"])
    cache.remember(3, [b"cccc"])
    assert cache.pieces(1) is None and cache.pieces(3) == [b"cccc"]
    cache.remember(4, [b"x" * 11])  # larger than the whole cache: not kept
    assert cache.pieces(4) is None and cache.pieces(3) == [b"cccc"]


def test_nack_payloads_round_trip():
    assert decode_nack(encode_nack(42, (0, 5, 1023))) == (42, [0, 5, 1023])
    assert nack_capacity(64000) == 31996
    with pytest.raises(ValueError):
        decode_nack(b"\x00" * 9)
