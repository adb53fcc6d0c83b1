from __future__ import annotations

import pytest

from qluster_agent.raft import CoreConfig


@pytest.mark.parametrize("kwargs, fragment", [
    ({"node_id": 0}, "node_id"),
    ({"node_id": 1, "lease_ticks": 10, "election_ticks": 10}, "lease_ticks"),
    ({"node_id": 1, "heartbeat_ticks": 10, "election_ticks": 10}, "heartbeat_ticks"),
    ({"node_id": 1, "quorum_replication": False, "replication_factor": 0}, "no commit rule"),
    ({"node_id": 1, "transfer_ticks": 0}, "transfer_ticks"),
])
def test_invalid_config_is_refused_with_the_key_named(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        CoreConfig(**kwargs)


def test_defaults_keep_the_lease_shorter_than_the_election_timeout():
    cfg = CoreConfig(node_id=1)
    assert cfg.lease_ticks < cfg.election_ticks
