"""Writers through the pooler that keep what applications would see: every acknowledged row,
every error, and how long each transaction waited (bench/pooler_transparency.py and
tests/lab/test_pooler.py).

Each writer runs one short transaction after another (INSERT of a unique id, COMMIT) on one
connection and reconnects after an error, as a well-behaved application does.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from .topology import APP_DATABASE, APP_PASSWORD, APP_USER

# The session-pooled name (the application's database, the default entry) and the
# transaction-pooled one (roles/qcp_host qcp_host_transaction_databases).
ENTRIES = {"session": APP_DATABASE, "tx": f"{APP_DATABASE}_tx"}
TABLE = "pooler_writes"
RECONNECT_PAUSE = 0.05  # between failed connection attempts: a retry loop, not a spin


@dataclass
class Sample:
    """One writer's transaction: when the attempt began, when it was acknowledged (or failed)."""

    began: float
    ended: float
    ok: bool


@dataclass
class Writer:
    entry: str
    dsn: str
    index: int
    acked: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn = None
        waiting_since: float | None = None  # a transaction not yet acknowledged, retries included
        while not self.stop.is_set():
            began = time.monotonic()
            if waiting_since is None:
                waiting_since = began
            if conn is None:
                try:
                    conn = psycopg2.connect(self.dsn)
                except psycopg2.Error as error:
                    self.errors.append((began, f"connect: {first_line(error)}"))
                    self.stop.wait(RECONNECT_PAUSE)
                    continue
            row_id = f"{self.entry}-{self.index}-{uuid.uuid4().hex[:12]}"
            try:
                with conn.cursor() as cur:
                    cur.execute(f"INSERT INTO {TABLE} (id, entry) VALUES (%s, %s)", (row_id, self.entry))
                conn.commit()
            except psycopg2.Error as error:
                self.errors.append((began, first_line(error)))
                self.samples.append(Sample(waiting_since, time.monotonic(), False))
                close_quietly(conn)
                conn = None
                continue
            self.acked.append(row_id)
            self.samples.append(Sample(waiting_since, time.monotonic(), True))
            waiting_since = None
        close_quietly(conn)


def first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def close_quietly(conn) -> None:
    if conn is not None:
        try:
            conn.close()
        except psycopg2.Error:
            pass


def dsn(pooler: str, database: str, ca_path: Path) -> str:
    return (f"host={pooler} port=5432 dbname={database} user={APP_USER} password={APP_PASSWORD} "
            f"sslmode=verify-full sslrootcert={ca_path} connect_timeout=3 application_name=pooler_writes")


def window_figures(writers: list[Writer], start: float, end: float, fault_at: float | None = None) -> dict:
    """Per entry, in [start, end]: the errors (and the most of one writer: a transaction in
    flight at a crash fails once per writer), failed connection attempts apart, the longest wait
    for one acknowledged transaction, and a few of the messages. With `fault_at` (when a host was
    killed): the failed transactions that began after it, and the latest such beginning, in
    seconds after the kill (what the failover hold waits for instead, past its reaction time)."""
    figures = {}
    for entry in sorted({w.entry for w in writers}):
        group = [w for w in writers if w.entry == entry]
        errors = [[e for e in w.errors if start <= e[0] <= end] for w in group]
        failed = [e for each in errors for e in each if not e[1].startswith("connect:")]
        waits = [s.ended - s.began for w in group for s in w.samples if s.ok and s.ended >= start and s.began <= end]
        figures[entry] = {"errors": sum(len(e) for e in errors), "most_errors_of_a_writer": max(map(len, errors)),
                          "connect_errors": sum(len(e) for e in errors) - len(failed),
                          "failed_transactions": len(failed),
                          "longest_stall_s": round(max(waits, default=0.0), 3),
                          "first_errors": sorted({error[1] for each in errors for error in each})[:3]}
        if fault_at is not None:
            # Each failed connection attempt, when it began after the kill and why (a few per kill).
            figures[entry]["connect_errors_after_fault"] = sorted(
                (round(began - fault_at, 3), message) for each in errors for began, message in each
                if message.startswith("connect:"))[:20]
            late = [began - fault_at for began, _message in failed if began > fault_at]
            figures[entry]["failed_begun_after_fault"] = len(late)
            figures[entry]["latest_failed_begin_after_fault_s"] = round(max(late), 3) if late else None
    return figures


def prepare_table(pooler: str, ca_path: Path) -> None:
    conn = psycopg2.connect(dsn(pooler, APP_DATABASE, ca_path))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id text PRIMARY KEY, entry text, "
                    "at timestamptz DEFAULT clock_timestamp())")
    conn.close()


def missing(pooler: str, ca_path: Path, writers: list[Writer]) -> list[str]:
    """The acknowledged ids that are not in the table (must be none)."""
    conn = psycopg2.connect(dsn(pooler, APP_DATABASE, ca_path))
    with conn.cursor() as cur:
        cur.execute(f"SELECT id FROM {TABLE}")
        present = {row[0] for row in cur.fetchall()}
    conn.close()
    return [row_id for w in writers for row_id in w.acked if row_id not in present]


class Writers:
    """`clients` writers per entry, each in its own thread, from start() until stop()."""

    def __init__(self, pooler: str, ca_path: Path, clients: int, entries: dict[str, str] | None = None) -> None:
        self.all = [Writer(entry, dsn(pooler, database, ca_path), index)
                    for entry, database in (entries or ENTRIES).items() for index in range(clients)]
        self._threads = [threading.Thread(target=w.run, daemon=True) for w in self.all]

    def start(self) -> "Writers":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for w in self.all:
            w.stop.set()
        for thread in self._threads:
            thread.join(30)

    def committed_since(self, moment: float) -> bool:
        return all(any(s.ok and s.ended > moment for s in w.samples[-50:]) for w in self.all)

    def acknowledged(self) -> int:
        return sum(len(w.acked) for w in self.all)
