"""`qlusterctl restart` and `reload`: a member's database, through its agent.

`POST /restart` names the member; the agent the command talks to forwards it to that member's
agent, whose HA loop stops its database (fast) and starts it again as what it was. The leader's
agent refuses to restart the leader's database in place unless forced: the command switches
over first (to the streaming replica with the least lag, as `qlusterctl switchover` does, and
waits until it leads), then restarts the former leader as a replica. `--force` restarts the
leader in place: its database takes no writes until it is back. The answer comes once the
restart is done (or, for a slow one, while it runs): the command then reads the map until the
member is healthy again (after a switchover, it waits for that too before the restart).
"""

from __future__ import annotations

from typing import Any

from ..api.map_member import MapMember
from .switchover import Exit, World, find_member, wait_for_map
from .switchover import run as switch_over
from .view import describe, find, members, table


def switchover_target(cmap: dict[str, Any], leader_id: int) -> MapMember | None:
    """The voter to hand leadership to before the leader restarts: a streaming replica, the
    least lag first (then the lowest id); None when there is none."""
    replicas = [m for m in members(cmap) if m.id != leader_id and m.voter and m.role != "observer"
                and m.db_role == "replica" and m.streaming]
    return min(replicas, key=lambda m: (m.lag_bytes if m.lag_bytes is not None else 1 << 62, m.id), default=None)


def healthy(cmap: dict[str, Any], member_id: int) -> bool:
    row = find(cmap, str(member_id))
    return row is not None and row.state == "healthy"


def restart(world: World, wanted: str, force: bool, timeout: float, interval: float = 0.5) -> Exit:
    cmap, member = find_member(world, wanted)
    if member is None:
        return Exit.FAILED
    started = world.clock()
    if cmap.get("leader") == member.id and not force:
        target = switchover_target(cmap, member.id)
        if target is None:
            world.err(f"qlusterctl: {describe(member)} leads and no replica streams to take over; "
                      "add --force to restart it in place (no writes until its database is back)")
            return Exit.FAILED
        world.out(f"restart: {describe(member)} leads; switching over to {describe(target)} first")
        handed = switch_over(world, str(target.id), force=True, timeout=timeout, interval=interval)
        if handed is not Exit.OK:
            return handed
        # The former leader is demoted, then rewound to follow: restarted only once it streams.
        ok, last, problem = wait_for_map(world, lambda cmap: healthy(cmap, member.id), started + timeout, interval)
        if not ok:
            return _not_healthy(world, member, started, "the switchover (its database was not restarted)", last, problem)
    answer = world.client.post("/restart", {"member": member.id, "force": force})
    world.out(str(answer.get("message", answer)))
    ok, last, problem = wait_for_map(world, lambda cmap: healthy(cmap, member.id), started + timeout, interval)
    if not ok:
        return _not_healthy(world, member, started, "its restart", last, problem)
    world.out(f"restart done: {describe(member)} is healthy again, after {world.clock() - started:.1f} s\n")
    world.out(table(last))
    return Exit.OK


def _not_healthy(world: World, member: MapMember, started: float, after: str, last: dict[str, Any] | None,
                 problem: str) -> Exit:
    world.err(f"qlusterctl: {describe(member)} is not healthy {world.clock() - started:.0f} s after {after}"
              f"{problem}; check qlusterctl list")
    if last:
        world.out(table(last))
    return Exit.TIMED_OUT


def reload(world: World, wanted: str) -> Exit:
    cmap, member = find_member(world, wanted)
    if member is None:
        return Exit.FAILED
    answer = world.client.post("/reload", {"member": member.id})
    world.out(str(answer.get("message", answer)))
    return Exit.OK
