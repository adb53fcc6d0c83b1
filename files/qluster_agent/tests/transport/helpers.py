"""Shared pieces of the real-socket transport tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qluster_agent.config import UdpEndpoint
from qluster_agent.transport import Transport, TransportSettings
from qluster_agent.transport.wire import HEADER, Kind

from tests.netns import Host

SECRET = b"test secret of the lab cluster"
GROUP = UdpEndpoint("239.0.0.1", 9999)


def lab_settings(host: Host, **overrides: Any) -> TransportSettings:
    """The seed's udp values, the lab host's address and interface, and a quick hello."""
    values: dict[str, Any] = dict(
        ip=host.ip,
        group=GROUP,
        interface=host.interface,
        pacing_rate=268435456,
        loopback=False,
        send_buffer_size=1048576,
        recv_buffer_size=1048576,
        max_payload=64000,
        send_capacity=256,
        recv_capacity=256,
        hello_interval=0.2,
    )
    values.update(overrides)
    return TransportSettings(**values)


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def meet(*transports: Transport, timeout: float = 5.0) -> None:
    """Wait until each transport trusts every other's current run (replay.PeerTrust: a hello
    exchange and an echo, milliseconds): what one sends before that, the other drops."""
    def met() -> bool:
        for one in transports:
            known = one.peers()
            for other in transports:
                if other is not one and (other.node_id not in known
                                         or known[other.node_id].incarnation != other.incarnation):
                    return False
        return True
    wait_until(met, timeout, f"transports {[t.node_id for t in transports]} to trust each other")


def receive(transport: Transport, count: int, timeout: float = 5.0) -> list[tuple[int, bytes]]:
    """Collect ``count`` messages (fail if they do not all arrive within ``timeout``)."""
    deadline = time.monotonic() + timeout
    messages: list[tuple[int, bytes]] = []
    while len(messages) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"received {len(messages)} of {count} messages: {messages!r:.200}")
        messages += transport.recv(timeout=remaining)
    return messages


class LossyTransport(Transport):
    """Loses, once, the incoming fragment ``drop_index`` of the first fragmented message, the
    way a congested switch would."""

    drop_index = 1

    def _on_datagram(self, datagram: bytes, address: tuple[str, int], now: float) -> None:
        if not getattr(self, "dropped", False) and len(datagram) >= HEADER.size:
            fields = HEADER.unpack_from(datagram)
            kind, index, count = fields[2], fields[9], fields[10]
            if kind == Kind.DATA and count > 1 and index == (self.drop_index % count):
                self.dropped = True
                return
        super()._on_datagram(datagram, address, now)
