"""The filters of plugins/filter/qluster_filters.py that the roles' preflights use."""

from __future__ import annotations

from ansible_collections.qhb.qluster.plugins.filter.qluster_filters import FilterModule, interface_holding

FACTS = {
    "interfaces": ["lo", "eth0", "br-lab.10", "veth:1"],
    "lo": {"device": "lo", "ipv4": {"address": "127.0.0.1"}},
    "eth0": {"device": "eth0", "ipv4": {"address": "10.0.0.11"}},
    "br_lab_10": {"device": "br-lab.10", "ipv4": {"address": "10.77.16.1"}},
    "veth_1": {"device": "veth:1"},  # no IPv4 address
}


def test_the_interface_that_holds_an_address_is_found_by_its_facts_key():
    assert interface_holding(FACTS, "10.0.0.11") == "eth0"
    assert interface_holding(FACTS, "10.77.16.1") == "br-lab.10"  # facts key br_lab_10


def test_no_interface_holds_the_address():
    for address in ("192.0.2.1", "", None):
        assert interface_holding(FACTS, address) == ""
    assert interface_holding({}, "10.0.0.11") == "" and interface_holding(None, "10.0.0.11") == ""


def test_both_filters_are_registered():
    assert set(FilterModule().filters()) == {"cluster_settings_problems", "interface_holding"}
