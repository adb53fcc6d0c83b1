"""The pooler host (qcp_host) in a deployed lab: routing, failover through the pooler, bounded logs.

By default the test lab `qlabt` is used (brought up by the session fixture) and site.yml is
deployed into it with the cluster started when its pooler does not answer yet. Set
QLAB_POOLER_LAB=qlab to run against the operator's lab instead: it is never brought up, down or
deployed here (its cluster must already be healthy), but its leader host is killed and its
databases stopped, then started again.

Bounded logs (issue 6, seed 001's fault): every database is stopped (`systemctl stop qluster` on
each database node: the agent stops its database) for QLAB_POOLER_LOG_WINDOW seconds while an
application retries a connection through the pooler once a second. The default window is 180 s,
so the whole file stays within a few minutes on a deployed lab; QLAB_POOLER_LOG_WINDOW=600
measures the issue's full ten minutes (on qlabt at load 18-45: 134 KiB in 600 s, where two
180 s windows had extrapolated 70 and 76 KiB: the client's attempts came faster that time; both
are far below the limit of 3 MiB). The pooler host's log growth is the text its journal
gained in that time plus the growth of /var/log. With a window shorter than 600 s the figure is
extrapolated linearly from the steady part (after the first 60 s), which is sound because after
the state changes every remaining source is periodic: PgBouncer retries a server login every
server_login_retry and answers each client attempt with one error line, HAProxy logs one line per
failed session, and the sync and the agent log ongoing problems through rate limiters (at most
once a minute per problem). journald's own rate limit would hide a flood from that count, so
the test also fails when journald suppressed any message in the window.
"""

from __future__ import annotations

import os
import time
import urllib.request

import psycopg2
import pytest

from qlab.agent_api import read_map
from qlab.deploy import run_site
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import (APP_DATABASE, APP_PASSWORD, APP_USER, DB_HOSTS, NFS_HOST, PROMETHEUS_PORT, READER_PASSWORD,
                           READER_USER, STATS_PASSWORD, STATS_USER, lab_by_name)
from qlab.writers import ENTRIES, Writers, missing, prepare_table, window_figures

POOLER_PORT = 5432
RO_PORT = 5001
LOG_WINDOW = float(os.environ.get("QLAB_POOLER_LOG_WINDOW", "180"))
LOG_LIMIT = 3 * 1024 * 1024  # "a few MB" over ten minutes
# A bound for one run on a shared, loaded machine; bench/pooler.py measures the median (goal 4 s).
KILL_TO_WRITE_LIMIT = 30.0


@pytest.fixture(scope="module")
def lab(request):
    name = os.environ.get("QLAB_POOLER_LAB")
    if name:
        if os.geteuid() != 0:
            pytest.skip("lab tests need root (rootful podman)")
        return lab_by_name(name)
    return request.getfixturevalue("test_lab")


@pytest.fixture(scope="module")
def nodes(lab):
    return {h.hostname: Host(lab, h.hostname) for h in lab.hosts}


def healthy(cluster: dict | None) -> bool:
    """Three voters healthy (the leader primary, two streaming replicas) and the observer in."""
    if not cluster or cluster.get("leader") is None:
        return False
    voters = [m for m in cluster["members"] if m["voter"]]
    observers = [m for m in cluster["members"] if m["role"] == "observer"]
    return len(voters) == 3 and all(m["state"] == "healthy" for m in voters) and len(observers) == 1


def leader_of(cluster: dict) -> dict:
    return next(m for m in cluster["members"] if m["id"] == cluster["leader"])


class Pooler:
    def __init__(self, address: str, password: str) -> None:
        self.address = address
        self.password = password

    def connect(self, port: int = POOLER_PORT, dbname: str = "postgres", timeout: int = 3):
        return psycopg2.connect(host=self.address, port=port, dbname=dbname, user="qhb", password=self.password,
                                connect_timeout=timeout)

    def write(self) -> str:
        """One row through the pooler; returns the address of the database that took it."""
        conn = self.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS qcp_lab (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
                cur.execute("INSERT INTO qcp_lab DEFAULT VALUES RETURNING host(inet_server_addr())")
                return cur.fetchone()[0]
        finally:
            conn.close()

    def read(self, port: int, dbname: str) -> tuple[bool, str]:
        conn = self.connect(port, dbname)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())")
                return cur.fetchone()
        finally:
            conn.close()


def try_write(pooler: Pooler) -> str | None:
    try:
        return pooler.write()
    except psycopg2.Error:
        return None


@pytest.fixture(scope="module")
def pooler(lab, nodes):
    address = nodes[NFS_HOST].address
    if not os.environ.get("QLAB_POOLER_LAB") and not healthy(read_map(address)):
        run_site(lab, ["-e", "qhb_node_start_cluster=true"])
    wait_until(lambda: healthy(read_map(address)), timeout=300, interval=2, what="a healthy cluster with its observer")
    password = nodes[DB_HOSTS[0]].exec("cat", "/etc/qluster/db-password").stdout.strip()
    made = Pooler(address, password)
    wait_until(lambda: try_write(made), timeout=60, interval=0.5, what="a write through the pooler")
    return made


def restore(nodes, address: str) -> None:
    """Every host running and every agent started; wait for the cluster to be whole again."""
    for name in DB_HOSTS:
        if not nodes[name].is_running():
            nodes[name].start()
    for name in DB_HOSTS:
        nodes[name].exec("systemctl", "start", "qluster")
    wait_until(lambda: healthy(read_map(address)), timeout=300, interval=2, what="the cluster healthy again")


def test_writes_reach_the_leader_and_reads_the_followers(pooler):
    cluster = read_map(pooler.address)
    followers = {m["address"] for m in cluster["members"] if m["role"] == "follower"}
    assert pooler.write() == leader_of(cluster)["address"]
    for port, dbname in ((RO_PORT, "postgres"), (POOLER_PORT, "postgres_ro")):
        seen = {pooler.read(port, dbname) for attempt in range(6)}
        assert {in_recovery for in_recovery, address in seen} == {True}
        assert {address for in_recovery, address in seen} <= followers


def test_the_seeds_database_qhb_exists_and_the_pooler_leads_to_it_on_the_leader(pooler):
    # Seed 000 §7.3, §8.3: psql -h <QCP> -U qhb -d qhb. initdb makes only `postgres`; the role
    # creates qhb_node_databases on the leader after the start.
    conn = pooler.connect(dbname="qhb")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_database(), pg_is_in_recovery(), host(inet_server_addr())")
            database, in_recovery, address = cur.fetchone()
    finally:
        conn.close()
    assert (database, in_recovery) == ("qhb", False)
    assert address == leader_of(read_map(pooler.address))["address"]


def autocommit_session(pooler, user: str, password: str, dbname: str = APP_DATABASE):
    """A session through the pooler (to the application's database), in autocommit."""
    conn = psycopg2.connect(host=pooler.address, port=POOLER_PORT, dbname=dbname, user=user,
                            password=password, connect_timeout=5)
    conn.autocommit = True
    return conn


def backend_pids(pooler, dbname: str, clients: int = 5) -> set[int]:
    """The server processes that serve `clients` sessions open at once, one query each in turn."""
    sessions = [autocommit_session(pooler, APP_USER, APP_PASSWORD, dbname) for index in range(clients)]
    try:
        pids = set()
        for session in sessions:
            with session.cursor() as cur:
                cur.execute("SELECT pg_backend_pid(), pg_is_in_recovery()")
                pid, in_recovery = cur.fetchone()
                assert in_recovery is False
                pids.add(pid)
        return pids
    finally:
        for session in sessions:
            session.close()


def test_the_transaction_pooled_name_shares_server_connections_between_clients(pooler):
    """Issue 18 item 1: five clients open at once on <db>_tx are served by fewer server
    connections than clients (each holds one for a transaction only); on the session-pooled name
    each client holds its own."""
    assert len(backend_pids(pooler, APP_DATABASE)) == 5
    assert len(backend_pids(pooler, f"{APP_DATABASE}_tx")) < 5


def test_the_stats_user_reads_pgbouncers_statistics_and_nothing_else(pooler):
    """Issue 18 item 6: SHOW POOLS / SHOW DATABASES as qcp_host_stats_user; admin commands refused."""
    admin = autocommit_session(pooler, STATS_USER, STATS_PASSWORD, "pgbouncer")
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW DATABASES")
            columns = [c.name for c in cur.description]
            modes = {row[columns.index("name")]: row[columns.index("pool_mode")] for row in cur.fetchall()}
            assert modes[f"{APP_DATABASE}_tx"] == "transaction"
            cur.execute("SHOW POOLS")
            assert cur.fetchall()
            with pytest.raises(psycopg2.Error, match="admin access needed"):
                cur.execute("PAUSE")
    finally:
        admin.close()


def test_haproxy_exports_prometheus_metrics(pooler):
    """Issue 18 item 6: HAProxy's exporter names both routes' servers and their check status."""
    with urllib.request.urlopen(f"http://{pooler.address}:{PROMETHEUS_PORT}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert 'haproxy_server_check_status{proxy="pg_rw"' in text or 'proxy="pg_rw"' in text, text[:2000]
    assert 'proxy="pg_ro"' in text


def switch_over(nodes, address: str) -> None:
    """qlusterctl switchover on the leader's host to a streaming follower; the map then names it."""
    cluster = wait_until(lambda: keep_if(read_map(address), healthy), 120, 0.2, "a healthy cluster")
    leader = leader_of(cluster)
    target = next(m for m in cluster["members"] if m["role"] == "follower" and m["streaming"])
    nodes[leader["name"]].exec("qlusterctl", "switchover", "--to", target["name"], "--force", "--timeout", "60",
                               timeout=90)
    wait_until(lambda: keep_if(read_map(address), lambda m: healthy(m) and m["leader"] == target["id"]), 120, 0.2,
               f"{target['name']} leading a healthy cluster")


def test_switchovers_hold_transaction_pooled_clients_instead_of_failing_them(pooler, nodes, lab):
    """Issue 18 item 2: writers on <db>_tx through two switchovers see a stall, never an error
    (the pooler pauses them before the old leader demotes and resumes them on the new one), and
    every acknowledged row is there."""
    prepare_table(pooler.address, lab.ca_path)
    writers = Writers(pooler.address, lab.ca_path, 3, {"tx": ENTRIES["tx"]}).start()
    try:
        wait_until(lambda: writers.committed_since(0.0), 60, 0.1, "every writer's first commit")
        start = time.monotonic()
        for attempt in range(2):
            switch_over(nodes, pooler.address)
            settled = time.monotonic()
            wait_until(lambda: writers.committed_since(settled), 60, 0.1, f"writes after switchover {attempt + 1}")
        figures = window_figures(writers.all, start, time.monotonic())
    finally:
        writers.stop()
    assert figures["tx"]["errors"] == 0, figures
    assert writers.acknowledged() > 0
    assert missing(pooler.address, lab.ca_path, writers.all) == []


@pytest.mark.parametrize("fault", ["cut off the network", "killed"])
def test_a_dead_leader_host_fails_only_the_transaction_in_flight_of_each_transaction_pooled_client(
        pooler, nodes, lab, fault):
    """Issue 18 item 3: writers on <db>_tx while the leader's host dies. Cut off the network (as a
    power cut looks from outside) it falls silent: the sync pauses the name once the observer
    misses the leader. Killed (`podman kill`: its processes die, its kernel closes and resets their
    connections at once) the writers' transactions fail at once and they log in again at once:
    the sync pauses the name on HAProxy's log of the leader's sessions ending, before those logins
    reach the dead leader. Either way each writer loses at most the one transaction it had under
    way; its next ones, and its logins, wait for the new leader: no connection attempt fails, and
    every acknowledged row is there."""
    prepare_table(pooler.address, lab.ca_path)
    old = leader_of(wait_until(lambda: keep_if(read_map(pooler.address), healthy), 120, 0.2, "a healthy cluster"))
    host = nodes[old["name"]]
    writers = Writers(pooler.address, lab.ca_path, 3, {"tx": ENTRIES["tx"]}).start()
    try:
        wait_until(lambda: writers.committed_since(0.0), 60, 0.1, "every writer's first commit")
        start = dead = time.monotonic()
        if fault == "killed":
            host.kill()
        else:
            host.partition()
        wait_until(lambda: keep_if(read_map(pooler.address), lambda m: m and m.get("leader") not in (None, old["id"])),
                   120, 0.1, "a new leader")
        elected = time.monotonic()
        wait_until(lambda: writers.committed_since(elected), 60, 0.1, "every writer committing on the new leader")
        figures = window_figures(writers.all, start, time.monotonic(), dead)["tx"]
        print(f"\n{old['name']} {fault} under 3 writers on {ENTRIES['tx']}: {figures}")
    finally:
        writers.stop()
        if host.is_running() and host.is_partitioned():
            host.heal()
        restore(nodes, pooler.address)
    assert figures["connect_errors"] == 0, figures
    assert figures["most_errors_of_a_writer"] <= 1, figures
    assert writers.acknowledged() > 0
    assert missing(pooler.address, lab.ca_path, writers.all) == []


def test_a_read_only_role_of_qhb_node_users_reads_the_applications_tables_and_writes_none(pooler):
    """Issue 16 item 2: the lab's qhb_node_users grants its reader CONNECT, USAGE on public, SELECT
    on the tables there and, by default privileges, on every table the application's role makes
    later; a table made after the deploy is readable, and no write is allowed."""
    table = f"reader_check_{int(time.time() * 1000)}"
    app = autocommit_session(pooler, APP_USER, APP_PASSWORD)
    try:
        with app.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
            cur.execute(f"INSERT INTO {table} VALUES (1), (2)")
        reader = autocommit_session(pooler, READER_USER, READER_PASSWORD)
        try:
            with reader.cursor() as cur:
                cur.execute(f"SELECT count(*) FROM {table}")
                assert cur.fetchone() == (2,)
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"INSERT INTO {table} VALUES (3)")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute("CREATE TABLE reader_made (id int)")
                cur.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user")
                assert cur.fetchone() == (10,)
        finally:
            reader.close()
    finally:
        with app.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        app.close()


def test_the_pooler_host_keeps_no_superuser_password_and_roles_log_in_through_auth_query(pooler, nodes):
    """Issue 21 item 4: PgBouncer looks each login up through one SECURITY DEFINER function as its
    auth role; the pooler host holds that role's password only."""
    pooler_host = nodes[NFS_HOST]
    holding = pooler_host.exec("grep", "-rlF", "--", pooler.password, "/etc", "/var/lib", check=False)
    assert holding.returncode == 1 and not holding.stdout, f"the superuser's password is in {holding.stdout}"
    # The application role of the lab's qhb_node_users, whose password the pooler host never saw,
    # logs in through the pooler to its own database on the leader.
    conn = psycopg2.connect(host=pooler.address, port=POOLER_PORT, dbname=APP_DATABASE, user=APP_USER,
                            password=APP_PASSWORD, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_is_in_recovery(), pg_get_userbyid(datdba) FROM pg_database"
                        " WHERE datname = current_database()")
            assert cur.fetchone() == (APP_USER, False, APP_USER)
    finally:
        conn.close()
    with pytest.raises(psycopg2.OperationalError, match="SASL authentication failed"):
        psycopg2.connect(host=pooler.address, port=POOLER_PORT, dbname=APP_DATABASE, user=APP_USER,
                         password=APP_PASSWORD + "-wrong", connect_timeout=5).close()
    # The replication role is no login for applications: the lookup does not return it.
    replication_password = nodes[DB_HOSTS[0]].exec("cat", "/etc/qluster/replication-password").stdout.strip()
    with pytest.raises(psycopg2.OperationalError, match="no such user"):
        psycopg2.connect(host=pooler.address, port=POOLER_PORT, dbname="postgres", user="qluster_replication",
                         password=replication_password, connect_timeout=5).close()
    # The auth role may call its lookup function and read nothing else of pg_authid.
    auth_password = nodes[DB_HOSTS[0]].exec("cat", "/etc/qluster/pooler-password").stdout.strip()
    conn = psycopg2.connect(host=pooler.address, port=POOLER_PORT, dbname="postgres", user="qluster_pooler",
                            password=auth_password, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles"
                        " WHERE rolname = current_user")
            assert cur.fetchone() == (False, False, False, False)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT rolpassword FROM pg_authid")
    finally:
        conn.close()


def test_logs_stay_bounded_while_every_database_is_down(pooler, nodes):
    pooler_host = nodes[NFS_HOST]

    def journal_bytes(since: float) -> int:
        text = pooler_host.exec("sh", "-c", f"journalctl --since=@{since:.0f} -o short-iso --no-pager | wc -c").stdout
        return int(text.strip())

    def var_log_bytes() -> int:
        return int(pooler_host.sh("du -sb /var/log | cut -f1").stdout.strip())

    try:
        for name in DB_HOSTS:
            nodes[name].stop_service("qluster")
        start = time.time()
        var_log_start = var_log_bytes()
        steady_from, steady_bytes = start + 60, None
        attempts = 0
        while time.time() - start < LOG_WINDOW:
            attempts += 1
            assert try_write(pooler) is None, "a write succeeded with every database stopped"
            if steady_bytes is None and time.time() >= steady_from:
                steady_bytes = journal_bytes(start)
            time.sleep(1)
        elapsed = time.time() - start
        grown = journal_bytes(start) + max(0, var_log_bytes() - var_log_start)
        if LOG_WINDOW >= 600:
            projected = grown
        else:
            assert LOG_WINDOW >= 120, "a window shorter than 120 s has no steady part to extrapolate from"
            rate = (journal_bytes(start) - steady_bytes) / (elapsed - 60)
            projected = grown + rate * (600 - elapsed)
        suppressed = pooler_host.sh(f"journalctl --since=@{start:.0f} -t systemd-journald -o cat --no-pager "
                                    "| grep '^Suppressed' || true").stdout
        print(f"\npooler host log growth with every database down: {grown} bytes in {elapsed:.0f} s "
              f"({attempts} client attempts); over 10 minutes: {projected / 1024:.0f} KiB"
              f"{' (extrapolated)' if LOG_WINDOW < 600 else ''}")
        assert not suppressed.strip(), f"journald dropped messages, so the count above is too low:\n{suppressed}"
        assert projected < LOG_LIMIT
    finally:
        restore(nodes, pooler.address)
    wait_until(lambda: try_write(pooler), timeout=60, interval=0.5, what="writes through the pooler again")


def test_writes_through_the_pooler_resume_after_the_leader_host_is_killed(pooler, nodes):
    cluster = read_map(pooler.address)
    old = leader_of(cluster)
    assert pooler.write() == old["address"]
    try:
        since = time.time()
        killed = time.monotonic()
        nodes[old["name"]].kill()
        writer = wait_until(lambda: try_write(pooler), timeout=180, interval=0.05, what="a write after the kill")
        took = time.monotonic() - killed
        print(f"\nkill of the leader host {old['name']} -> first write through the pooler: {took:.2f} s "
              f"(new leader at {writer}); HAProxy saw:")
        print(nodes[NFS_HOST].sh(f"journalctl --since=@{since:.0f} -u haproxy -o short-precise --no-pager "
                                 "| grep -E 'is (UP|DOWN)' || true").stdout)
        assert writer != old["address"]
        assert took < KILL_TO_WRITE_LIMIT, f"writes resumed only after {took:.1f} s"
    finally:
        restore(nodes, pooler.address)
