"""Transports in separate network namespaces exchanging messages over real sockets."""

import os
import time

import pytest

from qluster_agent.config import UdpEndpoint

from .helpers import LossyTransport, meet, receive, wait_until


def test_small_messages_reach_every_member_over_multicast(netlab, start_transport):
    a, b, c = netlab.add_hosts("a", "b", "c")
    ta, tb, tc = start_transport(a, 1), start_transport(b, 2), start_transport(c, 3)
    meet(ta, tb, tc)
    ta.send(None, b"to everyone")
    assert receive(tb, 1) == [(1, b"to everyone")]
    assert receive(tc, 1) == [(1, b"to everyone")]
    tc.send(None, b"")  # an empty payload is a message too
    assert receive(ta, 1) == [(3, b"")]


def test_an_addressed_message_reaches_only_its_destination(netlab, start_transport):
    a, b, c = netlab.add_hosts("a", "b", "c")
    ta, tb, tc = start_transport(a, 1), start_transport(b, 2), start_transport(c, 3)
    meet(ta, tb, tc)
    # Whether 3's address is known yet (unicast) or not (multicast, 2 drops it by its
    # destination id), only 3 delivers it. Messages of one sender arrive in order on this LAN,
    # so a later broadcast is a barrier: when 2 has it, 2 has had its chance to see the first.
    ta.send(3, b"only for 3")
    ta.send(None, b"barrier")
    assert receive(tc, 2) == [(1, b"only for 3"), (1, b"barrier")]
    assert receive(tb, 1) == [(1, b"barrier")]
    # Once 3 has said hello, a message for it goes to its address alone: 2 sees nothing of it.
    wait_until(lambda: 3 in ta.peers(), what="the hello of 3")

    def non_hello_datagrams() -> int:
        stats = tb.stats()
        return stats["received_datagrams"] - stats["hellos_received"]

    before = non_hello_datagrams()
    ta.send(3, b"only for 3, by unicast")
    ta.send(None, b"second barrier")
    assert receive(tc, 2) == [(1, b"only for 3, by unicast"), (1, b"second barrier")]
    assert receive(tb, 1) == [(1, b"second barrier")]
    assert non_hello_datagrams() - before == 1  # the barrier alone


@pytest.mark.parametrize("lost_fragment", [0, 1, -1], ids=["first", "second", "last"])
def test_a_large_message_is_fragmented_and_a_lost_fragment_recovered(netlab, start_transport, lost_fragment):
    a, b, c = netlab.add_hosts("a", "b", "c")
    ta = start_transport(a, 1)
    tb = start_transport(b, 2, cls=LossyTransport)
    tb.drop_index = lost_fragment  # nothing is sent to b before this line
    tc = start_transport(c, 3)
    meet(ta, tb, tc)
    payload = os.urandom(300_000)  # 5 fragments of at most 64000 bytes
    ta.send(None, payload)
    assert receive(tb, 1) == [(1, payload)]
    assert receive(tc, 1) == [(1, payload)]
    assert tb.dropped, "the test transport did not lose a fragment"
    assert tb.stats()["nacks_sent"] >= 1
    assert ta.stats()["nacks_received"] >= 1 and ta.stats()["fragments_retransmitted"] >= 1
    assert tc.stats()["nacks_sent"] == 0  # the receiver that lost nothing asked for nothing
    assert ta.stats()["sent_datagrams"] >= 5


def test_messages_larger_than_the_seed_limit_arrive_whole(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1), start_transport(b, 2)
    meet(ta, tb)
    payloads = [os.urandom(64_001), os.urandom(64_000), os.urandom(1_000_000)]
    for payload in payloads:
        ta.send(2, payload)
    assert receive(tb, 3) == [(1, payload) for payload in payloads]


def test_unicast_mode_uses_the_peer_list(netlab, start_transport):
    a, b, c = netlab.add_hosts("a", "b", "c")
    peers = tuple(UdpEndpoint(host.ip, 9999) for host in (a, b, c))
    # A group nobody else uses proves the messages did not travel by multicast.
    unicast = dict(peers=peers, group=UdpEndpoint("239.9.9.9", 9999))
    ta, tb, tc = (start_transport(host, n, **unicast) for n, host in enumerate((a, b, c), start=1))
    meet(ta, tb, tc)
    ta.send(None, b"to every peer")
    assert receive(tb, 1) == [(1, b"to every peer")]
    assert receive(tc, 1) == [(1, b"to every peer")]
    big = os.urandom(200_000)
    tc.send(2, big)
    assert receive(tb, 1) == [(3, big)]
    wait_until(lambda: set(ta.peers()) == {2, 3}, what="hellos over unicast")
    assert ta.peers()[2].address == (b.ip, 9999)


def test_a_restarted_node_is_heard_again(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    first, tb = start_transport(a, 1), start_transport(b, 2)
    meet(first, tb)
    first.send(None, b"before the restart")
    assert receive(tb, 1) == [(1, b"before the restart")]
    first.close()
    second = start_transport(a, 1, incarnation=first.incarnation + 1)  # e.g. stored on disk
    assert second.incarnation > first.incarnation
    meet(second, tb)
    second.send(None, b"after the restart")
    assert receive(tb, 1) == [(1, b"after the restart")]
    second.close()
    third = start_transport(a, 1)  # the default incarnation, from the clock
    assert third.incarnation > second.incarnation
    meet(third, tb)
    third.send(None, b"after the second restart")
    assert receive(tb, 1) == [(1, b"after the second restart")]
    assert tb.stats()["dropped_replayed"] == tb.stats()["dropped_stale_incarnation"] == 0


def test_an_isolated_host_hears_nothing_until_healed(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1), start_transport(b, 2)
    meet(ta, tb)
    netlab.isolate(b)
    ta.send(None, b"lost in the partition")

    def data_datagrams_sent() -> int:
        stats = ta.stats()
        return stats["sent_datagrams"] - stats["hellos_sent"]

    wait_until(lambda: data_datagrams_sent() == 1, what="the message to leave a")
    assert tb.recv(timeout=0.2) == []
    netlab.heal()
    ta.send(None, b"after the heal")
    assert receive(tb, 1) == [(1, b"after the heal")]


def test_caller_mistakes_raise_at_once(netlab, start_transport):
    (a,) = netlab.add_hosts("a")
    ta = start_transport(a, 1, max_payload=1000)
    with pytest.raises(ValueError, match="itself"):
        ta.send(1, b"me")
    with pytest.raises(ValueError, match="exceeds"):
        ta.send(None, bytes(1024 * 1000 + 1))
    with pytest.raises(ValueError, match="does not fit"):
        ta.set_hello(bytes(1001))
    ta.close()
    ta.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        ta.send(None, b"late")
    assert ta.recv(timeout=1.0) == []  # returns at once once closed


def test_max_log_size_is_the_payload_of_one_datagram(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1, max_payload=1000), start_transport(b, 2, max_payload=1000)
    meet(ta, tb)  # b's hello heard: the message goes to b alone
    before = ta.stats()
    ta.send(2, bytes(4500))
    assert receive(tb, 1) == [(1, bytes(4500))]

    def data_datagrams_sent() -> int:
        after = ta.stats()  # the counters move together, after each datagram left
        return (after["sent_datagrams"] - before["sent_datagrams"]) - (after["hellos_sent"] - before["hellos_sent"])

    # b may hold the last datagram a moment before a has counted it.
    wait_until(lambda: data_datagrams_sent() >= 5, what="a to count its datagrams")
    assert data_datagrams_sent() == 5  # 4 x 1000 + 500
    assert ta.stats()["sent_bytes"] - before["sent_bytes"] >= 4500 + 5 * 68


def test_a_burst_of_many_fragments_arrives_whole_at_every_member(netlab, start_transport):
    # 157 datagrams of 64 kB at the seed's pacing rate: the socket buffers fill, and whatever a
    # receiver's buffer drops is asked for again.
    a, b, c = netlab.add_hosts("a", "b", "c")
    ta, tb, tc = start_transport(a, 1), start_transport(b, 2), start_transport(c, 3)
    meet(ta, tb, tc)
    payload = os.urandom(10_000_000)
    ta.send(None, payload)
    assert receive(tb, 1, timeout=20.0) == [(1, payload)]
    assert receive(tc, 1, timeout=20.0) == [(1, payload)]
    assert ta.stats()["send_errors"] == 0


def test_an_idle_transport_sleeps_yet_hears_at_once_and_closes_at_once(netlab, start_transport):
    """Idle, the receiver waits in poll() without a timeout and recv() on a bare lock; a message
    sent while the sender thread is parked leaves from the caller's thread. None of this may
    delay a message, lose one sent in a burst, or keep close() waiting."""
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1), start_transport(b, 2)
    meet(ta, tb)
    assert tb.recv(timeout=0.05) == []  # waits the whole timeout, wakes with nothing
    for number in range(50):  # many sent back to back: some inline, the rest by the sender
        ta.send(2, b"%d" % number)
    assert receive(tb, 50) == [(1, b"%d" % number) for number in range(50)]
    assert ta.stats()["sent_messages"] == 50 and ta.stats()["send_queue_dropped"] == 0
    started = time.monotonic()
    tb.close()
    assert time.monotonic() - started < 1.0
    assert tb.recv(timeout=5.0) == []  # closed: returns at once
    assert time.monotonic() - started < 1.0


def test_a_wait_that_messages_do_not_end_returns_them_at_its_timeout_or_wake(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1), start_transport(b, 2)
    meet(ta, tb)
    ta.send(None, b"first")
    wait_until(lambda: tb.stats().get("received_messages", 0) >= 1, what="the message to arrive")
    started = time.monotonic()
    assert tb.recv(0.3, messages_wake=False) == [(1, b"first")]
    assert time.monotonic() - started >= 0.3  # it waited although a message was there
    ta.send(None, b"second")
    wait_until(lambda: tb.stats().get("received_messages", 0) >= 2, what="the second message")
    tb.wake()  # a command for the caller: that ends such a wait at once
    started = time.monotonic()
    assert tb.recv(5.0, messages_wake=False) == [(1, b"second")]
    assert time.monotonic() - started < 1.0
    # The wake is answered: the next wait lasts, whichever kind it is.
    started = time.monotonic()
    assert tb.recv(0.2) == []
    assert time.monotonic() - started >= 0.2
