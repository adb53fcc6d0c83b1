"""The lab's layout: where each host lives, for 3 and 5 database nodes (no podman needed)."""

from __future__ import annotations

import pytest

from qlab.topology import NFS_HOST, Lab


def test_addresses_stay_put_when_the_lab_grows():
    three, five = Lab(), Lab().with_nodes(5)
    names = [h.hostname for h in five.hosts]
    assert names == ["qluster-01", "qluster-02", "qluster-03", "qluster-04", "qluster-05", NFS_HOST]
    for host in three.hosts:
        assert three.static_address(host.hostname) == five.static_address(host.hostname)
    assert five.static_address("qluster-05") == "10.77.16.15"
    assert five.static_address(NFS_HOST) == "10.77.16.10"
    assert len({five.static_address(h.hostname) for h in five.hosts}) == 6


def test_a_lab_has_three_or_five_nodes():
    with pytest.raises(ValueError, match="3 or 5 database nodes, not 4"):
        Lab().with_nodes(4)
    with pytest.raises(KeyError, match="qluster-10"):
        Lab().static_address("qluster-10")
