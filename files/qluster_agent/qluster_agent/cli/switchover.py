"""`qlusterctl switchover`: show the plan, ask, start it, wait for the outcome.

`POST /switchover` answers once the leader has accepted the request; the hand-over itself (the
old leader demotes its database at a checkpoint, the target catches up and is promoted) follows.
The outcome is read from the map: done when the target leads and its database is the primary.
Everything the command needs from outside (the API, the clock, a pause, the operator's answer,
the output) is passed in, so the tests script it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..api.map_member import MapMember
from .client import ApiClientError
from .table import human_bytes
from .view import describe, find, leader, table


class Exit(enum.IntEnum):
    """qlusterctl's exit statuses (docs/agent.md, `qlusterctl --help`)."""

    OK = 0
    FAILED = 1  # the agent refused, or could not be reached
    USAGE = 2  # a bad command line; reinit without --yes
    NOT_CONFIRMED = 3  # the operator did not confirm (or could not be asked: no terminal, no --force)
    TIMED_OUT = 4  # started, but the target did not lead within --timeout: see the map


class Client(Protocol):
    def get(self, path: str) -> Any:
        ...

    def post(self, path: str, body: dict[str, Any]) -> Any:
        ...


@dataclass(frozen=True)
class World:
    """What the command reaches outside itself."""

    client: Client
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    ask: Callable[[str], str]  # input(); raises EOFError with no terminal
    out: Callable[[str], None]
    err: Callable[[str], None]


def plan(cmap: dict[str, Any], target: MapMember) -> str:
    current = leader(cmap)
    source = describe(current) if current else "no leader"
    state = [target.db_role or "unknown"]
    if target.role != "leader":
        state.append("streaming" if target.streaming else "not streaming")
        if target.lag_bytes is not None:
            state.append(f"lag {human_bytes(target.lag_bytes)}")
    return f"switchover: {source} -> {describe(target)} ({', '.join(state)})"


def done(cmap: dict[str, Any], target: MapMember) -> bool:
    """The target leads and its database is the primary."""
    now = find(cmap, str(target.id))
    return cmap.get("leader") == target.id and now is not None and now.db_role == "primary"


def find_member(world: World, wanted: str) -> tuple[dict[str, Any], MapMember | None]:
    """The map and the member named `wanted` (id, name or address); None after saying it is none."""
    cmap = world.client.get("/map")
    member = find(cmap, wanted)
    if member is None:
        world.err(f"qlusterctl: {wanted!r} is not a member of cluster {cmap.get('cluster_id', '')}")
    return cmap, member


def wait_for_map(world: World, condition: Callable[[dict[str, Any]], bool], deadline: float,
                 interval: float) -> tuple[bool, dict[str, Any] | None, str]:
    """Reads the map until `condition` holds or the deadline passed: (held, the last map, the
    last error). An agent busy with a hand-over or a restart may not answer for a moment."""
    last: dict[str, Any] | None = None
    problem = ""
    while True:
        try:
            last = world.client.get("/map")
            problem = ""
            if condition(last):
                return True, last, ""
        except ApiClientError as exc:
            problem = f" (last error: {exc})"
        if world.clock() >= deadline:
            return False, last, problem
        world.sleep(interval)


def run(world: World, wanted: str, force: bool, timeout: float, interval: float = 0.5) -> Exit:
    cmap, target = find_member(world, wanted)
    if target is None:
        return Exit.FAILED
    if cmap.get("leader") == target.id:
        world.out(f"{describe(target)} already leads; nothing to do")
        return Exit.OK
    world.out(plan(cmap, target))
    if not force:
        try:
            answer = world.ask("Go ahead? [y/N] ")
        except EOFError:
            world.err("qlusterctl: no answer (no terminal?); add --force to switch over without asking")
            return Exit.NOT_CONFIRMED
        if answer.strip().lower() not in ("y", "yes"):
            world.err("qlusterctl: switchover not confirmed; nothing was done")
            return Exit.NOT_CONFIRMED
    started = world.clock()
    result = world.client.post("/switchover", {"leader": target.id})
    world.out(str(result.get("message", result)) if isinstance(result, dict) else str(result))
    ok, last, problem = wait_for_map(world, lambda cmap: done(cmap, target), started + timeout, interval)
    if ok:
        world.out(f"switchover done: {describe(target)} leads (term {last.get('term')}), "
                  f"after {world.clock() - started:.1f} s\n")
        world.out(table(last))
        return Exit.OK
    now = leader(last) if last else None
    world.err(f"qlusterctl: switchover to {describe(target)} not done after {timeout:g} s: the leader is "
              f"{describe(now) if now else 'unknown'}{problem}")
    if last:
        world.out(table(last))
    return Exit.TIMED_OUT
