"""Datagrams forged on a raw UDP socket in a host outside the cluster: well-formed QRaft
datagrams carrying consensus messages that would force elections, but with a wrong HMAC or a
foreign cluster id. Every node drops and counts each one; the leader is undisturbed."""

from __future__ import annotations

import socket
import time

from qluster_agent.raft.codec import encode as encode_message
from qluster_agent.raft.types import Message, MessageType
from qluster_agent.transport.auth import derive_key
from qluster_agent.transport.wire import Header, Kind, cluster_tag, encode

from .cluster import CLUSTER_ID, GROUP, SECRET, ConsensusCluster


def forged(message: Message, key: bytes, cluster_id: str, seq: int) -> bytes:
    """A datagram as the leader's transport would send it, but signed with ``key``."""
    header = Header(Kind.DATA, cluster_tag(cluster_id), message.frm, incarnation=2**62, seq=seq,
                    dest=message.to, msg_id=seq, frag_index=0, frag_count=1)
    return encode(header, encode_message(message), key)


def attacker_socket(cluster: ConsensusCluster) -> socket.socket:
    host = next((h for h in cluster.lab.hosts if h.name == "x"), None) or cluster.lab.add_host("x")
    sock = cluster.lab.call_inside(host, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(host.ip))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return sock


def test_forged_and_foreign_cluster_datagrams_are_dropped_counted_and_harmless(cluster: ConsensusCluster) -> None:
    leader, term = cluster.wait_agreed(cluster.hosts)
    before = {node: status["transport"] for node, status in cluster.statuses(cluster.hosts).items()}
    # If accepted, TimeoutNow makes a follower campaign at once, and a heartbeat 100 terms ahead
    # makes the leader step down: either would change the leader or the term.
    messages = [Message(MessageType.TIMEOUT_NOW, frm=leader, to=node, term=term)
                for node in cluster.hosts if node != leader]
    follower = messages[0].to
    messages.append(Message(MessageType.HEARTBEAT, frm=follower, to=leader, term=term + 100))
    guessed_key = derive_key(b"a guessed secret", CLUSTER_ID)
    foreign_key = derive_key(SECRET.encode(), "another-cluster")  # right secret, other cluster
    datagrams = {"dropped_bad_mac": [forged(m, guessed_key, CLUSTER_ID, 1000 + i) for i, m in enumerate(messages)],
                 "dropped_foreign_cluster": [forged(m, foreign_key, "another-cluster", 2000 + i)
                                             for i, m in enumerate(messages)]}
    sock = attacker_socket(cluster)
    try:
        for batch in datagrams.values():
            for datagram in batch:
                sock.sendto(datagram, GROUP)  # multicast: every node receives every datagram
    finally:
        sock.close()

    def counted() -> dict[int, dict[str, int]] | None:
        statuses = cluster.statuses(cluster.hosts)
        if any(status is None for status in statuses.values()):
            return None
        counts = {node: {name: status["transport"][name] - before[node][name] for name in datagrams}
                  for node, status in statuses.items()}
        done = all(counts[node][name] >= len(batch) for node in counts for name, batch in datagrams.items())
        return counts if done else None

    counts = cluster.wait_for(counted, 5, "every node to count the forged datagrams")
    assert all(counts[node] == {name: len(batch) for name, batch in datagrams.items()} for node in counts)
    # Had one been accepted, its effect would show within a tick; look at statuses written
    # well after the last rejection was counted.
    counted_at = time.monotonic()
    cluster.wait_for(lambda: all(s and s["written_at"] > counted_at + 0.3 for s in cluster.statuses(cluster.hosts).values()),
                     5, "statuses written after the rejections")
    assert cluster.agreed(cluster.hosts) == (leader, term)
    for status in cluster.statuses(cluster.hosts).values():
        assert (status["runtime"]["undecodable"], status["runtime"]["spoofed"]) == (0, 0)
