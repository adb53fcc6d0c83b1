from qluster_agent.agent.retry_pause import RetryPause


def test_pause_doubles_with_failures_in_a_row_up_to_the_longest() -> None:
    pause = RetryPause(first=2.0, longest=30.0)
    assert pause.not_before is None
    pauses = [pause.failed(now=100.0 + n) for n in range(6)]
    assert pauses == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert pause.failures == 6
    assert pause.not_before == 105.0 + 30.0


def test_a_success_ends_the_pause_and_the_next_failure_starts_short_again() -> None:
    pause = RetryPause(first=2.0, longest=30.0)
    for n in range(4):
        pause.failed(now=float(n))
    pause.succeeded()
    assert pause.not_before is None and pause.failures == 0
    assert pause.failed(now=50.0) == 2.0 and pause.not_before == 52.0
