"""The consensus log holds back unchanged repeats and says how many it held."""

from __future__ import annotations

from qluster_agent.agent.consensus_log import ConsensusLog

PRE = "n3 became pre-candidate at term 7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(window: float = 60.0) -> tuple[ConsensusLog, list[str], Clock]:
    lines: list[str] = []
    clock = Clock()
    return ConsensusLog(lines.append, window=window, clock=clock), lines, clock


def test_a_pre_vote_every_half_second_for_ten_minutes_logs_a_line_a_minute() -> None:
    log, lines, clock = make()
    for tick in range(1200):
        log(PRE)
        clock.now = 1000.0 + 0.5 * (tick + 1)
    assert 10 <= len(lines) <= 11
    assert lines[0] == PRE
    assert "repeats not logged" in lines[1] and lines[1].startswith(PRE)


def test_lines_that_change_are_all_logged() -> None:
    log, lines, clock = make()
    changing = [f"n3 became follower at term {term}" for term in range(5, 25)]
    for line in changing:
        log(line)
        clock.now += 0.5
    assert lines == changing


def test_held_back_repeats_are_counted_when_the_line_goes_quiet() -> None:
    log, lines, clock = make(window=60.0)
    for second in range(5):
        log(PRE)
        clock.now = 1000.0 + second + 1
    clock.now += 120
    log("n3 became follower at term 8 (leader 1)")
    assert lines == [PRE, f"{PRE} (4 more times, the last 121 s ago)", "n3 became follower at term 8 (leader 1)"]


def test_a_line_logged_again_after_a_quiet_window_is_logged_afresh() -> None:
    log, lines, clock = make(window=60.0)
    log(PRE)
    clock.now += 61
    log(PRE)
    assert lines == [PRE, PRE]
