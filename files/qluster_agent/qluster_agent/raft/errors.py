"""Exceptions the core raises to its caller."""


class ProposalDropped(Exception):
    """A proposal was not appended (not the leader, transfer in progress, limits, bad change)."""
