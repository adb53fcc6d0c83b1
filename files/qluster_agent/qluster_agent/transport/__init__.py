"""UDP transport between agents: authenticated datagrams, fragmentation with recovery, pacing,
hello discovery, multicast or unicast.

    settings = TransportSettings.from_config(config)
    with Transport(settings, config.node_id, config.cluster_id, read_secret(config)) as transport:
        transport.set_hello(b"...")
        transport.send(None, b"to everyone")
        for sender, payload in transport.recv(timeout=0.05): ...
"""

from .discovery import PeerInfo
from .settings import TransportSettings
from .sockets import TransportError, interface_address
from .transport import Transport

__all__ = ["PeerInfo", "Transport", "TransportError", "TransportSettings", "interface_address"]
