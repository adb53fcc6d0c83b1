from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from qluster_agent.transport import Transport
# netlab is a fixture: importing it makes it available to these tests.
from tests.netns import Host, NetLab, netlab  # noqa: F401  # pylint: disable=unused-import

from .helpers import SECRET, lab_settings


@pytest.fixture
def start_transport(netlab: NetLab) -> Iterator[Callable[..., Transport]]:  # noqa: F811
    """start_transport(host, node_id, cls=Transport, cluster_id=..., secret=..., **settings):
    a transport whose socket lives in ``host``; all are closed after the test."""
    started: list[Transport] = []

    def start(host: Host, node_id: int, *, cls: type = Transport, cluster_id: str = "qluster",
              secret: bytes = SECRET, incarnation: int | None = None, **overrides) -> Transport:
        transport = netlab.call_inside(host, cls, lab_settings(host, **overrides), node_id, cluster_id,
                                       secret, incarnation=incarnation)
        started.append(transport)
        return transport

    yield start
    for transport in started:
        transport.close()
