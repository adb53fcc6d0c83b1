"""What decide() returns: one action and one sentence saying why."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..pg.conninfo import Endpoint
from ..pg.operation import LongOperation
from ..pg.sync import SyncStandbys


class Action(enum.Enum):
    NOTHING = "nothing"
    REPORT_IN_PROGRESS = "report in progress"
    BOOTSTRAP = "bootstrap"  # controller.bootstrap(sync)
    WAIT_FOR_LEADER = "wait for leader"
    CLONE_FROM_LEADER = "clone from leader"  # controller.clone_from(leader)
    RECLONE_FROM_LEADER = "reclone from leader"  # controller.reclone_from(leader): wipe + clone
    # POST /reinit: wipe + clone, the leader's system identifier taken whatever it is. Chosen by
    # agent/reinit.py (a replicated request, handled once), never by decide().
    REINIT_FROM_LEADER = "reinit from leader"  # controller.reclone_from(leader, same_system=False)
    START_AS_REPLICA = "start as replica"  # controller.start_as_replica(leader or None)
    FOLLOW_NEW_LEADER = "follow new leader"  # controller.follow(leader)
    REWIND_OR_RECLONE = "rewind or reclone"  # controller.rewind_or_reclone(leader)
    PROMOTE = "promote"  # controller.promote(sync)
    DEMOTE = "demote"  # controller.demote(leader)
    FENCE = "fence"  # controller.fence()
    STEP_DOWN = "step down"  # consensus: give up leadership
    UPDATE_SYNC_STANDBYS = "update sync standbys"  # controller.set_synchronous_standbys(sync)
    REMOVE_ADD_NODE_MARKER = "remove add_node marker"
    RESTORE_TEMP_SLOT = "restore temporary slot"  # controller.restore_temp_slot(leader)
    # POST /restart and /reload of this node's database: chosen by agent/db_requests.py (an
    # operator's request), never by decide().
    RESTART_DATABASE = "restart database"  # controller.restart()
    RELOAD_DATABASE = "reload database"  # controller.reload()

    @property
    def long_operation(self) -> LongOperation | None:
        """The executor slot an action runs in; None: inline in the cycle. agent/actions.py
        submits by this table, so it cannot say one thing and do another.

        FENCE, DEMOTE and PROMOTE are never queued: a failover waits for them, and stopping
        writes must not wait behind anything.
        """
        return _LONG_OPERATIONS.get(self)

    @property
    def waits_out_a_failure(self) -> bool:
        """Held back (decide()) while the pause after a failed long operation lasts."""
        return self.long_operation is not None or self in _ALSO_WAITS_OUT_A_FAILURE


_LONG_OPERATIONS = {
    Action.BOOTSTRAP: LongOperation.BOOTSTRAP,
    Action.CLONE_FROM_LEADER: LongOperation.BASE_BACKUP,
    Action.RECLONE_FROM_LEADER: LongOperation.BASE_BACKUP,
    Action.REINIT_FROM_LEADER: LongOperation.BASE_BACKUP,
    Action.REWIND_OR_RECLONE: LongOperation.REWIND,
    # pg_ctl waits for it; a standby may take long to reach consistency.
    Action.START_AS_REPLICA: LongOperation.START,
    Action.RESTART_DATABASE: LongOperation.RESTART,
}
# PROMOTE runs inline, but this table listed it as a long operation until issue 17, and so a new
# leader whose last long operation failed has always waited out the pause before promoting. Kept
# so that making the table true changed no decision; whether a leader should wait is its own
# question (the pause is at most RetryPause's 30 s).
_ALSO_WAITS_OUT_A_FAILURE = frozenset({Action.PROMOTE})
# A switchover's demote first ends the applications' sessions between their transactions, for
# at most this long (pg/controller.py close_sessions_between_transactions); a failure's does not wait.
SWITCHOVER_SESSION_GRACE = 1.0


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str  # one sentence for the log: "I am node 2, the leader with quorum; nothing to do"
    leader: Endpoint | None = None  # whom to clone from / follow / rewind from
    sync: SyncStandbys | None = None  # for BOOTSTRAP, PROMOTE, UPDATE_SYNC_STANDBYS
    close_sessions_within: float = 0.0  # DEMOTE: seconds to end sessions between transactions first
