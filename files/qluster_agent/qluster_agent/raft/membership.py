"""Membership changes, one node at a time: validation and application as pure functions."""
from __future__ import annotations

from typing import Optional

from .types import ConfChange, ConfChangeType, ConfState


def check_change(conf: ConfState, change: ConfChange) -> Optional[str]:
    """Why `change` must be refused on `conf`, or None when it is acceptable."""
    node = change.node_id
    if node <= 0:
        return f"invalid node id {node}"
    if change.type == ConfChangeType.ADD_VOTER and node in conf.voters:
        return f"{node} is already a voter"
    if change.type == ConfChangeType.ADD_OBSERVER:
        if node in conf.observers:
            return f"{node} is already an observer"
        if node in conf.voters:
            return f"{node} is a voter; demoting a voter is not supported"  # remove it first
    if change.type == ConfChangeType.REMOVE:
        if node not in conf.members:
            return f"{node} is not a member"
        if conf.voters == frozenset({node}):
            return f"{node} is the last voter"
    return None


def apply_change(conf: ConfState, change: ConfChange) -> ConfState:
    """The membership after `change`; a change that check_change refuses leaves it unchanged.

    Adding a voter that is an observer promotes it.  Applying is idempotent, which matters
    because a restarted node re-applies the committed conf changes it already knew.
    """
    if check_change(conf, change) is not None:
        return conf
    node = change.node_id
    if change.type == ConfChangeType.ADD_VOTER:
        return ConfState(conf.voters | {node}, conf.observers - {node})
    if change.type == ConfChangeType.ADD_OBSERVER:
        return ConfState(conf.voters, conf.observers | {node})
    return ConfState(conf.voters - {node}, conf.observers - {node})
