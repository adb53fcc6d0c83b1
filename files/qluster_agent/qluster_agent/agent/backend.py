"""The API's Backend on top of the Agent: reads from the last snapshot, changes through the leader.

A change asked of a follower is forwarded to the leader's API with the same token and signed
with the cluster secret (api/forwarding.py), so any node answers any request; the answer comes
back once the change is committed. With api-certfile it goes over HTTPS (api/tls.py): the
leader's certificate is checked against api-cafile and its IP address, and the follower's own
certificate is the client certificate.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import replace
from typing import Any

from ..api import forwarding
from ..api.backend import ApiError
from ..api.health import NodeHealth
from ..cluster.state import ClusterState, MemberInfo
from ..config.runtime import cluster_settings_to_json, validate_cluster_update
from ..raft import ProposalDropped
from ..raft.types import ConfChange, ConfChangeType, ConfState
from .db_requests import DbRequestKind, DbRequestRefused
from .membership import removal_problem
from .node import Agent
from .switchover import replication_row, why_not_a_target
from .views import AgentSnapshot, cluster_map, node_health

FORWARD_TIMEOUT = 15.0
# How long POST /restart (or /reload) waits for the database before answering "under way": below
# FORWARD_TIMEOUT, so a forwarded request is answered by the member, not timed out on the way.
DATABASE_REQUEST_WAIT = 10.0


class AgentBackend:
    def __init__(self, agent: Agent) -> None:
        self._agent = agent

    # ------------------------------------------------------------------ reads
    def health(self) -> NodeHealth:
        agent = self._agent
        snap = agent.snapshot()
        if snap is None:
            return NodeHealth(False, False, False, False, False, False, None, agent.observer, agent.my_id)
        return node_health(snap)

    def cluster_map(self) -> dict[str, Any]:
        config = self._agent.config
        snap = self._agent.snapshot()
        if snap is None:
            return {"cluster_id": config.cluster_id, "term": 0, "leader": None, "paused": False, "members": []}
        live = replace(snap, last_seen={**snap.last_seen, **self._agent.heard_ago()})
        return cluster_map(live, config.cluster_id, 3 * config.hello_retry_interval)

    def get_config(self) -> dict[str, Any]:
        return cluster_settings_to_json(self._agent.cluster_state().settings)

    def list_members(self) -> list[dict[str, Any]]:
        return self.cluster_map()["members"]

    def history(self) -> dict[str, Any]:
        state = self._agent.cluster_state()
        names = {node_id: info.name for node_id, info in state.members.items()}
        changes = []
        for change in state.history:
            row = change.to_json()
            row["from_name"] = names.get(change.from_id) if change.from_id is not None else None
            row["to_name"] = names.get(change.to_id)
            changes.append(row)
        return {"history": changes}

    def metrics(self) -> list[tuple[str, str, str, dict[str, str], float]]:
        agent = self._agent
        snap = agent.snapshot()
        rows: list[tuple[str, str, str, dict[str, str], float]] = []
        if snap is not None:
            rows += [
                ("qluster_term", "gauge", "Current consensus term", {}, snap.raft.term),
                ("qluster_is_leader", "gauge", "1 when this node is the consensus leader", {}, int(snap.raft.is_leader)),
                ("qluster_voters", "gauge", "Voting members", {}, len(snap.raft.voters)),
                ("qluster_observers", "gauge", "Observer members", {}, len(snap.raft.observers)),
                ("qluster_commit_index", "gauge", "Committed consensus log index", {}, snap.raft.commit),
            ]
            pg = snap.pg
            if pg is not None:
                rows.append(("qluster_db_running", "gauge", "1 when the database is running", {}, int(pg.running)))
                if pg.wal_position is not None:
                    rows.append(("qluster_db_wal_position_bytes", "gauge", "WAL position of this node", {}, pg.wal_position))
                if snap.raft.is_leader:
                    rows += _lag_seconds_rows(snap)
                if pg.archiver is not None:
                    rows.append(("qluster_archive_failed_total", "counter", "Failed WAL archive attempts",
                                 {}, pg.archiver.failed_count))
                    rows.append(("qluster_archive_failing", "gauge", "1 when the latest archive attempt failed",
                                 {}, int(pg.archiver.failing)))
        runtime = agent.runtime
        rows += [
            ("qluster_leader_changes_total", "counter", "Times this node saw another leader take over", {},
             runtime.counters["leader_changes"]),
            ("qluster_stepped_down_total", "counter", "Times this node stopped leading (lost quorum, transfer)", {},
             runtime.counters["stepped_down"]),
            ("qluster_consensus_loop_late_max_seconds", "gauge", "Longest delay of the consensus loop behind a due "
             "tick since start", {}, round(runtime.late_max, 4)),
        ]
        for bound, count in runtime.late_counts.items():
            rows.append(("qluster_consensus_loop_late_total", "counter", "Times the consensus loop came to a due tick "
                         "at least this late (seconds)", {"over": f"{bound:g}"}, count))
        for name, value in sorted(agent.transport.stats().items()):
            direction, _sep, unit = name.partition("_")
            if unit == "bytes":  # sent_bytes, received_bytes: a size, not a count of events
                rows.append(("qluster_transport_bytes_total", "counter", "Bytes of datagrams sent and received",
                             {"direction": direction}, value))
            else:
                rows.append(("qluster_transport_events_total", "counter", "Transport events (datagrams, messages, "
                             "drops, NACKs, errors) by kind", {"kind": name}, value))
        return rows

    # ------------------------------------------------------------------ changes
    def update_config(self, body: dict[str, Any]) -> dict[str, Any]:
        current = self._agent.cluster_state().settings
        settings, problems = validate_cluster_update(body, current, tick_interval=self._agent.config.tick_interval)
        if settings is None:
            raise ApiError(400, "invalid configuration; nothing was changed", problems)
        if not self._is_leader():
            return self._forward("POST", "/config", body)
        self._commit(ClusterState.cmd_settings(settings))
        return cluster_settings_to_json(self._agent.cluster_state().settings)

    def switchover(self, body: dict[str, Any]) -> dict[str, Any]:
        snap = self._snap()
        target = self._resolve(snap, body.get("leader", body.get("candidate")), "leader")
        if target not in snap.raft.voters:
            raise ApiError(400, f"node {target} is not a voting member and cannot lead")
        if not self._is_leader():
            return self._forward("POST", "/switchover", body)
        if target == self._agent.my_id:
            return {"message": f"node {target} already leads", "leader": target}
        self._refuse_while_paused("switchover")
        refused = why_not_a_target(target, snap.pg, snap.beacons.get(target))
        if refused is not None:
            # Demoting now would leave the cluster without a writable database until the
            # target caught up, or for good if it cannot.
            raise ApiError(409, f"{refused}; switchover refused")
        self._agent.request_switchover(target)
        return {"message": f"switchover to node {target} started", "leader": target}

    def reinit(self, body: dict[str, Any]) -> dict[str, Any]:
        snap = self._snap()
        target = self._resolve(snap, body.get("member"), "member")
        if target == snap.raft.leader:
            raise ApiError(409, f"node {target} is the leader; switch over before re-initialising it")
        if target in snap.raft.observers:
            raise ApiError(400, f"node {target} is an observer and has no database")
        self._refuse_while_paused("reinit")
        if not self._is_leader():
            return self._forward("POST", "/reinit", body)
        request = uuid.uuid4().hex[:12]
        self._commit(ClusterState.cmd_reinit(target, request))
        return {"message": f"node {target} will re-create its database from the leader", "request": request}

    def pause(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._set_paused(True, body)

    def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._set_paused(False, body)

    def _set_paused(self, paused: bool, body: dict[str, Any]) -> dict[str, Any]:
        if body:
            raise ApiError(400, f"{'pause' if paused else 'resume'} takes no body; nothing was changed",
                           [f"{key}: unknown key" for key in sorted(body)])
        path = "/pause" if paused else "/resume"
        if self._agent.cluster_state().paused == paused:
            return {"message": "the cluster is paused already" if paused else "the cluster is not paused",
                    "paused": paused}
        if not self._is_leader():
            return self._forward("POST", path, body)
        self._commit(ClusterState.cmd_pause(paused))
        if paused:
            message = "the cluster is paused: the agents leave every database as it is until resumed"
        else:
            message = "the cluster is resumed: the agents manage the databases again"
        return {"message": message, "paused": self._agent.cluster_state().paused}

    def restart(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._database_request(DbRequestKind.RESTART, body)

    def reload(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._database_request(DbRequestKind.RELOAD, body)

    def _database_request(self, kind: DbRequestKind, body: dict[str, Any]) -> dict[str, Any]:
        """A member's database restarted or reloaded by its own agent: asked of any node, carried
        to the member's agent (signed, as a change forwarded to the leader), run by its HA loop."""
        allowed = {"member", "force"} if kind is DbRequestKind.RESTART else {"member"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(400, f"invalid {kind.value} request; nothing was done", [f"{key}: unknown key" for key in unknown])
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise ApiError(400, f"invalid {kind.value} request; nothing was done", ["force: must be true or false"])
        snap = self._snap()
        target = self._resolve(snap, body.get("member"), "member")
        if target in snap.raft.observers:
            raise ApiError(400, f"node {target} is an observer and has no database")
        if kind is DbRequestKind.RESTART and target == snap.raft.leader and not force:
            raise ApiError(409, f"node {target} is the leader; switch over first (qlusterctl restart does), or send "
                                "force: true to restart its database in place (no writes until it is back)")
        if target != self._agent.my_id:
            return self._forward("POST", f"/{kind.value}", body, to=target)
        future = self._agent.request_database(kind)
        try:
            future.result(timeout=DATABASE_REQUEST_WAIT)
        except DbRequestRefused as exc:
            raise ApiError(409, f"{kind.value} of node {target}'s database not done: {exc}") from None
        except TimeoutError:
            return {"message": f"node {target}: the {kind.value} of its database is under way", "member": target,
                    "done": False}
        done = "its database restarted" if kind is DbRequestKind.RESTART else "its database's configuration reloaded"
        return {"message": f"node {target}: {done}", "member": target, "done": True}

    def add_member(self, body: dict[str, Any]) -> dict[str, Any]:
        info = _member_from_body(body)
        if not self._is_leader():
            return self._forward("POST", "/members", body)
        self._commit(ClusterState.cmd_member(info))
        return {"message": f"node {info.id} ({info.name}) recorded; it joins once its agent announces itself",
                "member": info.to_json()}

    def remove_member(self, member: str, body: dict[str, Any]) -> dict[str, Any]:
        snap = self._snap()
        target = self._resolve(snap, member, "member")
        reachable = {node_id for node_id, age in snap.last_seen.items() if age <= 3 * self._agent.config.hello_retry_interval}
        problem = removal_problem(ConfState(snap.raft.voters, snap.raft.observers), snap.raft.leader, target, reachable)
        if problem is not None and target in (snap.raft.voters | snap.raft.observers):
            raise ApiError(409, f"refusing to remove node {target}: {problem}")
        if not self._is_leader():
            return self._forward("DELETE", f"/members/{member}", body)
        # Forgotten first: the leader's membership loop adds every member it hears that is not
        # forgotten, and the removed node's agent still announces itself; removed first, it was
        # added straight back before the forget committed. A failure in between leaves a
        # forgotten voter, which the same request, sent again, removes.
        self._commit(ClusterState.cmd_forget(target))
        if target in (snap.raft.voters | snap.raft.observers):
            self._wait(self._agent.runtime.propose_conf_change(ConfChange(ConfChangeType.REMOVE, target)))
        return {"message": f"node {target} removed", "removed": target}

    # ------------------------------------------------------------------ helpers
    def _snap(self) -> AgentSnapshot:
        snap = self._agent.snapshot()
        if snap is None:
            raise ApiError(503, "the agent is starting; try again in a moment")
        return snap

    def _refuse_while_paused(self, what: str) -> None:
        if self._agent.cluster_state().paused:
            raise ApiError(409, f"the cluster is paused (maintenance mode); resume it before a {what}")

    def _is_leader(self) -> bool:
        return self._snap().raft.is_leader

    def _commit(self, command: bytes) -> None:
        self._wait(self._agent.runtime.propose(command))

    def _wait(self, future) -> None:
        try:
            future.result(timeout=10.0)
        except ProposalDropped as exc:
            raise ApiError(503, f"the change was not committed: {exc}") from None
        except TimeoutError:
            raise ApiError(503, "the change was not committed within 10 s (no quorum?)") from None

    @staticmethod
    def _resolve(snap: AgentSnapshot, value: Any, what: str) -> int:
        """A member by id, name or address."""
        if value is None or value == "":
            raise ApiError(400, f"{what} is required (a member id, name or address)")
        text = str(value)
        for node_id, info in snap.state.members.items():
            if text in (str(node_id), info.name, info.address):
                return node_id
        if text.isdigit() and int(text) in (snap.raft.voters | snap.raft.observers):
            return int(text)
        raise ApiError(404, f"{what} {text!r} is not a member of this cluster")

    def _forward(self, method: str, path: str, body: dict[str, Any], to: int | None = None) -> dict[str, Any]:
        """To the leader, or to member `to` (a restart or reload of its database)."""
        snap = self._snap()
        if to is not None:
            leader = snap.state.members.get(to)
            if leader is None:
                raise ApiError(503, f"the address of node {to} is not recorded; cannot reach its agent")
            return self._send(leader, method, path, body, f"node {to}")
        leader = snap.state.members.get(snap.raft.leader) if snap.raft.leader else None
        if leader is None:
            raise ApiError(503, "there is no leader to carry out the change; try again shortly")
        return self._send(leader, method, path, body, f"leader node {leader.id}")

    def _send(self, leader, method: str, path: str, body: dict[str, Any], who: str) -> dict[str, Any]:
        """The request signed for node `leader.id` (the leader, or the member asked), and its answer;
        `who` names that node in a refusal."""
        data = json.dumps(body).encode()
        tls = self._agent.api_tls
        scheme = "https" if tls is not None else "http"
        request = urllib.request.Request(f"{scheme}://{leader.address}:{leader.api_port}{path}", data=data,
                                         method=method)
        request.add_header("Content-Type", "application/json")
        signature = forwarding.sign(self._agent.forward_key, method, path, data, time.time(), leader.id)
        request.add_header(forwarding.HEADER, signature)
        if self._agent.api_token:
            request.add_header("Authorization", f"Bearer {self._agent.api_token}")
        try:
            context = tls.client if tls is not None else None
            with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read())
            except ValueError:
                payload = {"error": f"HTTP {exc.code}"}
            raise ApiError(exc.code, f"{who}: {payload.get('error')}", payload.get("details")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(503, f"cannot reach the {who} at {leader.address}: {exc}") from None


def _lag_seconds_rows(snap: AgentSnapshot) -> list[tuple[str, str, str, dict[str, str], float]]:
    """The leader's pg_stat_replication.replay_lag of each member it knows, labelled as the
    member gauges of api/metrics.py are; a replica caught up on an idle primary has none
    (PostgreSQL drops the measure) and counts 0 when its WAL position is the leader's."""
    rows = []
    for node_id, info in sorted(snap.state.members.items()):
        row = replication_row(snap.pg, node_id) if snap.pg is not None else None
        if row is None:
            continue
        seconds = row.replay_lag_s
        if seconds is None and snap.pg.current_lsn is not None and row.replay_lsn == snap.pg.current_lsn:
            seconds = 0.0
        if seconds is not None:
            rows.append(("qluster_member_lag_seconds", "gauge", "Seconds the member's replay is behind the leader, as "
                         "the leader's pg_stat_replication.replay_lag measures it (only the leader reports it)",
                         {"member": info.name, "id": str(node_id), "address": info.address}, seconds))
    return rows


def _member_from_body(body: dict[str, Any]) -> MemberInfo:
    problems = []
    for key in ("id", "name", "address"):
        if key not in body:
            problems.append(f"{key}: required")
    unknown = sorted(set(body) - {"id", "name", "address", "api_port", "db_port", "observer"})
    problems += [f"{key}: unknown key" for key in unknown]
    if problems:
        raise ApiError(400, "invalid member; nothing was changed", problems)
    try:
        info = MemberInfo.from_json({"api_port": 8080, "db_port": None if body.get("observer") else 5432, **body})
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"invalid member: {exc}") from None
    if info.id <= 0:
        raise ApiError(400, "invalid member; nothing was changed", ["id: must be a positive integer"])
    return info
