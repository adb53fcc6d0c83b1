"""synchronous_standby_names for quorum commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SyncStandbys:
    """How many of which standbys must confirm a commit (k == 0: asynchronous)."""

    k: int
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.k < 0 or self.k > len(self.names):
            raise ValueError(f"need 0 <= k <= {len(self.names)} standbys, got k={self.k}")

    def render(self) -> str:
        return synchronous_standby_names(self.k, self.names)


ASYNCHRONOUS = SyncStandbys(0, ())


def quote_standby_name(name: str) -> str:
    """Double-quote a standby name the way the syncrep grammar reads identifiers."""
    return '"' + name.replace('"', '""') + '"'


def synchronous_standby_names(k: int, names: Sequence[str]) -> str:
    """'ANY k ("n1", "n2")': a commit waits until any k of the listed standbys flushed it.

    k == 0 gives '' (asynchronous). Names are quoted so that any application_name (digits,
    dashes, upper case) survives the grammar. The order is kept as given; callers sort.
    """
    if k == 0:
        return ""
    if k < 0 or k > len(names):
        raise ValueError(f"need 0 <= k <= {len(names)} standbys, got k={k}")
    return f"ANY {k} ({', '.join(quote_standby_name(n) for n in names)})"
