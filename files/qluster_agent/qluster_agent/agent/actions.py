"""Carries out the HA loop's decisions on the database (and, to step down, on consensus).

Where an action runs is Action.long_operation's table (ha/decision.py), not this file's: a long
one is submitted to the executor in its slot so the loop keeps its pace; the others (among them
fence, demote and promote, which a failover waits for) run inline.
"""

from __future__ import annotations

import logging
from typing import Callable

from ..ha.decision import Action, Decision
from ..ha.marker import AddNodeMarker
from ..pg.controller import PgController
from ..pg.executor import LongOperationExecutor, Operation

log = logging.getLogger(__name__)

_NO_OP = frozenset({Action.NOTHING, Action.REPORT_IN_PROGRESS, Action.WAIT_FOR_LEADER})


class ActionRunner:
    def __init__(self, pg: PgController, executor: LongOperationExecutor, marker: AddNodeMarker,
                 step_down: Callable[[], None]) -> None:
        self._pg = pg
        self._executor = executor
        self._marker = marker
        self._step_down = step_down

    def run(self, decision: Decision) -> bool:
        """False when a long action was not started (another one runs, or the agent stops)."""
        slot = decision.action.long_operation
        if slot is None:
            self._inline(decision)
            return True
        return self._executor.submit(slot, self._job(decision))

    def _inline(self, decision: Decision) -> None:
        action, pg, leader, sync = decision.action, self._pg, decision.leader, decision.sync
        if action in _NO_OP:
            return
        if action is Action.FENCE:
            pg.fence()
        elif action is Action.DEMOTE:
            pg.demote(leader, decision.close_sessions_within)
        elif action is Action.PROMOTE:
            pg.promote(sync)
        elif action is Action.UPDATE_SYNC_STANDBYS:
            pg.set_synchronous_standbys(sync)
        elif action is Action.FOLLOW_NEW_LEADER:
            pg.follow(leader)
        elif action is Action.RESTORE_TEMP_SLOT:
            pg.restore_temp_slot(leader)
        elif action is Action.RELOAD_DATABASE:
            pg.reload()
        elif action is Action.REMOVE_ADD_NODE_MARKER:
            self._marker.remove()
        elif action is Action.STEP_DOWN:
            self._step_down()
        else:  # a new Action without a handler is a bug worth hearing about at once
            raise ValueError(f"no inline handler for action {action}")

    def _job(self, decision: Decision) -> Operation:
        action, pg, leader, sync = decision.action, self._pg, decision.leader, decision.sync
        if action is Action.BOOTSTRAP:
            return lambda token: pg.bootstrap(sync, token)
        if action is Action.CLONE_FROM_LEADER:
            return lambda token: pg.clone_from(leader, token)
        if action is Action.RECLONE_FROM_LEADER:
            return lambda token: pg.reclone_from(leader, token)
        if action is Action.REINIT_FROM_LEADER:
            return lambda token: pg.reclone_from(leader, token, same_system=False)
        if action is Action.REWIND_OR_RECLONE:
            return lambda token: pg.rewind_or_reclone(leader, token)
        if action is Action.START_AS_REPLICA:
            return lambda token: pg.start_as_replica(leader, token)
        if action is Action.RESTART_DATABASE:
            return pg.restart
        raise ValueError(f"no long-operation handler for action {action}")
