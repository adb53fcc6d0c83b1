"""Ready: everything the runtime must do after the core changed, in one immutable batch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .types import Entry, HardState, Message, Snapshot, SoftState


@dataclass(frozen=True)
class Ready:
    """Handle in this order: persist (fsync when must_sync), send, apply, then RawNode.advance().

    hard_state:        term/vote/commit to persist, None when unchanged
    entries:           entries to persist; entries[0].index may overwrite an uncommitted tail
    snapshot:          snapshot to persist (log entries up to its index may be dropped)
    apply_snapshot:    the snapshot came from the leader: load snapshot.data into the state
                       machine before applying committed_entries
    committed_entries: entries to apply, in order (conf changes are already applied by the core)
    messages:          to send only after the state above is durable
    soft_state:        current leader and role
    must_sync:         fsync before sending (term, vote, commit, entries or snapshot changed)
    """

    hard_state: Optional[HardState]
    entries: Tuple[Entry, ...]
    snapshot: Optional[Snapshot]
    apply_snapshot: bool
    committed_entries: Tuple[Entry, ...]
    messages: Tuple[Message, ...]
    soft_state: SoftState
    must_sync: bool
