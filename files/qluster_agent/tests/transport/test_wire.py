import pytest

from qluster_agent.transport.auth import derive_key
from qluster_agent.transport.wire import (
    HEADER,
    MAX_FRAGMENTS,
    OVERHEAD,
    Header,
    Kind,
    Rejected,
    cluster_tag,
    decode,
    encode,
)

KEY = derive_key(b"a shared secret of the cluster", "qluster")
TAG = cluster_tag("qluster")
MAX_PAYLOAD = 1000


def header(**changes) -> Header:
    fields = dict(kind=Kind.DATA, cluster_tag=TAG, sender=7, incarnation=99, seq=1, dest=0,
                  msg_id=5, frag_index=0, frag_count=1)
    fields.update(changes)
    return Header(**fields)


def rejection(datagram: bytes) -> str:
    with pytest.raises(Rejected) as error:
        decode(datagram, KEY, TAG, MAX_PAYLOAD)
    return error.value.counter


def test_a_datagram_round_trips_with_every_header_field():
    sent = header(kind=Kind.NACK, sender=2**64 - 1, incarnation=2**63, seq=2**40, dest=3,
                  msg_id=11, frag_index=2, frag_count=3)
    datagram = encode(sent, b"payload", KEY)
    assert len(datagram) == OVERHEAD + len(b"payload")
    assert decode(datagram, KEY, TAG, MAX_PAYLOAD) == (sent, b"payload")


def test_the_header_layout_is_fixed():
    assert HEADER.size == 52 and OVERHEAD == 68


def test_each_kind_of_bad_datagram_is_named():
    good = encode(header(), b"x" * 10, KEY)
    assert rejection(good[:OVERHEAD - 1]) == "dropped_truncated"
    assert rejection(b"XX" + good[2:]) == "dropped_bad_magic"
    assert rejection(good[:2] + b"\x02" + good[3:]) == "dropped_bad_version"
    assert rejection(encode(header(cluster_tag=cluster_tag("other")), b"x", KEY)) == "dropped_foreign_cluster"
    assert rejection(encode(header(), b"x" * (MAX_PAYLOAD + 1), KEY)) == "dropped_oversized"
    assert rejection(good[:-1] + bytes([good[-1] ^ 1])) == "dropped_bad_mac"
    assert rejection(good[:-20] + good[-16:]) == "dropped_bad_mac"  # cut in the middle
    assert rejection(encode(header(), b"x", derive_key(b"another secret!!", "qluster"))) == "dropped_bad_mac"
    flipped_sender = bytearray(good)
    flipped_sender[10] ^= 1
    assert rejection(bytes(flipped_sender)) == "dropped_bad_mac"


@pytest.mark.parametrize(
    "changes",
    [dict(sender=0), dict(frag_count=0), dict(frag_index=3, frag_count=3), dict(frag_count=MAX_FRAGMENTS + 1),
     dict(kind=9)],
)
def test_authentic_but_nonsensical_headers_are_malformed(changes):
    assert rejection(encode(header(**changes), b"x", KEY)) == "dropped_malformed"


def test_the_key_depends_on_the_cluster_id():
    assert derive_key(b"secret", "a") != derive_key(b"secret", "b")
