"""`qluster-haproxy-sync`: keeps HAProxy's backend servers equal to the cluster's database nodes.

Each round reads `GET /map` from the local agent (the pooler host's observer), plans the runtime
API commands (plan.py) and sends them, so a node added to the cluster later takes traffic
without re-running the play and a removed one is dropped. HAProxy's own health checks on
/primary and /replica move the traffic when the leader changes; this program only hurries one
step in each direction: when the map names a new leader, the previous one is taken out of the
leader's backend and its sessions are closed at once, instead of after its checks have timed
out (a killed host does not refuse them, it stays silent); and the new one is put in as soon as
its own /primary answers 200 (asked every PROMOTE_POLL seconds), instead of at its next check.
The former leader goes out when the new one comes in (or after DEMOTE_WAIT), never before: the
backend is never left without a server while a connection could be retried on the new leader.

When the agent cannot be read, HAProxy is kept in line with the last members seen (saved in
the state file, or the role's seed list), so a reload of HAProxy during an agent outage still
gets its servers back. Failures are retried with exponential backoff and logged through a rate
limiter: once when they start, at most once per `log-repeat` while they last, once when over.

With `hold-databases` set, it also holds PgBouncer's transaction-pooled clients across a planned
switchover (hold.py, holder.py): when the map announces one (`switchover_to`) it pauses those
databases and says so in the hold file, which the observer agent passes on to the leader; once
the new leader is in the read-write backend it resumes them. While a switchover is announced or
a hold is on, rounds come every PROMOTE_POLL.

With `failover-hold` (the default) it holds them as well while the map's leader is silent: not
heard by the observer for half a lease (hold.py silence_after, from the node-timeout the map
gives), or no leader named any more, or whose sessions HAProxy saw reset at once (its host's
processes died: `show stat`'s srv_abrt). Transactions that start then wait for the new leader
instead of failing on the dead one; the hold ends once a leader is routed, or after
`failover-hold-timeout` (twice the node-timeout unless set). To notice the silence in time, rounds
come at least every quarter lease meanwhile.

With `haproxy-session-log`, HAProxy's read-write frontend logs every session's end to a socket
this program listens on (session_log.py), and the sync waits for it between rounds: the leader's
sessions ending together (its host's processes died) start the failover hold within a few
milliseconds, on a PgBouncer admin connection kept logged in for it - before the clients whose
transactions failed reconnect through a server connection to the dead leader. Without it,
HAProxy's count of sessions the server side aborted is read once a round instead.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from ..api.tls import TlsFileError, client_context
from .haproxy import HaproxyError, RuntimeApi
from .holder import Holder
from .pgbouncer import AdminAccess, AdminConsole
from ..config.keys import KEYS_BY_PATH
from .hold import failover_bound, silence_after
from .plan import (MapError, Member, demote_commands, leader_from_map, leader_heard_ago, member_id, members_from_json,
                   members_from_map, node_timeout_of, parse_servers_state, plan, promote_commands)
from .ratelimit import Backoff, RateLimitedLog
from .session_log import LeaderEnds, SessionLog, SessionLogError
from .settings import SettingsError, SyncSettings, load_settings, read_admin_password

log = logging.getLogger("qluster-haproxy-sync")

# After the map names a new leader: seconds between asks of its /primary, and how long to ask
# (its database promotes within a second or two; past this its own checks take over).
PROMOTE_POLL = 0.05
PROMOTE_WATCH = 15.0
# The former leader stays in the read-write backend until the new one is in, at most this long.
# Taken out first, it would leave the backend empty for a moment, and HAProxy refuses a
# connection at once when no server is up (PgBouncer then waits server_login_retry before its
# next try); left in, a connection to it fails within HAProxy's connect timeout and is retried
# on the new leader as soon as that is up. It can write nothing meanwhile: its lease ran out
# before the election that named the new leader, and a database that lost its lease is fenced.
DEMOTE_WAIT = 3.0
PRIMARY_ASK_TIMEOUT = 0.5
# Until the map gives the cluster's node-timeout (an agent older than node_timeout_s): the default.
DEFAULT_NODE_TIMEOUT = KEYS_BY_PATH["cluster.node-timeout"].default
# Sessions of the leader's server aborted by the server side within one round that say its host
# reset its connections (its processes died): one alone happens (a backend ended by PostgreSQL).
RESET_ABORTS = 2
# After a RECONNECT of the sync's own of a database that was not paused (its start), PgBouncer
# closes the leader's server connections as they are released: ends of the leader's sessions
# then are no news of it. (A finished PAUSE has closed them already: no quiet after a hold.)
RECONNECT_QUIET = 1.0
# And for a moment after any hold: the server connections PgBouncer was closing for the PAUSE (a
# login it gave up on, say) end a little after the RESUME.
HOLD_QUIET = 0.2


def fetch_map(url: str, timeout: float, context: ssl.SSLContext | None = None) -> Any:
    # nosec - the local agent's URL from the config; `context` checks an https:// one
    with urllib.request.urlopen(url, timeout=timeout, context=context) as answer:
        return json.loads(answer.read())


def answers_primary(member: Member, timeout: float, context: ssl.SSLContext | None = None) -> bool:
    """Whether the node's agent answers 200 on /primary, asked as HAProxy's checks ask it
    (over https:// with `context`, when the nodes' APIs speak HTTPS)."""
    scheme = "https" if context is not None else "http"
    request = urllib.request.Request(f"{scheme}://{member.address}:{member.api_port}/primary", method="OPTIONS")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as answer:  # nosec - from the map
            return answer.status == 200
    except (OSError, ValueError):  # urllib's HTTPError (a 503) is an OSError
        return False


def member_context(settings: SyncSettings) -> ssl.SSLContext | None:
    """The TLS context for the nodes' APIs (None: plain HTTP); SettingsError naming the key."""
    if settings.api_cafile is None:
        return None
    try:
        return client_context(settings.api_cafile, settings.api_certfile, settings.api_keyfile)
    except TlsFileError as exc:
        key = {"certificate": "api-certfile", "key": "api-keyfile", "CA": "api-cafile"}[exc.role]
        raise SettingsError(f"{key}: {exc}") from None


def admin_console(settings: SyncSettings) -> AdminConsole | None:
    """PgBouncer's admin console for the switchover hold (None: no hold-databases); SettingsError naming the key."""
    if not settings.hold_databases:
        return None
    return AdminConsole(AdminAccess(settings.pgbouncer_socket_dir, settings.pgbouncer_port,
                                    settings.pgbouncer_admin_user, read_admin_password(settings), settings.timeout))


def describe(members: tuple[Member, ...]) -> str:
    return ", ".join(f"{m.name} {m.address}:{m.db_port} (checks on {m.api_port})" for m in members) or "none"


class Syncer:
    def __init__(self, settings: SyncSettings, api: RuntimeApi | None = None,
                 read_map: Callable[[str, float], Any] | None = None,
                 emit: Callable[[str, str], None] | None = None,
                 ask_primary: Callable[[Member, float], bool] | None = None,
                 context: ssl.SSLContext | None = None, console: AdminConsole | None = None,
                 session_log: SessionLog | None = None) -> None:
        self.settings = settings
        self.api = api or RuntimeApi(settings.haproxy_socket, settings.timeout)
        self.read_map = read_map or functools.partial(fetch_map, context=context)
        self.ask_primary = ask_primary or functools.partial(answers_primary, context=context)
        self.say = emit or (lambda level, message: getattr(log, level)(message))
        self.limited = RateLimitedLog(self.say, settings.log_repeat)
        self.backoff = Backoff(settings.interval, settings.max_backoff)
        self.map_backoff = Backoff(settings.interval, settings.max_backoff)
        self.next_map_read = 0.0
        self.members: tuple[Member, ...] | None = None
        self.members_from = ""
        self.leader: str | None = None  # the server name of the last leader the map named
        self.demote: set[str] = set()  # former leaders still to take out of the leader's backend
        self.promote: str | None = None  # a new leader to put in as soon as its /primary answers
        self.leader_changed_at = 0.0  # when the map last named another leader (PROMOTE_WATCH, DEMOTE_WAIT)
        self.leader_id: int | None = None  # the map's leader and switchover target, as member ids
        self.switchover_to: int | None = None
        self.routed = False  # the map's leader is up in the leader's backend, every former leader out
        self.node_timeout = DEFAULT_NODE_TIMEOUT  # the cluster's, as the map last gave it
        self.leader_heard_ago: float | None = None  # seconds since the observer heard the map's leader
        self.leader_named = False  # the map has named a leader since this process started
        self.term: int | None = None  # the map's
        self.leader_aborts: tuple[str | None, int | None] = (None, None)  # the leader's srv_abrt last round
        self.session_log = session_log  # HAProxy's session ends, when it logs them to this program
        self.leader_ends = LeaderEnds(settings.leader_backend)
        self.holder = Holder(console, settings.hold_databases, settings.hold_file, settings.hold_timeout,
                             self.say, self.limited,
                             session_databases=settings.hold_session_databases) if console is not None else None

    # -------------------------------------------------------------------- members
    def load_known_members(self, now: float) -> None:
        """The members to use until the map answers: the state file, else the seed list."""
        try:
            with open(self.settings.state_file, encoding="utf-8") as handle:
                self.members = members_from_json(json.load(handle)) or None
                self.members_from = f"the state file {self.settings.state_file}"
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            message = f"ignoring the state file {self.settings.state_file}: {exc}"
            self.limited.problem("state-file", "unreadable", message, now)
        if self.members is None and self.settings.seed:
            self.members, self.members_from = self.settings.seed, "the seed list of the configuration"
        if self.members:
            self.say("info", f"starting with the members from {self.members_from}: {describe(self.members)}")

    def _save_members(self, now: float) -> None:
        assert self.members is not None
        path = self.settings.state_file
        try:
            directory = os.path.dirname(path) or "."
            fd, tmp = tempfile.mkstemp(prefix=".members.", dir=directory)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump([m.to_json() for m in self.members], handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            self.limited.resolved("state-file", f"the state file {path} is written again", now)
        except OSError as exc:
            message = f"cannot write the state file {path}: {exc.strerror or exc}"
            self.limited.problem("state-file", "unwritable", message, now)

    def refresh_members(self, now: float) -> bool:
        """Read the map when due; True when it was read (or not due), False on a failure."""
        if now < self.next_map_read:
            return True
        url = self.settings.map_url
        try:
            data = self.read_map(url, self.settings.timeout)
            members = members_from_map(data)
            leader = leader_from_map(data)
            self.leader_id, self.switchover_to = member_id(data, "leader"), member_id(data, "switchover_to")
            self.leader_heard_ago = leader_heard_ago(data)
            self.term = data.get("term") if isinstance(data.get("term"), int) else None
            self.node_timeout = node_timeout_of(data) or self.node_timeout
            self.leader_named = self.leader_named or self.leader_id is not None
        except (OSError, ValueError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", None) or exc
            kind = "map" if isinstance(exc, MapError) else type(reason).__name__
            self.limited.problem("map", kind, f"cannot read the cluster map from {url}: {reason}; keeping "
                                              f"HAProxy's servers as the last members seen ({describe(self.members or ())})",
                                 now)
            self.next_map_read = now + self.map_backoff.failure()
            return False
        self.next_map_read = now
        self.map_backoff.success()
        if leader is not None:
            if self.leader is not None and leader != self.leader:
                self.demote.add(self.leader)
                self.promote, self.leader_changed_at = leader, now
            self.demote.discard(leader)
            self.leader = leader
        if members is None:
            self.limited.problem("map", "no-voters", f"the agent at {url} knows no database node yet (an observer "
                                                     "waits for the leader to add it); keeping HAProxy's servers",
                                 now, level="info")
            return True
        self.limited.resolved("map", f"the cluster map at {url} answers again", now)
        if members != self.members or self.members_from != url:
            if members != self.members:
                self.say("info", f"cluster members: {describe(members)}")
            self.members, self.members_from = members, url
            self._save_members(now)  # also when the map confirms the seed: the file is what a restart uses
        return True

    # -------------------------------------------------------------------- HAProxy
    def reconcile(self, now: float) -> bool:
        """Bring every backend in line with self.members; False when HAProxy could not be used."""
        self.routed = False
        if self.members is None:
            return True
        try:
            states = {b: parse_servers_state(self.api.servers_state(b)) for b in self.settings.backends}
        except (HaproxyError, ValueError, KeyError) as exc:
            self.limited.problem("haproxy", type(exc).__name__, f"cannot read HAProxy's servers: {exc}", now)
            return False
        self.limited.resolved("haproxy", "HAProxy's runtime API answers again", now)
        for backend, servers in states.items():
            for step in plan(backend, self.members, servers, self.settings.server_options):
                topic = f"step:{step.reason.split(' ', 1)[0]}"
                try:
                    for command in step.commands:
                        self.api.run(command)
                except HaproxyError as exc:
                    self.limited.problem(topic, step.reason, f"{step.reason}: {exc}; will retry", now)
                    continue
                self.limited.resolved(topic, "a previously failing change went through", now)
                self.say("info", step.reason)
            if backend == self.settings.leader_backend:
                by_name = {s.name: s for s in servers}
                promoted = self._promote_new_leader(backend, by_name, now)
                if self.promote is None or now - self.leader_changed_at >= DEMOTE_WAIT:
                    self._demote_former_leaders(backend, by_name, now)
                leader = by_name.get(self.leader or "")
                self.routed = (self.promote is None and not self.demote and leader is not None
                               and (promoted or leader.op_state == 2))
        return True

    def _demote_former_leaders(self, backend: str, servers: dict, now: float) -> None:
        for name in sorted(self.demote):
            server = servers.get(name)
            if server is None or server.op_state == 0:  # gone, or already down: its sessions are closed
                self.demote.discard(name)
                continue
            if not self._run_step("step:demote", name, demote_commands(backend, name),
                                  f"cannot take {backend}/{name} out", now):
                continue
            self.demote.discard(name)
            self.say("info", f"the map names {self.leader} the leader: {backend}/{name} is taken out of {backend} "
                             "and its sessions are closed (its checks bring it back if it answers /primary again)")

    def _promote_new_leader(self, backend: str, servers: dict, now: float) -> bool:
        """Put the new leader in once its /primary answers 200; True when this round did."""
        name = self.promote
        if name is None:
            return False
        server = servers.get(name)
        member = next((m for m in self.members or () if m.name == name), None)
        if now - self.leader_changed_at >= PROMOTE_WATCH or (server is not None and server.op_state == 2):
            self.promote = None  # up already (its check was first), or its checks take over now
            return False
        if server is None or member is None or not server.complete:
            return False  # not yet a full server of the backend: the plan adds it first
        if not self.ask_primary(member, min(PRIMARY_ASK_TIMEOUT, self.settings.timeout)):
            return False  # not promoted yet: asked again in PROMOTE_POLL
        if not self._run_step("step:promote", name, promote_commands(backend, name),
                              f"cannot put {backend}/{name} in", now):
            return False
        self.promote = None
        self.say("info", f"the map names {name} the leader and its /primary answers 200: {backend}/{name} is up "
                         "now, before its next check")
        return True

    def _run_step(self, topic: str, name: str, commands: list[str], failure: str, now: float) -> bool:
        """Send `commands`; False (logged through the rate limiter, retried next round) on a refusal."""
        try:
            for command in commands:
                self.api.run(command)
        except HaproxyError as exc:
            self.limited.problem(topic, name, f"{failure}: {exc}; will retry", now)
            return False
        self.limited.resolved(topic, "a previously failing change went through", now)
        return True

    # -------------------------------------------------------------------- the hold
    @property
    def leader_silent(self) -> bool:
        """The map's leader has not been heard for silence_after, or the map names none since it did."""
        if self.leader_id is None:
            return self.leader_named
        return self.leader_heard_ago is not None and self.leader_heard_ago > silence_after(self.node_timeout)

    def _leader_reset(self, now: float) -> bool:
        """The leader's host closed its connections at once (its processes died): HAProxy logged a
        burst of the leader's sessions ending (session_log.py), or without that log, counted at
        least RESET_ABORTS of them aborted by the server side since the last round."""
        if not self.settings.failover_hold or not self.settings.leader_backend or self.leader is None:
            return False
        if self.session_log is not None:
            self.leader_ends.note(self.session_log.drain(), self.leader, now)
            if self._pgbouncer_closing(now):
                self.leader_ends.forget()
            return self.leader_ends.burst()
        try:
            aborts = self.api.server_aborts(self.settings.leader_backend).get(self.leader)
        except HaproxyError:
            return False
        before, self.leader_aborts = self.leader_aborts, (self.leader, aborts)
        return (aborts is not None and before[0] == self.leader and before[1] is not None
                and aborts - before[1] >= RESET_ABORTS)

    def _pgbouncer_closing(self, now: float) -> bool:
        """Whether PgBouncer may be closing server connections for a hold of the sync's (during it,
        just after it, after a RECONNECT of a database not paused): their ends are no news."""
        holder = self.holder
        if holder is None:
            return False
        return (holder.active or (holder.resumed_at is not None and now - holder.resumed_at < HOLD_QUIET)
                or (holder.reconnected_at is not None and now - holder.reconnected_at < RECONNECT_QUIET))

    @property
    def failover_hold_timeout(self) -> float:
        """The failover hold's bound now (0: none)."""
        if not self.settings.failover_hold:
            return 0.0
        return self.settings.failover_hold_timeout or failover_bound(self.node_timeout)

    def round(self, now: float) -> float:
        """One round; returns the pause before the next."""
        self.refresh_members(now)
        reconciled = self.reconcile(now)
        if self.holder is not None:  # also when HAProxy fails: the hold's bound still runs
            self.holder.failover_timeout = self.failover_hold_timeout
            self._step_hold(now, reconciled and self.routed, self._leader_reset(now))
        pause = self.backoff.success() if reconciled else self.backoff.failure()
        if self.promote is not None or self.switchover_to is not None or (self.holder and self.holder.active):
            return min(pause, PROMOTE_POLL)
        if self.holder is not None and self.settings.failover_hold:  # to notice a silent leader within half a lease
            return min(pause, max(PROMOTE_POLL, silence_after(self.node_timeout) / 2))
        return pause

    def react(self, now: float) -> None:
        """Between rounds, on HAProxy's session log: a burst of the leader's sessions ending starts
        the failover hold now, with what the last round knew (the next round follows at once)."""
        if self.holder is not None and not self.holder.active and self._leader_reset(now):
            self._step_hold(now, self.routed, True)

    def _step_hold(self, now: float, routed: bool, leader_reset: bool) -> None:
        """One step of the holds with what the sync knows of the map now."""
        assert self.holder is not None
        self.holder.step(self.leader_id, self.switchover_to, routed, now, self.leader_silent, self.term, leader_reset,
                         self.leader_heard_ago)

    def wait(self, seconds: float, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, wake: tuple = ()) -> None:
        """The pause between rounds; with the session log, spent listening to it (and to `wake`:
        readable when the process is asked to stop)."""
        if self.session_log is None:
            sleep(seconds)
            return
        deadline = clock() + seconds
        while (left := deadline - clock()) > 0:
            if not self.session_log.wait(left, wake):
                return  # the time is up, or asked to stop
            self.react(clock())
            if self.holder is not None and self.holder.active:
                return  # a hold began: rounds follow it now

    def run_forever(self, stop: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep, wake: tuple = ()) -> None:
        """Round after round until `stop()`; PgBouncer is resumed on the way in and on the way out."""
        self.load_known_members(clock())
        if self.holder is not None:
            self.holder.release_all("starting", clock())
        try:
            while not stop():
                self.wait(self.round(clock()), clock, sleep, wake)
        finally:
            if self.holder is not None:
                self.holder.release_all("stopping", clock())
                self.holder.console.close()
            if self.session_log is not None:
                self.session_log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qluster-haproxy-sync", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", default="/etc/qluster/haproxy-sync.yaml")
    parser.add_argument("--once", action="store_true", help="one round, then exit (1 if HAProxy was not reachable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        settings = load_settings(args.config)
        context = member_context(settings)
        console = admin_console(settings)
    except SettingsError as exc:
        print(f"qluster-haproxy-sync: config error: {exc}", file=sys.stderr)
        return 2
    if args.once:
        syncer = Syncer(settings, context=context)
        syncer.load_known_members(time.monotonic())
        syncer.refresh_members(time.monotonic())
        return 0 if syncer.reconcile(time.monotonic()) else 1
    syncer = Syncer(settings, context=context, console=console, session_log=open_session_log(settings))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())  # systemd's stop: resume PgBouncer first
    # A signal also wakes the wait on the session log (SIGTERM's handler runs, the wait goes on).
    wake_read, wake_write = socket.socketpair()
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    try:
        syncer.run_forever(stop=stopping.is_set, sleep=stopping.wait, wake=(wake_read,))
    except KeyboardInterrupt:
        pass
    return 0


def open_session_log(settings: SyncSettings) -> SessionLog | None:
    """The socket HAProxy's session log comes to, when the failover hold uses one; None (logged:
    the hold then reads HAProxy's counters each round) when it cannot be made."""
    if not (settings.haproxy_session_log and settings.failover_hold and settings.hold_databases):
        return None
    try:
        return SessionLog(settings.haproxy_session_log)
    except SessionLogError as exc:
        log.warning("%s; the failover hold reads HAProxy's aborted-session counters once a round instead", exc)
        return None


if __name__ == "__main__":
    sys.exit(main())
