"""A real PostgreSQL 15 and real PgBouncers in front of it, for the switchover hold's tests.

Both refuse to run as root, so they run as `postgres` in a temporary directory it owns. The
PostgreSQL takes everyone from 127.0.0.1 (trust); PgBouncer asks clients for the passwords of
its userlist.txt (scram-sha-256, as the role sets it up) and has the hold's admin user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGBOUNCER = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)
OS_USER = "postgres"
ADMIN_USER, ADMIN_PASSWORD = "qluster_hold", "hold-password-0123456789"
CLIENT_USER, CLIENT_PASSWORD = "app", "app-password-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", OS_USER, "--", *argv], check=True, capture_output=True, text=True,
                          **kwargs)


def _wait_listening(port: int, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} does not listen on {port} within {timeout} s") from None
            time.sleep(0.05)


@dataclass
class Postgres:
    root: Path
    port: int


@dataclass
class Bouncer:
    root: Path
    port: int
    process: subprocess.Popen

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def client(self, dbname: str = "qhb_tx", **options):
        import psycopg2  # pylint: disable=import-outside-toplevel
        # A login to a paused database may wait for the RESUME too (PgBouncer answers it with the
        # parameters of a server connection): the timeout outlasts any hold of these tests.
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=CLIENT_USER, password=CLIENT_PASSWORD,
                                dbname=dbname, connect_timeout=20, **options)

    def log(self) -> str:
        path = self.root / "pgbouncer.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "pg_ctl").exists() or PGBOUNCER is None:
        pytest.skip("needs PostgreSQL 15 and PgBouncer (apt install postgresql-15 pgbouncer)")
    if os.geteuid() != 0:
        pytest.skip("runs PostgreSQL and PgBouncer as another user and needs root")
    root = Path(tempfile.mkdtemp(prefix="qluster-hold-", dir="/tmp"))
    user = pwd.getpwnam(OS_USER)
    os.chown(root, user.pw_uid, user.pw_gid)
    port = free_port()
    datadir = root / "pg"
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(datadir), "--auth=trust", "-U", OS_USER, "--locale=C"])
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-w", "-l", str(root / "pg.log"), "-o",
                  f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB", "start"])
    try:
        yield Postgres(root, port)
    finally:
        subprocess.run(["runuser", "-u", OS_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(datadir), "-m",
                        "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start_pgbouncer(postgres):
    """start_pgbouncer(upstream_port) -> Bouncer: `qhb_tx` (transaction pooling) and `*` to that port."""
    started: list[Bouncer] = []

    def start(upstream_port: int) -> Bouncer:
        root = Path(tempfile.mkdtemp(prefix="pgbouncer-", dir=postgres.root))
        user = pwd.getpwnam(OS_USER)
        os.chown(root, user.pw_uid, user.pw_gid)
        port = free_port()
        (root / "userlist.txt").write_text(f'"{ADMIN_USER}" "{ADMIN_PASSWORD}"\n"{CLIENT_USER}" "{CLIENT_PASSWORD}"\n')
        (root / "pgbouncer.ini").write_text(f"""\
[databases]
qhb_tx = host=127.0.0.1 port={upstream_port} dbname=postgres user={OS_USER} pool_mode=transaction
* = host=127.0.0.1 port={upstream_port} user={OS_USER}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {root}
auth_type = scram-sha-256
auth_file = {root}/userlist.txt
admin_users = {ADMIN_USER}
pool_mode = session
default_pool_size = 5
min_pool_size = 1
server_login_retry = 0.25
logfile = {root}/pgbouncer.log
pidfile = {root}/pgbouncer.pid
""")
        for path in root.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        process = subprocess.Popen([PGBOUNCER, str(root / "pgbouncer.ini")], user=user.pw_uid, group=user.pw_gid,
                                   extra_groups=[], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bouncer = Bouncer(root, port, process)
        started.append(bouncer)
        _wait_listening(port, "PgBouncer")
        return bouncer

    yield start
    for bouncer in started:
        bouncer.process.terminate()
        try:
            bouncer.process.wait(10)
        except subprocess.TimeoutExpired:
            bouncer.process.kill()
