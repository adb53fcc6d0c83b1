"""An operator's restart or reload, between the API thread and the HA loop (agent/db_requests.py)."""

from __future__ import annotations

import pytest

from qluster_agent.agent.db_requests import DbRequestKind, DbRequestRefused, DbRequests
from qluster_agent.ha.decision import Action
from qluster_agent.pg.operation import LongOperation


def test_a_reload_is_done_once_the_loop_ran_it():
    requests = DbRequests()
    future = requests.ask(DbRequestKind.RELOAD)
    request = requests.take()
    assert request.decision(2).action is Action.RELOAD_DATABASE
    assert requests.take() is None
    requests.started(request, True)
    assert future.result(0) is None


def test_a_restart_runs_in_the_executor_and_is_done_when_it_finished():
    requests = DbRequests()
    future = requests.ask(DbRequestKind.RESTART)
    request = requests.take()
    decision = request.decision(2)
    assert decision.action is Action.RESTART_DATABASE and decision.action.long_operation is LongOperation.RESTART
    assert decision.reason.startswith("I am node 2; restart of my database requested")
    requests.started(request, True)
    assert not future.done()
    refused = requests.ask(DbRequestKind.RELOAD)  # one at a time
    with pytest.raises(DbRequestRefused, match="a restart of this database is under way"):
        refused.result(0)
    requests.finished(True)
    assert future.result(0) is None
    assert not requests.ask(DbRequestKind.RELOAD).done()


def test_a_request_the_loop_could_not_run_or_a_failed_restart_is_refused_with_why():
    requests = DbRequests()
    future = requests.ask(DbRequestKind.RESTART)
    requests.started(requests.take(), False, "a base backup is in progress")
    with pytest.raises(DbRequestRefused, match="base backup"):
        future.result(0)
    future = requests.ask(DbRequestKind.RESTART)
    requests.started(requests.take(), True)
    requests.finished(False, "restart failed: the database did not start")
    with pytest.raises(DbRequestRefused, match="did not start"):
        future.result(0)
    requests.finished(True)  # nothing running: nothing to settle
