"""Pacing and the bounded queues."""

import time

from .helpers import meet, receive, wait_until


def test_pacing_limits_throughput_to_roughly_the_configured_rate(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta = start_transport(a, 1, pacing_rate=1_000_000)
    tb = start_transport(b, 2)
    meet(ta, tb)
    started = time.monotonic()
    ta.send(2, bytes(1_000_000))
    assert receive(tb, 1, timeout=10.0) == [(1, bytes(1_000_000))]
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5.0, f"1 MB at 1 MB/s took {elapsed:.2f}s"


def test_a_full_receive_queue_drops_the_oldest_messages(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1), start_transport(b, 2, recv_capacity=2)
    meet(ta, tb)
    for number in range(5):
        ta.send(2, b"message %d" % number)
    wait_until(lambda: tb.stats()["received_messages"] == 5, what="five messages at b")
    assert tb.recv(timeout=0) == [(1, b"message 3"), (1, b"message 4")]
    assert tb.stats()["recv_queue_dropped"] == 3


def test_a_full_send_queue_drops_the_oldest_messages(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    # At 1 MB/s the first 200 kB message keeps the sender busy for a while, so the next four
    # pile up behind it in a queue of two: the two oldest of them are dropped.
    ta = start_transport(a, 1, pacing_rate=1_000_000, send_capacity=2)
    tb = start_transport(b, 2)
    meet(ta, tb)
    messages = [bytes([number]) * 200_000 for number in range(5)]
    for message in messages:
        ta.send(2, message)
    assert ta.stats()["send_queue_dropped"] >= 2
    received = receive(tb, 5 - ta.stats()["send_queue_dropped"], timeout=10.0)
    assert [payload for _unused, payload in received[-2:]] == messages[-2:]
