"""What the lab benches share: the cluster map and its health, a write through the pooler, and
the failover measurement (kill -9 of the leader's host -> first successful write through the
pooler), used by bench/pooler.py and bench/stability.py.
"""

from __future__ import annotations

import functools
import threading
import time

import psycopg2

from qlab.agent_api import read_map
from qlab.faults import Host, wait_until
from qlab.topology import DB_HOSTS, NFS_HOST


def healthy(cluster: dict | None) -> bool:
    if not cluster or cluster.get("leader") is None:
        return False
    voters = [m for m in cluster["members"] if m["voter"]]
    return len(voters) == 3 and all(m["state"] == "healthy" for m in voters)


def leader_of(cluster: dict) -> dict:
    return next(m for m in cluster["members"] if m["id"] == cluster["leader"])


def write(address: str, password: str) -> str | None:
    try:
        conn = psycopg2.connect(host=address, port=5432, dbname="postgres", user="qhb", password=password,
                                connect_timeout=3)
    except psycopg2.Error:
        return None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS qcp_bench (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
            cur.execute("INSERT INTO qcp_bench DEFAULT VALUES RETURNING host(inet_server_addr())")
            return cur.fetchone()[0]
    except psycopg2.Error:
        return None
    finally:
        conn.close()


STALL_AFTER = 10.0  # seconds without a write after a kill before the pooler's state is recorded
HAPROXY_SESSIONS = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/haproxy/admin.sock'); "
                    "s.sendall(b'show sess\\n'); print(s.makefile().read())")
CLIENT_BACKENDS = ("SELECT pid, client_addr, state, wait_event_type, wait_event, now() - query_start AS running, "
                   "left(query, 60) FROM pg_stat_activity WHERE backend_type = 'client backend'")


def stall_report(hosts: dict[str, Host], killed: str) -> str:
    """What the pooler host and the surviving databases hold while writes do not get through:
    its TCP connections (PgBouncer's and HAProxy's), HAProxy's sessions, each database's
    client backends. Taken once per failover, STALL_AFTER seconds after the kill."""
    pooler = hosts[NFS_HOST]
    parts = [f"--- no write {STALL_AFTER:.0f} s after killing {killed}: the pooler host's TCP connections",
             pooler.sh("ss -tnpo | grep -v ':22 ' || true", check=False).stdout,
             "--- HAProxy sessions", pooler.exec("python3", "-c", HAPROXY_SESSIONS, check=False).stdout]
    for name in DB_HOSTS:
        if name != killed:
            answer = hosts[name].exec("runuser", "-u", "qhb", "--", "psql", "-X", "-d", "postgres", "-c",
                                      CLIENT_BACKENDS, check=False, timeout=30)
            parts += [f"--- client backends on {name}", answer.stdout + answer.stderr]
    return "\n".join(parts)


def wrote_on(pooler: str, password: str, address: str) -> bool:
    return write(pooler, password) == address


def record_stall(hosts: dict[str, Host], killed: str, stalls: list[str]) -> None:
    stalls.append(stall_report(hosts, killed))


def measure_failovers(hosts: dict[str, Host], pooler: str, password: str, count: int,
                      stalls: list[str]) -> list[float]:
    """`count` times: kill the leader's host (`podman kill`, as qlab's Host.kill), time the first
    successful write through the pooler, start the host again and wait until the cluster is
    whole. Returns each time in seconds; a failover with no write STALL_AFTER seconds after the
    kill appends what the pooler and the databases held then to `stalls`."""
    times: list[float] = []
    for run in range(count):
        cluster = read_map(pooler)
        old = leader_of(cluster)
        wait_until(functools.partial(wrote_on, pooler, password, old["address"]), 60, 0.2, "a write on the leader")
        killed = time.monotonic()
        hosts[old["name"]].kill()
        watchdog = threading.Timer(STALL_AFTER, record_stall, args=(hosts, old["name"], stalls))
        watchdog.start()
        writer = wait_until(lambda: write(pooler, password), 300, 0.05, "a write after the kill")
        took = time.monotonic() - killed
        watchdog.cancel()
        times.append(took)
        print(f"failover {run + 1}: killed {old['name']}, first write through the pooler after {took:.2f} s "
              f"on {writer}", flush=True)
        hosts[old["name"]].start()
        wait_until(lambda: healthy(read_map(pooler)), 600, 2, "the cluster whole again")
    return times
