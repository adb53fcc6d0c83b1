"""Hello discovery and the multicast loopback setting."""

import logging

from .helpers import wait_until


def test_hellos_fill_peers_with_each_node_metadata(netlab, start_transport):
    a, b, c = netlab.add_hosts("a", "b", "c")
    transports = {n: start_transport(host, n) for n, host in ((1, a), (2, b), (3, c))}
    for node_id, transport in transports.items():
        transport.set_hello(f"node {node_id}".encode())
    ta = transports[1]
    wait_until(lambda: {n: p.info for n, p in ta.peers().items()} == {2: b"node 2", 3: b"node 3"},
               what="hellos of 2 and 3")
    peer = ta.peers()[2]
    assert peer.node_id == 2 and peer.address == (b.ip, 9999)
    assert peer.incarnation == transports[2].incarnation
    transports[2].set_hello(b"node 2, now the leader")  # announced at once, not at the next interval
    wait_until(lambda: ta.peers()[2].info == b"node 2, now the leader", timeout=1.0, what="the new hello")
    assert 1 not in ta.peers()


def test_hellos_repeat_every_interval(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1, hello_interval=0.05), start_transport(b, 2)
    wait_until(lambda: tb.stats()["hellos_received"] >= 5 and ta.stats()["hellos_sent"] >= 5,
               timeout=3.0, what="five hellos sent and received")


def test_loopback_decides_whether_a_node_sees_its_own_multicast(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    looped = start_transport(a, 1, loopback=True)
    quiet = start_transport(b, 2, loopback=False)
    wait_until(lambda: looped.stats()["dropped_own"] >= 1, what="a's own hello, looped back")
    wait_until(lambda: 2 in looped.peers(), what="b's hello at a")  # so b's hello certainly left b
    assert quiet.stats()["dropped_own"] == 0
    assert quiet.recv(timeout=0) == [] and looped.recv(timeout=0) == []


def test_changing_metadata_often_does_not_flood_the_network(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1, hello_interval=60.0), start_transport(b, 2)
    ta.set_hello(b"same")
    wait_until(lambda: 1 in tb.peers() and tb.peers()[1].info == b"same", what="a's first hello")
    started = ta.stats()["hellos_sent"]
    for number in range(200):  # a loop setting its state every iteration
        ta.set_hello(b"same")
        ta.set_hello(b"state %d" % number)
    wait_until(lambda: tb.peers()[1].info == b"state 199", what="the last metadata at b")
    # One hello per 100ms at most; the loop above takes well under a second.
    assert ta.stats()["hellos_sent"] - started <= 12


def test_discovery_and_restarts_are_logged(netlab, start_transport, caplog):
    a, b = netlab.add_hosts("a", "b")
    caplog.set_level(logging.INFO, logger="qluster_agent.transport")
    listener = start_transport(a, 1)
    first = start_transport(b, 2)
    wait_until(lambda: 2 in listener.peers(), what="b's hello")
    first.close()
    second = start_transport(b, 2)
    wait_until(lambda: listener.peers()[2].incarnation == second.incarnation, what="the restarted b")

    def logged() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.name == "qluster_agent.transport.transport"]

    # The receiver thread logs just after it records the peer: poll rather than race it.
    wait_until(lambda: f"transport: node 2 at {b.ip}:9999 restarted" in logged(), what="the restart logged")
    assert f"transport: node 2 at {b.ip}:9999 discovered" in logged()


def test_a_listener_hears_each_change_of_a_peers_hello_once(netlab, start_transport):
    # The agent wakes its HA loop on a change (a leader's database created), not on repeats.
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1, hello_interval=0.05), start_transport(b, 2)
    heard: list[tuple[int, bytes]] = []
    tb.on_hello_change(lambda node_id, info: heard.append((node_id, info)))
    ta.set_hello(b"creating")
    wait_until(lambda: (1, b"creating") in heard, what="a's first hello")
    ta.set_hello(b"primary")
    wait_until(lambda: (1, b"primary") in heard, timeout=1.0, what="a's new hello")
    repeats = tb.stats()["hellos_received"]
    wait_until(lambda: tb.stats()["hellos_received"] >= repeats + 3, what="three more hellos")
    assert [info for _node, info in heard if info != b""] == [b"creating", b"primary"]


def test_a_failing_listener_does_not_stop_the_receiver(netlab, start_transport):
    a, b = netlab.add_hosts("a", "b")
    ta, tb = start_transport(a, 1, hello_interval=0.05), start_transport(b, 2)

    def broken(_node_id: int, _info: bytes) -> None:
        raise RuntimeError("listener bug")

    tb.on_hello_change(broken)
    ta.set_hello(b"one")
    wait_until(lambda: 1 in tb.peers() and tb.peers()[1].info == b"one", what="a's hello")
    ta.set_hello(b"two")
    wait_until(lambda: tb.peers()[1].info == b"two", timeout=1.0, what="a's next hello, received all the same")
