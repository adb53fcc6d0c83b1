import threading

import pytest

from qluster_agent.pg.cancel import CancelToken
from qluster_agent.pg.executor import LongOperationExecutor
from qluster_agent.pg.operation import LongOperation
from qluster_agent.pg.process import CommandRunner


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_runs_one_operation_at_a_time_and_reports_progress() -> None:
    clock = FakeClock()
    executor = LongOperationExecutor(clock)
    release = threading.Event()
    assert executor.submit(LongOperation.BASE_BACKUP, lambda cancel: release.wait(10))
    assert not executor.submit(LongOperation.REWIND, lambda cancel: None)
    running = executor.running()
    assert running is not None and running.kind is LongOperation.BASE_BACKUP
    clock.now = 112.0
    assert running.describe(clock.now) == "base backup in progress for 12 s"
    assert executor.take_finished() is None

    release.set()
    assert executor.wait(10)
    finished = executor.take_finished()
    assert finished is not None and finished.succeeded
    assert executor.take_finished() is None  # handed out once


def test_failure_is_reported_as_one_line() -> None:
    executor = LongOperationExecutor(FakeClock())

    def fail(cancel: CancelToken) -> None:
        raise RuntimeError("pg_basebackup exited with 1: could not connect\nmore detail")

    executor.submit(LongOperation.BASE_BACKUP, fail)
    executor.wait(10)
    finished = executor.take_finished()
    assert finished is not None and not finished.succeeded and not finished.cancelled
    assert finished.error == "pg_basebackup exited with 1: could not connect"
    assert "failed after" in finished.describe()


def until_cancelled(started: threading.Event):
    """An operation that checks its token until cancelled, setting `started` first."""

    def operation(cancel: CancelToken) -> None:
        started.set()
        while not cancel.wait(0.01):
            pass
        cancel.raise_if_cancelled()

    return operation


def test_cancel_stops_an_operation_that_checks_its_token() -> None:
    executor = LongOperationExecutor(FakeClock())
    started = threading.Event()
    executor.submit(LongOperation.REWIND, until_cancelled(started))
    started.wait(10)
    executor.cancel()
    assert executor.wait(10)
    finished = executor.take_finished()
    assert finished is not None and finished.cancelled
    assert executor.submit(LongOperation.REWIND, lambda cancel: None)  # free again
    executor.wait(10)


@pytest.mark.timeout(20)
def test_cancel_kills_a_running_command() -> None:
    executor = LongOperationExecutor(FakeClock())
    executor.submit(LongOperation.BASE_BACKUP, lambda cancel: CommandRunner().run(["sleep", "60"], cancel=cancel))
    executor.cancel()
    assert executor.wait(10)
    finished = executor.take_finished()
    assert finished is not None and finished.cancelled


def test_close_cancels_the_running_operation_and_refuses_later_ones() -> None:
    executor = LongOperationExecutor(FakeClock())
    started = threading.Event()
    executor.submit(LongOperation.BASE_BACKUP, until_cancelled(started))
    started.wait(10)
    executor.close()
    assert executor.wait(10)
    finished = executor.take_finished()
    assert finished is not None and finished.cancelled
    ran = threading.Event()
    assert not executor.submit(LongOperation.START, lambda cancel: ran.set())
    assert executor.running() is None and not ran.is_set()


def test_the_same_failure_again_is_logged_without_its_traceback(caplog) -> None:
    executor = LongOperationExecutor(FakeClock())

    def refused(cancel: CancelToken) -> None:
        raise RuntimeError("no pg_hba.conf entry for replication connection")

    def run(operation) -> None:
        executor.submit(LongOperation.BASE_BACKUP, operation)
        executor.wait(10)
        executor.take_finished()

    with caplog.at_level("WARNING", logger="qluster_agent.pg.executor"):
        run(refused)
        run(refused)
        run(lambda cancel: None)  # a success: the next failure is news again
        run(refused)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [bool(r.exc_info) for r in failures] == [True, False, True]
    assert all("no pg_hba.conf entry" in r.getMessage() for r in failures)


def test_whoever_waits_elsewhere_hears_of_the_outcome_as_soon_as_it_can_be_taken() -> None:
    # The HA loop sleeps between cycles; the outcome of a bootstrap (roles next, then the joiners
    # clone) must not wait for its next glance.
    taken: list[object] = []
    told = threading.Event()
    executor: LongOperationExecutor

    def on_finished() -> None:
        taken.append(executor.take_finished())
        told.set()

    executor = LongOperationExecutor(FakeClock(), on_finished=on_finished)
    assert executor.submit(LongOperation.BOOTSTRAP, lambda cancel: None)
    assert told.wait(10)
    assert taken[0] is not None and taken[0].kind is LongOperation.BOOTSTRAP and taken[0].succeeded
    assert executor.running() is None
