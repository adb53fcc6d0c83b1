"""Real PostgreSQL 15 instances for the integration tests: helpers (fixtures in conftest.py).

Tests run as root and PostgreSQL refuses root, so every instance lives in a temporary directory
owned by `postgres` and the controller runs its programs as that user.
"""

from __future__ import annotations

import os
import pwd
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2

from qluster_agent.pg.conninfo import Endpoint
from qluster_agent.pg.controller import PgController
from qluster_agent.pg.datadir import postmaster_pid
from qluster_agent.pg.flavour import POSTGRESQL, Toolset
from qluster_agent.pg.options import PgOptions, WalArchive

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
# Below the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by
# default): a port inside it, such as 55432, is now and then taken as the local port of some
# outgoing connection just when a server restarts, and the restart fails with EADDRINUSE.
FIRST_PORT = 25432

# Templates in the spirit of seed 000 §6.1-6.2 (the Ansible role renders these per node).
TEMPLATE_CONF = """\
listen_addresses = '127.0.0.1'
wal_level = replica
cluster_name = 'qluster-test'
"""
TEMPLATE_HBA = """\
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


def wait_until(predicate: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    """Poll until predicate() is truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


class Lab:
    """A temporary directory owned by postgres, holding instances and the WAL archive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archive = root / "wal"
        self.templates = root / "templates"
        self.controllers: list[PgController] = []

    def node(self, member_id: int) -> PgController:
        options = PgOptions(
            flavour=POSTGRESQL,
            tools=Toolset(PG_BIN, POSTGRESQL.binaries),
            datadir=self.root / f"n{member_id}",
            port=FIRST_PORT + member_id - 1,
            member_id=member_id,
            superuser=OS_USER,
            replication_user=OS_USER,
            socket_dir=str(self.root),
            run_as=OS_USER,
            template_dir=self.templates,
            initdb_options=("--encoding=UTF8", "--locale=C", "--data-checksums", "--auth=trust"),
            wal_archive=WalArchive(self.archive, (sys.executable, "-m", "qluster_agent.walarchive")),
            # Small and quick: these instances only hold a few rows.
            extra_settings=(("shared_buffers", "16MB"), ("max_connections", 30), ("fsync", False)),
        )
        controller = PgController(options)
        self.controllers.append(controller)
        return controller

    @staticmethod
    def endpoint(controller: PgController) -> Endpoint:
        return Endpoint("127.0.0.1", controller.options.port)

    def connect(self, controller: PgController, **options: object) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            host=str(self.root),
            port=controller.options.port,
            user=OS_USER,
            dbname="postgres",
            connect_timeout=3,
            **options,
        )
        conn.autocommit = True
        return conn

    def query(self, controller: PgController, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect(controller)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def stop_all(self) -> None:
        for controller in self.controllers:
            try:
                controller.fence()
            except Exception:
                pid = postmaster_pid(controller.options.datadir)
                if pid is not None:
                    os.kill(pid, signal.SIGQUIT)


def chown_to_db_user(path: Path) -> None:
    user = pwd.getpwnam(OS_USER)
    os.chown(path, user.pw_uid, user.pw_gid)
