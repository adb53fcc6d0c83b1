"""The sync against a real HAProxy: three fake nodes, each a TCP "database" that answers with its
name and an HTTP health endpoint with the agent's status codes, and a fake agent serving /map.

What a user would notice is checked through HAProxy's own frontends: writes reach the leader
only, reads the followers only, a node added to the map takes traffic without a restart, a
removed one is gone, a demoted leader's sessions are closed, a killed leader (silent, not
refusing) leaves the read-write route as soon as the map names another, and an unreachable
HAProxy or agent writes a bounded number of log lines.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from qluster_agent.pooler.haproxy import HaproxyError, RuntimeApi
from qluster_agent.pooler.plan import Member, parse_servers_state
from qluster_agent.pooler.settings import parse_settings
from qluster_agent.pooler.sync import DEMOTE_WAIT, Syncer

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if shutil.which("/usr/sbin/haproxy") else None)
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="needs the haproxy binary (apt install haproxy)")

OPTIONS = "check inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1 on-marked-down shutdown-sessions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.05)


class FakeNode:
    """A database port that says its name and holds the session open, and a health API."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.role = "replica"  # or "primary", or "silent" (a killed host: checks time out)
        node = self

        class Db(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(node.name.encode() + b"\n")
                try:
                    while self.request.recv(64):
                        pass
                except OSError:
                    pass

        class Health(http.server.BaseHTTPRequestHandler):
            def answer(self):
                deadline = time.monotonic() + 30
                while node.role == "silent" and time.monotonic() < deadline:
                    time.sleep(0.05)
                path = self.path.split("?", 1)[0]
                ok = (path == "/primary" and node.role == "primary") or (path == "/replica" and node.role == "replica")
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_OPTIONS = answer

            def log_message(self, *args):
                pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.db = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Db)
        self.db.daemon_threads = True
        self.api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
        self.api.daemon_threads = True
        for server in (self.db, self.api):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def row(self, node_id: int, role: str = "follower") -> dict:
        return {"id": node_id, "name": self.name, "address": "127.0.0.1", "db_port": self.db.server_address[1],
                "api_port": self.api.server_address[1], "role": role, "voter": True, "state": "healthy"}

    def close(self):
        self.role = "closed"
        for server in (self.db, self.api):
            server.shutdown()
            server.server_close()


class FakeAgent:
    """GET /map from whatever `members` holds; `up = False` answers 500 (a broken agent)."""

    def __init__(self) -> None:
        self.members: list[dict] = []
        self.leader: int | None = None
        self.switchover_to: int | None = None
        self.node_timeout_s: float | None = None
        self.term: int | None = None
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                extra = {key: value for key, value in (("node_timeout_s", agent.node_timeout_s), ("term", agent.term))
                         if value is not None}
                body = json.dumps({"leader": agent.leader, "switchover_to": agent.switchover_to,
                                   "members": agent.members, **extra}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/map"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def start_haproxy(tmp_path, rw_frontend_lines: str = ""):
    """HAProxy with the role's two routes and no server (the sync adds them); `rw_frontend_lines`
    go into the read-write frontend. Yields what the tests need, stops it after."""
    sock = tmp_path / "admin.sock"
    rw, ro = free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(f"""
global
  stats socket {sock} mode 600 level admin
defaults
  mode tcp
  timeout connect 1s
  timeout client 1m
  timeout server 1m
  timeout check 500ms
frontend fe_rw
  bind 127.0.0.1:{rw}
  default_backend pg_rw
{rw_frontend_lines}
frontend fe_ro
  bind 127.0.0.1:{ro}
  default_backend pg_ro
backend pg_rw
  balance roundrobin
  option httpchk OPTIONS /primary
backend pg_ro
  balance roundrobin
  option httpchk OPTIONS /replica?lag=16MB
""")
    proc = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(sock.exists, what="haproxy's socket")
    yield {"socket": str(sock), "rw": rw, "ro": ro}
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def haproxy(tmp_path):
    yield from start_haproxy(tmp_path)


@pytest.fixture
def nodes():
    made = [FakeNode(f"qluster-0{i}") for i in (1, 2, 3, 4)]
    made[0].role = "primary"
    yield made
    for node in made:
        node.close()


@pytest.fixture
def agent():
    made = FakeAgent()
    yield made
    made.close()


def make_syncer(haproxy, agent, tmp_path, lines=None, **extra):
    raw = {"map-url": agent.url, "haproxy-socket": haproxy["socket"], "server-options": OPTIONS,
           "state-file": str(tmp_path / "members.json"), "interval": "100ms", "max-backoff": "2s", **extra}
    emit = (lambda level, message: lines.append(message)) if lines is not None else None
    return Syncer(parse_settings(raw), emit=emit)


def leading_first(haproxy, nodes, agent, tmp_path, lines: list[str], server_options: str) -> Syncer:
    """A syncer with these check options, once writes reach qluster-01, the map's leader."""
    agent.leader, agent.members = 1, [nodes[0].row(1, "leader"), nodes[1].row(2), nodes[2].row(3)]
    syncer = make_syncer(haproxy, agent, tmp_path, lines, **{"server-options": server_options})
    syncer.round(time.monotonic())
    wait_for(lambda: who(haproxy["rw"]) == "qluster-01", what="writes on the leader")
    return syncer


def who(port: int) -> str:
    """The name the database behind a frontend says, or '' when HAProxy had no server for us."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.settimeout(2)
            return conn.recv(64).decode().strip()
    except OSError:
        return ""


def servers(haproxy, backend):
    return {s.name: s for s in parse_servers_state(RuntimeApi(haproxy["socket"]).servers_state(backend))}


def test_writes_reach_the_leader_and_reads_the_followers(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader"), nodes[1].row(2), nodes[2].row(3)]
    syncer = make_syncer(haproxy, agent, tmp_path)
    syncer.load_known_members(time.monotonic())
    syncer.round(time.monotonic())
    assert set(servers(haproxy, "pg_rw")) == set(servers(haproxy, "pg_ro")) == {"qluster-01", "qluster-02",
                                                                                "qluster-03"}
    # From the moment they are added until their checks pass, no write may reach a replica.
    seen_rw = set()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        seen_rw.add(who(haproxy["rw"]))
    assert seen_rw <= {"", "qluster-01"} and "qluster-01" in seen_rw
    wait_for(lambda: {who(haproxy["ro"]) for attempt in range(6)} == {"qluster-02", "qluster-03"}, what="reads on both followers")


def test_a_demoted_leaders_sessions_close_and_writes_follow_the_new_leader(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader"), nodes[1].row(2), nodes[2].row(3)]
    syncer = make_syncer(haproxy, agent, tmp_path)
    syncer.round(time.monotonic())
    wait_for(lambda: who(haproxy["rw"]) == "qluster-01", what="writes on the leader")
    session = socket.create_connection(("127.0.0.1", haproxy["rw"]), timeout=5)
    assert session.recv(64) == b"qluster-01\n"
    nodes[0].role, nodes[1].role = "replica", "primary"  # a switchover: nothing for the sync to do
    session.settimeout(5)
    started = time.monotonic()
    assert session.recv(64) == b""  # closed by HAProxy (on-marked-down shutdown-sessions)
    assert time.monotonic() - started < 2
    wait_for(lambda: who(haproxy["rw"]) == "qluster-02", what="writes on the new leader")
    session.close()


def test_a_killed_leader_leaves_the_read_write_route_as_soon_as_the_map_names_another(haproxy, nodes, agent,
                                                                                      tmp_path):
    # Checks this slow would notice a silent leader only after about 15 s by themselves.
    slow = "check inter 5s fastinter 5s downinter 200ms fall 3 rise 1 on-marked-down shutdown-sessions"
    lines: list[str] = []
    syncer = leading_first(haproxy, nodes, agent, tmp_path, lines, slow)
    session = socket.create_connection(("127.0.0.1", haproxy["rw"]), timeout=5)
    assert session.recv(64) == b"qluster-01\n"
    syncer.round(time.monotonic())  # the same leader: nothing happens
    assert servers(haproxy, "pg_rw")["qluster-01"].op_state == 2
    # The leader's host is killed: its checks go unanswered. The cluster elects qluster-02.
    nodes[0].role, nodes[1].role = "silent", "primary"
    agent.leader = 2
    started = time.monotonic()
    syncer.round(time.monotonic())
    session.settimeout(5)
    assert session.recv(64) == b""  # its session is closed at once
    wait_for(lambda: {who(haproxy["rw"]) for attempt in range(6)} == {"qluster-02"}, timeout=3,
             what="every write on the new leader")
    assert time.monotonic() - started < 3
    assert any("qluster-01 is taken out of pg_rw" in line for line in lines), lines
    session.close()


def test_the_new_leader_takes_writes_once_its_primary_answers_not_at_its_next_check(haproxy, nodes, agent,
                                                                                    tmp_path):
    # A down server is checked only every downinter: 5 s here, so by itself HAProxy would send
    # writes to the new leader seconds after it promoted.
    slow = "check inter 5s fastinter 5s downinter 5s fall 3 rise 1 on-marked-down shutdown-sessions"
    lines: list[str] = []
    syncer = leading_first(haproxy, nodes, agent, tmp_path, lines, slow)
    # The leader's host is killed; the map names qluster-02, whose database is still promoting.
    nodes[0].role = "silent"
    agent.leader = 2
    started = time.monotonic()
    syncer.round(time.monotonic())
    state = servers(haproxy, "pg_rw")
    assert state["qluster-02"].op_state == 0  # not up before it answers /primary
    # Nor is the backend left empty meanwhile: HAProxy would refuse connections at once instead
    # of retrying them on the new leader when it comes in.
    assert state["qluster-01"].op_state == 2
    nodes[1].role = "primary"
    wait_for(lambda: syncer.round(time.monotonic()) is not None and who(haproxy["rw"]) == "qluster-02",
             timeout=3, what="writes on the new leader")
    assert time.monotonic() - started < 3
    assert servers(haproxy, "pg_rw")["qluster-01"].op_state == 0  # out once the new one is in
    assert any("qluster-02 is up now" in line for line in lines), lines
    assert syncer.round(time.monotonic()) == pytest.approx(0.1)  # back to the normal interval


def test_a_former_leader_goes_out_after_a_while_even_if_the_new_one_never_answers_primary(haproxy, nodes, agent,
                                                                                          tmp_path):
    agent.leader, agent.members = 1, [nodes[0].row(1, "leader"), nodes[1].row(2), nodes[2].row(3)]
    syncer = make_syncer(haproxy, agent, tmp_path)
    syncer.round(time.monotonic())
    wait_for(lambda: servers(haproxy, "pg_rw")["qluster-01"].op_state == 2, what="the leader up")
    agent.leader = 2  # named the leader, but its database never becomes writable
    start = time.monotonic()
    syncer.round(start)
    assert servers(haproxy, "pg_rw")["qluster-01"].op_state == 2
    syncer.round(start + DEMOTE_WAIT + 0.1)
    assert servers(haproxy, "pg_rw")["qluster-01"].op_state == 0


def test_a_node_added_later_serves_and_a_removed_one_is_dropped(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader"), nodes[1].row(2)]
    syncer = make_syncer(haproxy, agent, tmp_path)
    syncer.round(time.monotonic())
    wait_for(lambda: who(haproxy["ro"]) == "qluster-02", what="reads on qluster-02")
    agent.members.append(nodes[3].row(4))
    syncer.round(time.monotonic())
    wait_for(lambda: "qluster-04" in {who(haproxy["ro"]) for attempt in range(4)}, what="reads on the new node")
    agent.members = [nodes[0].row(1, "leader"), nodes[3].row(4)]
    syncer.round(time.monotonic())
    assert set(servers(haproxy, "pg_ro")) == {"qluster-01", "qluster-04"}
    assert {who(haproxy["ro"]) for attempt in range(6)} == {"qluster-04"}
    assert syncer.round(time.monotonic()) == 0.1  # nothing left to do
    saved = json.loads((tmp_path / "members.json").read_text())
    assert [m["name"] for m in saved] == ["qluster-01", "qluster-04"]


def test_haproxy_restarted_while_the_agent_is_down_gets_the_last_members_back(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader"), nodes[1].row(2)]
    make_syncer(haproxy, agent, tmp_path).round(time.monotonic())
    agent.close()  # the agent is gone; a new sync process starts from the state file
    for backend in ("pg_rw", "pg_ro"):  # as after a reload: HAProxy has no servers
        for name in ("qluster-01", "qluster-02"):
            for command in (f"set server {backend}/{name} state maint", f"shutdown sessions server {backend}/{name}",
                            f"del server {backend}/{name}"):
                RuntimeApi(haproxy["socket"]).run(command)
    lines: list[str] = []
    syncer = make_syncer(haproxy, agent, tmp_path, lines)
    syncer.load_known_members(time.monotonic())
    syncer.round(time.monotonic())
    assert set(servers(haproxy, "pg_rw")) == {"qluster-01", "qluster-02"}
    wait_for(lambda: who(haproxy["rw"]) == "qluster-01", what="writes on the leader")
    assert any("cannot read the cluster map" in line for line in lines)


def test_a_map_that_confirms_the_seed_is_saved_for_the_next_start(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader")]
    seed = [{"name": "qluster-01", "address": "127.0.0.1", "db_port": nodes[0].db.server_address[1],
             "api_port": nodes[0].api.server_address[1]}]
    lines: list[str] = []
    syncer = make_syncer(haproxy, agent, tmp_path, lines, seed=seed)
    syncer.load_known_members(time.monotonic())
    syncer.round(time.monotonic())
    assert json.loads((tmp_path / "members.json").read_text()) == seed
    assert not any(line.startswith("cluster members") for line in lines)  # nothing changed


def test_a_map_without_voters_changes_nothing(haproxy, nodes, agent, tmp_path):
    agent.members = [nodes[0].row(1, "leader")]
    syncer = make_syncer(haproxy, agent, tmp_path)
    syncer.round(time.monotonic())
    agent.members = []
    syncer.round(time.monotonic())
    assert set(servers(haproxy, "pg_rw")) == {"qluster-01"}


def test_ten_minutes_of_unreachable_haproxy_and_agent_log_a_few_lines(nodes, agent, tmp_path):
    agent.close()
    lines: list[str] = []
    syncer = make_syncer({"socket": str(tmp_path / "no-such.sock")}, agent, tmp_path, lines, **{"log-repeat": "1m"})
    syncer.members = (Member("qluster-01", "127.0.0.1", 5432, 8080),)
    clock, attempts = 0.0, 0
    while clock < 600:
        clock += syncer.round(clock)
        attempts += 1
    # Retries back off to max-backoff (2 s here); each problem is logged at most once a minute.
    assert attempts < 600 / 2 + 10
    assert len(lines) <= 2 * 11, lines


def test_the_runtime_api_reports_a_refusal(haproxy):
    api = RuntimeApi(haproxy["socket"])
    with pytest.raises(HaproxyError, match="refused `del server pg_rw/nope`"):
        api.run("del server pg_rw/nope")
    with pytest.raises(HaproxyError, match="no backend"):
        api.servers_state("nope")
    with pytest.raises(ValueError):
        api.ask("show info; show stat")
