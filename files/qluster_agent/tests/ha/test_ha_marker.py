from __future__ import annotations

from pathlib import Path

from qluster_agent.ha.decision import Action
from qluster_agent.ha.marker import AddNodeMarker
from qluster_agent.pg.operation import LongOperation


def test_marker_exists_until_removed_and_removing_twice_is_fine(tmp_path: Path) -> None:
    marker = AddNodeMarker(tmp_path / "add_node")
    assert not marker.exists()
    marker.path.touch()
    assert marker.exists()
    marker.remove()
    marker.remove()
    assert not marker.exists()


def test_long_actions_name_their_executor_slot_and_stopping_writes_never_waits() -> None:
    assert Action.CLONE_FROM_LEADER.long_operation is LongOperation.BASE_BACKUP
    assert Action.RECLONE_FROM_LEADER.long_operation is LongOperation.BASE_BACKUP
    assert Action.REWIND_OR_RECLONE.long_operation is LongOperation.REWIND
    assert Action.BOOTSTRAP.long_operation is LongOperation.BOOTSTRAP
    for quick in (Action.FENCE, Action.DEMOTE, Action.STEP_DOWN, Action.NOTHING, Action.REMOVE_ADD_NODE_MARKER):
        assert quick.long_operation is None
