"""QRaft: the agent's consensus core (pure state machine), its message types and wire codec."""
from .config import CoreConfig
from .errors import ProposalDropped
from .rawnode import RawNode
from .ready import Ready
from .types import (NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
                    MessageType, NodeStatus, Role, Snapshot, SoftState)

__all__ = ["CoreConfig", "ProposalDropped", "RawNode", "Ready", "NONE", "ConfChange", "ConfChangeType",
           "ConfState", "Entry", "EntryType", "HardState", "Message", "MessageType", "NodeStatus", "Role",
           "Snapshot", "SoftState"]
