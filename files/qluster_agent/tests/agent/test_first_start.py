"""A node without consensus state and without the marker: bootstrap a new cluster, wait, or join.

The table: who was heard (newcomers or possible members), whether a unicast peer list says
who there is to hear, and how long the node has listened.
"""

from __future__ import annotations

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.first_start import Heard, Verdict, first_start

WINDOW = 2.0
N2, N3, POOLER = ("10.0.0.2", 9999), ("10.0.0.3", 9999), ("10.0.0.9", 9999)
LISTED = frozenset({N2, N3, POOLER})


def beacon(newcomer: bool, observer: bool = False) -> bytes:
    return Beacon("n", "10.0.0.2", 8080, None if observer else 5432, observer, newcomer=newcomer).encode()


JOINER = beacon(True)
MEMBER = beacon(False)
NEW_POOLER = beacon(True, observer=True)
OLDER_AGENT = Beacon("n", "10.0.0.2", 8080, 5432, False).encode().replace(b',"newcomer":false', b"")


@pytest.mark.parametrize("heard, listed, waited, verdict", [
    # Nobody heard: the whole window, then a new cluster (multicast or unicast alike).
    ({}, None, 0.5, Verdict.WAIT),
    ({}, None, WINDOW, Verdict.BOOTSTRAP),
    ({}, LISTED, 0.5, Verdict.WAIT),
    # A node that is not a newcomer may lead or belong to a cluster: never a second one.
    ({2: Heard(N2, MEMBER)}, None, 0.1, Verdict.JOIN),
    ({2: Heard(N2, MEMBER), 3: Heard(N3, JOINER), 9: Heard(POOLER, NEW_POOLER)}, LISTED, 0.1, Verdict.JOIN),
    ({2: Heard(N2, MEMBER)}, LISTED, 10 * WINDOW, Verdict.JOIN),
    # An unreadable beacon, or an older agent's (no newcomer key), counts as a possible member.
    ({2: Heard(N2, b"{not a beacon")}, LISTED, 0.1, Verdict.JOIN),
    ({2: Heard(N2, OLDER_AGENT)}, LISTED, 0.1, Verdict.JOIN),
    # The empty hello a transport sends before its node set its beacon tells nothing yet: not
    # a member (the node may be a joiner), and not a newcomer either (it may be a member).
    ({2: Heard(N2, b""), 3: Heard(N3, JOINER)}, None, 0.1, Verdict.WAIT),
    ({2: Heard(N2, b""), 3: Heard(N3, JOINER), 9: Heard(POOLER, NEW_POOLER)}, LISTED, 0.1, Verdict.WAIT),
    ({2: Heard(N2, b""), 3: Heard(N3, JOINER)}, None, WINDOW, Verdict.BOOTSTRAP),
    # Joiners starting at the same moment do not stop the initial leader (they used to, forever).
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER)}, None, 0.5, Verdict.WAIT),
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER)}, None, WINDOW, Verdict.BOOTSTRAP),
    # Every listed peer heard, each a newcomer: nobody left who could hold a cluster.
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER), 9: Heard(POOLER, NEW_POOLER)}, LISTED, 0.1, Verdict.BOOTSTRAP),
    # One listed peer not heard yet (down, or slower to start): the window still counts.
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER)}, LISTED, 0.1, Verdict.WAIT),
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER)}, LISTED, WINDOW, Verdict.BOOTSTRAP),
    # A newcomer at an address that is not listed does not stand in for a listed one.
    ({2: Heard(N2, JOINER), 3: Heard(N3, JOINER), 8: Heard(("10.0.0.8", 9999), JOINER)}, LISTED, 0.1,
     Verdict.WAIT),
    # A peer list naming nobody else: nobody to hear.
    ({}, frozenset(), 0.0, Verdict.BOOTSTRAP),
])
def test_the_verdict(heard, listed, waited, verdict):
    assert first_start(heard, listed, waited, WINDOW).verdict is verdict


def test_the_reasons_say_who_was_heard_and_why():
    joined = first_start({3: Heard(N3, MEMBER), 2: Heard(N2, JOINER)}, None, 0.1, WINDOW)
    assert joined.reason == "nodes [3], which may belong to an existing cluster, were heard"
    listed = first_start({2: Heard(N2, JOINER), 3: Heard(N3, JOINER), 9: Heard(POOLER, NEW_POOLER)}, LISTED, 0.1,
                         WINDOW)
    assert listed.reason == "every other peer of udp.peers (3) is a newcomer waiting to be added"
    alone = first_start({2: Heard(N2, JOINER)}, None, WINDOW, WINDOW)
    assert alone.reason == "only newcomers (1) heard for 2.0 s"
    assert first_start({}, None, WINDOW, WINDOW).reason == "no other node heard for 2.0 s"


def test_an_older_agents_beacon_is_no_newcomer():
    assert b"newcomer" not in OLDER_AGENT
    assert Beacon.decode(OLDER_AGENT).newcomer is False
