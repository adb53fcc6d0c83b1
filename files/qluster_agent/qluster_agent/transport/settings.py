"""What the transport needs to know, taken from the agent's configuration."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.model import AgentConfig, UdpEndpoint
from .wire import MAX_UDP_PAYLOAD, OVERHEAD


@dataclass(frozen=True)
class TransportSettings:
    ip: str  # the node's own address (config `ip`)
    group: UdpEndpoint  # udp.socket.group; its port is the listening port in both modes
    interface: str | None  # udp.socket.interface: a name (eth0) or an IPv4 address; None = `ip`
    pacing_rate: int  # udp.socket.pacing-rate, bytes/s, 0 = unlimited
    loopback: bool  # udp.socket.loopback
    send_buffer_size: int  # udp.socket.send-buffer-size (SO_SNDBUF)
    recv_buffer_size: int  # udp.socket.recv-buffer-size (SO_RCVBUF)
    max_payload: int  # udp.max-log-size
    send_capacity: int  # udp.send-buffer-capacity (messages)
    recv_capacity: int  # udp.recv-buffer-capacity (messages)
    peers: tuple[UdpEndpoint, ...] = ()  # udp.peers; non-empty = unicast mode
    hello_interval: float = 1.0  # hello-retry-interval
    # Fragment recovery. The NACK delay is at least three datagram times at the pacing rate, so
    # a slowly paced sender is not asked for fragments it is still about to send.
    nack_delay: float = 0.05
    max_nacks: int = 10
    sent_cache_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_payload + OVERHEAD > MAX_UDP_PAYLOAD:
            raise ValueError(f"max-log-size {self.max_payload} + {OVERHEAD} header bytes exceed one UDP datagram")

    @property
    def effective_nack_delay(self) -> float:
        if self.pacing_rate == 0:
            return self.nack_delay
        return max(self.nack_delay, 3 * (self.max_payload + OVERHEAD) / self.pacing_rate)

    @classmethod
    def from_config(cls, config: AgentConfig) -> "TransportSettings":
        udp, socket = config.udp, config.udp.socket
        return cls(
            ip=config.ip,
            group=socket.group,
            interface=socket.interface,
            pacing_rate=socket.pacing_rate,
            loopback=socket.loopback,
            send_buffer_size=socket.send_buffer_size,
            recv_buffer_size=socket.recv_buffer_size,
            max_payload=udp.max_log_size,
            send_capacity=udp.send_buffer_capacity,
            recv_capacity=udp.recv_buffer_capacity,
            peers=udp.peers,
            hello_interval=config.hello_retry_interval,
        )
