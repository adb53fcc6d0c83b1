"""ActionRunner runs each action where Action.long_operation says: one table, no second opinion."""
from __future__ import annotations

import pytest

from qluster_agent.agent.actions import ActionRunner
from qluster_agent.ha.decision import Action, Decision
from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.operation import LongOperation

LEADER = Endpoint("10.0.0.1", 5432)


class Recorder:
    """Stands for PgController, the marker and step_down: records every call by name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            told = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
            self.calls.append(f"{name}({told})" if told else name)
        return call

    def __call__(self) -> None:
        self.calls.append("step_down")


class Executor:
    def __init__(self, pg: Recorder) -> None:
        self.pg = pg
        self.submitted: list[LongOperation] = []

    def submit(self, kind, operation) -> bool:
        self.submitted.append(kind)
        operation(object())  # what the job would call on the database, recorded
        return True


# Action -> (where it runs, what it calls).
TABLE = {
    Action.NOTHING: (None, []),
    Action.REPORT_IN_PROGRESS: (None, []),
    Action.WAIT_FOR_LEADER: (None, []),
    Action.FENCE: (None, ["fence"]),
    Action.DEMOTE: (None, ["demote"]),
    Action.PROMOTE: (None, ["promote"]),  # a failover waits for it: inline (issue 17)
    Action.UPDATE_SYNC_STANDBYS: (None, ["set_synchronous_standbys"]),
    Action.FOLLOW_NEW_LEADER: (None, ["follow"]),
    Action.RESTORE_TEMP_SLOT: (None, ["restore_temp_slot"]),
    Action.REMOVE_ADD_NODE_MARKER: (None, ["remove"]),
    Action.STEP_DOWN: (None, ["step_down"]),
    Action.BOOTSTRAP: (LongOperation.BOOTSTRAP, ["bootstrap"]),
    Action.CLONE_FROM_LEADER: (LongOperation.BASE_BACKUP, ["clone_from"]),
    Action.RECLONE_FROM_LEADER: (LongOperation.BASE_BACKUP, ["reclone_from"]),
    # POST /reinit takes the leader's database whatever its system identifier (agent/reinit.py).
    Action.REINIT_FROM_LEADER: (LongOperation.BASE_BACKUP, ["reclone_from(same_system=False)"]),
    Action.REWIND_OR_RECLONE: (LongOperation.REWIND, ["rewind_or_reclone"]),
    Action.START_AS_REPLICA: (LongOperation.START, ["start_as_replica"]),
    # POST /restart and /reload, asked by the operator (agent/db_requests.py).
    Action.RESTART_DATABASE: (LongOperation.RESTART, ["restart"]),
    Action.RELOAD_DATABASE: (None, ["reload"]),
}


def test_the_table_names_every_action():
    assert set(TABLE) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=lambda action: action.name)
def test_an_action_runs_where_its_long_operation_says(action):
    slot, calls = TABLE[action]
    assert action.long_operation is slot
    recorder = Recorder()
    executor = Executor(recorder)
    assert ActionRunner(recorder, executor, recorder, recorder).run(Decision(action, "why", leader=LEADER))
    assert executor.submitted == ([slot] if slot is not None else [])
    assert recorder.calls == calls


@pytest.mark.parametrize("action", list(Action), ids=lambda action: action.name)
def test_what_waits_out_a_failed_operation(action):
    """Every long operation, and PROMOTE, as before the table was made true (decide() holds them)."""
    assert action.waits_out_a_failure == (action.long_operation is not None or action is Action.PROMOTE)


def test_a_long_action_the_executor_refuses_is_reported_not_started():
    recorder = Recorder()

    class Busy(Executor):
        def submit(self, kind, operation) -> bool:
            return False

    runner = ActionRunner(recorder, Busy(recorder), recorder, recorder)
    assert runner.run(Decision(Action.REINIT_FROM_LEADER, "why", leader=LEADER)) is False
    assert recorder.calls == []
