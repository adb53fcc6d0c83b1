"""Datagrams crafted by hand in an "attacker" namespace: each is refused and counted."""

import logging
import socket

from qluster_agent.transport.auth import derive_key
from qluster_agent.transport.wire import Header, Kind, cluster_tag, encode

from qluster_agent.transport.sockets import open_socket

from .helpers import SECRET, lab_settings, meet, receive, wait_until

KEY = derive_key(SECRET, "qluster")
TAG = cluster_tag("qluster")


def datagram(payload: bytes = b"crafted", key: bytes = KEY, **changes) -> bytes:
    fields = dict(kind=Kind.DATA, cluster_tag=TAG, sender=66, incarnation=1_000, seq=1, dest=0,
                  msg_id=1, frag_index=0, frag_count=1)
    fields.update(changes)
    return encode(Header(**fields), payload, key)


def test_forged_replayed_foreign_truncated_oversized_and_wrong_version_datagrams_are_dropped(
        netlab, start_transport):
    attacker_host, victim_host, peer_host = netlab.add_hosts("x", "b", "c")
    victim = start_transport(victim_host, 2)
    peer = start_transport(peer_host, 3)
    meet(victim, peer)
    before = victim.stats()  # meeting took a hello or two the victim did not trust yet
    attacker = netlab.call_inside(attacker_host, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    target = (victim_host.ip, 9999)

    def send(data: bytes) -> None:
        attacker.sendto(data, target)

    # Member 66 runs an agent from before echoes (its hellos carry no challenge): trusted at
    # its first hello. A member of this version is not trusted before its echo (below).
    send(datagram(b"", kind=Kind.HELLO, msg_id=0))
    recorded = datagram(b"genuine, then replayed", seq=2)  # as if captured from a member
    crafted = {
        "dropped_bad_mac": datagram(key=derive_key(b"guessed secret!!", "qluster")),
        "dropped_foreign_cluster": datagram(cluster_tag=cluster_tag("another-cluster")),
        "dropped_truncated": recorded[:30],
        "dropped_oversized": datagram(b"x" * 64_001),
        "dropped_bad_version": recorded[:2] + b"\x07" + recorded[3:],
        "dropped_bad_magic": b"GET / HTTP/1.0\r\n" * 8,
        "dropped_malformed": datagram(frag_index=5, frag_count=2, seq=50),
        "dropped_not_for_me": datagram(b"for node 5", dest=5, seq=51),
        "dropped_untrusted": datagram(b"from a run that never echoed", sender=67, seq=52),
    }
    try:
        send(recorded)
        assert receive(victim, 1) == [(66, b"genuine, then replayed")]
        send(recorded)  # replay
        send(datagram(b"from a previous run", incarnation=999, seq=2))  # stale incarnation
        for data in crafted.values():
            send(data)
        expected = {counter: 1 for counter in crafted} | {"dropped_replayed": 1, "dropped_stale_incarnation": 1}
        wait_until(lambda: all(victim.stats()[name] - before[name] >= 1 for name in expected), what="every rejection")
        assert {name: victim.stats()[name] - before[name] for name in expected} == expected
        assert victim.recv(timeout=0) == []
        # The victim still works.
        peer.send(2, b"still listening")
        assert receive(victim, 1) == [(3, b"still listening")]
    finally:
        attacker.close()


def test_refusals_are_logged_once_per_sender_and_kind(netlab, start_transport, caplog):
    attacker_host, victim_host = netlab.add_hosts("x", "b")
    victim = start_transport(victim_host, 2)
    attacker = netlab.call_inside(attacker_host, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    caplog.set_level(logging.WARNING, logger="qluster_agent.transport")
    try:
        for seq in range(1, 11):
            attacker.sendto(datagram(key=derive_key(b"another secret!!", "qluster"), seq=seq),
                            (victim_host.ip, 9999))
        attacker.sendto(datagram(cluster_tag=cluster_tag("other")), (victim_host.ip, 9999))
        wait_until(lambda: victim.stats()["dropped_bad_mac"] == 10 and victim.stats()["dropped_foreign_cluster"] == 1,
                   what="the refusals")
    finally:
        attacker.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "qluster_agent.transport"]
    assert len(lines) == 2
    assert f"from {attacker_host.ip}:" in lines[0] and "failed authentication" in lines[0]
    assert "another cluster id" in lines[1]


def test_after_a_restart_a_receiver_takes_no_recorded_datagram_of_a_peers_current_run(netlab, start_transport):
    # The datagram replay window lived in memory only: a restarted receiver took recorded
    # datagrams of its peers' current runs, stale hellos included (which switchover and votes read).
    peer_host, victim_host, attacker_host = netlab.add_hosts("a", "b", "x")
    peer = start_transport(peer_host, 1)
    victim = start_transport(victim_host, 2)
    listener = netlab.call_inside(attacker_host, open_socket, lab_settings(attacker_host))  # joins the group
    listener.settimeout(5.0)
    try:
        meet(peer, victim)
        peer.set_hello(b"old metadata")
        peer.send(None, b"old message")
        recorded: list[bytes] = []
        while not (any(_kind(data) is Kind.DATA for data in recorded)
                   and any(b"old metadata" in data for data in recorded)):  # the message and a hello
            data = listener.recvfrom(70_000)[0]
            if int.from_bytes(data[8:16], "big") == 1:  # the peer's, not the victim's own
                recorded.append(data)
        assert receive(victim, 1) == [(1, b"old message")]
        victim.close()
        peer.set_hello(b"new metadata")
        restarted = start_transport(victim_host, 2)
        for data in recorded:  # played to the restarted receiver, before and after it met the peer
            listener.sendto(data, (victim_host.ip, 9999))
        wait_until(lambda: restarted.stats()["dropped_untrusted"] >= len(recorded), what="the recording refused")
        meet(peer, restarted)
        assert restarted.peers()[1].info == b"new metadata"
        for data in recorded:
            listener.sendto(data, (victim_host.ip, 9999))
        wait_until(lambda: restarted.stats()["dropped_replayed"] >= len(recorded), what="the second playing refused")
        assert restarted.peers()[1].info == b"new metadata"
        assert restarted.recv(timeout=0) == []
        peer.send(2, b"fresh")
        assert receive(restarted, 1) == [(1, b"fresh")]
    finally:
        listener.close()


def _kind(data: bytes) -> Kind:
    return Kind(data[3])
