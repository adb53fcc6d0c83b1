"""Wire codec: every message survives a round trip; hostile bytes only ever raise DecodeError."""
from __future__ import annotations

import random

import pytest

from qluster_agent.raft.codec import DecodeError, decode, encode
from qluster_agent.raft.types import (ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType,
                                      Snapshot)

SNAP = Snapshot(42, 7, ConfState(frozenset({1, 2, 3}), frozenset({9})), b"\x00state\xff" * 3)
SAMPLES = [
    Message(MessageType.APP, 1, 2, term=5, log_term=4, index=10, commit=9, entries=(
        Entry(4, 11, EntryType.NORMAL, b"\x00\x01binary\xff"),
        Entry(5, 12, EntryType.CONF_CHANGE, ConfChange(ConfChangeType.ADD_OBSERVER, 4).encode()),
        Entry(5, 13, EntryType.NORMAL, b""))),
    Message(MessageType.APP, 1, 3, term=5, log_term=4, index=10, commit=9),
    Message(MessageType.APP_RESP, 2, 1, term=5, index=10, reject=True, reject_hint=7, log_term=3),
    Message(MessageType.APP_RESP, 2, 1, term=5, index=13),
    Message(MessageType.HEARTBEAT, 1, 2, term=5, commit=12),
    Message(MessageType.HEARTBEAT_RESP, 2, 1, term=5),
    Message(MessageType.PRE_VOTE, 3, 1, term=6, index=13, log_term=5, context=2 ** 63 + 5),
    Message(MessageType.PRE_VOTE_RESP, 1, 3, term=6, reject=True),
    Message(MessageType.VOTE, 3, 1, term=6, index=13, log_term=5, context=99, force=True),
    Message(MessageType.VOTE_RESP, 1, 3, term=6),
    Message(MessageType.SNAP, 1, 4, term=7, snapshot=SNAP),
    Message(MessageType.TIMEOUT_NOW, 1, 2, term=7),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=[m.describe()[:40] for m in SAMPLES])
def test_round_trip(msg):
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("msg", SAMPLES[:1] + SAMPLES[10:11], ids=["app", "snap"])
def test_every_truncation_is_a_decode_error(msg):
    data = encode(msg)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:cut])


def test_trailing_bytes_are_refused():
    with pytest.raises(DecodeError, match="trailing"):
        decode(encode(SAMPLES[4]) + b"\x00")


def test_local_messages_never_go_on_the_wire():
    with pytest.raises(ValueError):
        encode(Message(MessageType.HUP, 1, 1))


@pytest.mark.parametrize("mutate, fragment", [
    (lambda b: b"XX" + b[2:], "magic"),
    (lambda b: b[:2] + b"\x09" + b[3:], "version"),
    (lambda b: b[:3] + b"\x63" + b[4:], "unknown message type"),
    (lambda b: b[:3] + b"\x00" + b[4:], "local message type"),
    (lambda b: b[:4] + b"\x00" * 8 + b[12:], "positive"),
])
def test_specific_garbage_is_named(mutate, fragment):
    with pytest.raises(DecodeError, match=fragment):
        decode(mutate(encode(SAMPLES[4])))


def test_semantic_checks_protect_the_core():
    gap = Message(MessageType.APP, 1, 2, term=5, index=10, entries=(Entry(5, 12),))
    with pytest.raises(DecodeError, match="contiguous"):
        decode(encode(gap))
    future = Message(MessageType.APP, 1, 2, term=5, index=10, entries=(Entry(6, 11),))
    with pytest.raises(DecodeError, match="term"):
        decode(encode(future))
    bad_change = Message(MessageType.APP, 1, 2, term=5, index=10, entries=(Entry(5, 11, EntryType.CONF_CHANGE, b"x"),))
    with pytest.raises(DecodeError, match="conf change"):
        decode(encode(bad_change))


def test_fuzz_bit_flips_and_garbage_only_raise_decode_error():
    rng = random.Random(1234)  # seeded: the same inputs on every run
    encoded = [encode(m) for m in SAMPLES]
    for _unused in range(20000):
        data = bytearray(rng.choice(encoded))
        for _unused in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.6 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif kind < 0.8:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif data:
                del data[rng.randrange(len(data))]
        try:
            msg = decode(bytes(data))
        except DecodeError:
            continue
        assert decode(encode(msg)) == msg  # whatever decodes is a well-formed message
    for _unused in range(5000):
        junk = bytes(rng.randrange(256) for _unused in range(rng.randrange(120)))
        try:
            decode(junk)
        except DecodeError:
            pass


def test_non_bytes_input_is_a_decode_error():
    with pytest.raises(DecodeError):
        decode("not bytes")  # type: ignore[arg-type]
