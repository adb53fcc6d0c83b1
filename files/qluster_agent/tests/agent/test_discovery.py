"""A first start, over time: Discovery listens until first_start() has a verdict, and what a node
without consensus state announces about itself (Beacon.newcomer)."""
from __future__ import annotations

import pytest

from qluster_agent.agent.beacon import Beacon
from qluster_agent.agent.discovery import (DISCOVERY_POLL, Discovery, consensus_state_on_disk, holds_consensus_state,
                                           is_newcomer)
from qluster_agent.agent.first_start import Heard
from qluster_agent.ha.marker import AddNodeMarker
from qluster_agent.pg.status import DataDirState
from qluster_agent.raft.runtime import RuntimeStatus
from qluster_agent.raft.types import ConfState, HardState, Role
from qluster_agent.storage.disk import DiskStorage

WINDOW = 1.0
N2, N3 = ("10.0.0.2", 9999), ("10.0.0.3", 9999)
JOINER = Beacon("n", "10.0.0.2", 8080, 5432, False, newcomer=True).encode()
MEMBER = Beacon("n", "10.0.0.2", 8080, 5432, False).encode()
BOOT = ConfState(frozenset({1}))


class Clock:
    """Time moves only when Discovery sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.polls = 0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.polls += 1
        self.now += seconds


def script(*rounds: dict[int, Heard]):
    """What the peer table holds at each poll; the last round holds from then on."""
    rounds_left = list(rounds)

    def heard():
        return rounds_left.pop(0) if len(rounds_left) > 1 else rounds_left[0]
    return heard


def polls_in_window() -> int:
    """DISCOVERY_POLL sleeps until the window is over, counted as Clock adds them (in floats)."""
    clock, polls = Clock(), 0
    while clock.now - 100.0 < WINDOW:
        clock.sleep(DISCOVERY_POLL)
        polls += 1
    return polls


POLLS_IN_WINDOW = polls_in_window()


# (had state, observer, marker, listed, what is heard poll by poll, conf, polls)
CASES = [
    pytest.param(True, False, False, None, script({}), None, 0, id="consensus state on disk: no discovery"),
    pytest.param(False, True, False, None, script({}), None, 0, id="an observer waits to be added"),
    pytest.param(False, False, True, None, script({}), None, 0, id="the add_node marker: wait to be added"),
    pytest.param(False, False, False, None, script({}), BOOT, POLLS_IN_WINDOW, id="nobody heard: the whole window"),
    pytest.param(False, False, False, None, script({}, {}, {2: Heard(N2, MEMBER)}), None, 2,
                 id="a member heard at the third poll: join"),
    pytest.param(False, False, False, None, script({2: Heard(N2, JOINER)}), BOOT, POLLS_IN_WINDOW,
                 id="only a joiner heard: the whole window in multicast"),
    pytest.param(False, False, False, frozenset({N2, N3}), script({}, {2: Heard(N2, JOINER)},
                                                                  {2: Heard(N2, JOINER), 3: Heard(N3, JOINER)}),
                 BOOT, 2, id="every listed peer a joiner: bootstrap at once"),
]


@pytest.mark.parametrize("had_state, observer, marker, listed, heard, conf, polls", CASES)
def test_discovery(tmp_path, had_state, observer, marker, listed, heard, conf, polls):
    path = tmp_path / "add_node"
    if marker:
        path.touch()
    clock = Clock()
    discovery = Discovery(1, "c", observer, AddNodeMarker(path), listed, WINDOW, clock=clock, sleep=clock.sleep)
    assert discovery.bootstrap_conf(had_state, heard) == conf
    assert clock.polls == polls


def status(term=0, commit=0, voters=frozenset(), observers=frozenset()) -> RuntimeStatus:
    return RuntimeStatus(1, Role.FOLLOWER, 0, term, voters, observers, commit, 0)


@pytest.mark.parametrize("runtime, had_state, holds", [
    (None, False, False),  # before the runtime runs: what was on disk
    (None, True, True),
    (status(), True, False),  # the runtime knows better once it runs
    (status(term=1), False, True),
    (status(commit=3), False, True),
    (status(voters=frozenset({1})), False, True),
    (status(observers=frozenset({9})), False, True),
])
def test_holds_consensus_state(runtime, had_state, holds):
    assert holds_consensus_state(runtime, had_state) is holds


def fail():
    raise AssertionError("read only when the rest holds")


@pytest.mark.parametrize("has_state, observer, marker, datadir, newcomer", [
    (True, True, True, fail, False),  # a member is never a newcomer
    (False, True, None, fail, True),  # an observer waiting to be added
    (False, False, None, fail, False),  # no database (no marker to read)
    (False, False, False, fail, False),  # no marker: it may bootstrap, or hold a database
    (False, False, True, lambda: DataDirState.EMPTY, True),
    (False, False, True, lambda: DataDirState.VALID, False),  # a database of its own
])
def test_is_newcomer(tmp_path, has_state, observer, marker, datadir, newcomer):
    path = tmp_path / "add_node"
    if marker:
        path.touch()
    assert is_newcomer(has_state, observer, None if marker is None else AddNodeMarker(path), datadir) is newcomer


def test_no_consensus_state_in_a_new_directory(tmp_path):
    assert consensus_state_on_disk(str(tmp_path)) is False


def test_a_saved_term_is_consensus_state(tmp_path):
    storage = DiskStorage(str(tmp_path))
    storage.load()
    storage.save(HardState(term=3, vote=1, commit=0), [], None, sync=True)
    storage.close()
    assert consensus_state_on_disk(str(tmp_path)) is True
