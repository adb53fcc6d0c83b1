"""The programs the chaos test runs inside lab hosts (`python3 -c`, standard library + psycopg2).

    writer CONFIG_JSON   clients writing through the pooler and a multi-host connection string
    probe NODE DSN       a write on the node's own database, again and again
    dump DSN RUN         every row of a run, for the checker
    sql DSN STATEMENT    one statement (the schema)

Each prints one JSON object per line and stops when its stdin closes. Times are `time.time()`:
the lab's hosts are containers on one kernel, so they share the clock of the machine.

Outcome of a write: `ok` only when the server acknowledged the COMMIT without the warning that a
synchronous-replication wait was cancelled; `failed` when the server refused it and the
connection is still usable (the transaction was rolled back); `unknown` when the connection was
lost or the deadline passed while the statement was out (it may or may not have committed).
No `statement_timeout` is used: cancelling a commit that waits for a standby returns success for
a transaction that only the old primary has. A deadline shuts the socket down instead.
"""

import json
import random
import socket
import sys
import threading
import time

import psycopg2

OK, FAILED, UNKNOWN = "ok", "failed", "unknown"
# Ids stay unique when the program is started again (its host's connection to us was lost).
TOKEN = "%x" % (int(time.time() * 1000) % 0xFFFFFFFF)
SYNC_CANCELLED = "synchronous replication"
STOP = threading.Event()
OUT = threading.Lock()


def emit(record):
    with OUT:
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def watch_stdin():
    while sys.stdin.readline():
        pass
    STOP.set()


def connect(dsn):
    """A connection or None; libpq's connect_timeout applies per host of a multi-host string."""
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error:
        return None
    conn.autocommit = True
    return conn


def run(conn, sql, params, deadline_s):
    """Send one (possibly multi-statement) query; its outcome: OK, FAILED or UNKNOWN."""
    sock = socket.socket(fileno=conn.fileno())  # a view of libpq's socket, never closed by us

    def expire():
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    timer = threading.Timer(deadline_s, expire)
    timer.start()
    del conn.notices[:]
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        outcome = OK
    except psycopg2.Error as exc:
        outcome = FAILED if exc.pgcode and not conn.closed and exc.pgcode[:2] not in ("08", "57", "58", "XX") else UNKNOWN
    finally:
        timer.cancel()
        sock.detach()
    if outcome == OK and any(SYNC_CANCELLED in notice for notice in conn.notices):
        outcome = UNKNOWN
    return outcome


class Client(threading.Thread):
    """One writer: its connection, its kind of write, every attempt reported."""

    def __init__(self, name, kind, dsn, run_id, accounts, interval, deadline_s, seed):
        super().__init__(daemon=True)
        self.name_, self.kind, self.dsn, self.run_id = name, kind, dsn, run_id
        self.accounts, self.interval, self.deadline_s = accounts, interval, deadline_s
        self.rng = random.Random(seed)
        self.conn = None
        self.seq = 0

    def run(self):
        while not STOP.is_set():
            self.seq += 1
            started = time.time()
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.dsn)
            if self.conn is None:
                outcome, ident = FAILED, None
            elif self.kind == "insert":
                ident = "%s-%s-%s-%d" % (self.run_id, self.name_, TOKEN, self.seq)
                outcome = run(self.conn, "INSERT INTO chaos_rows (id, client) VALUES (%s, %s)",
                              (ident, self.name_), self.deadline_s)
            else:
                ident, outcome = self.transfer()
            if outcome != OK and self.conn is not None:
                self.conn.close()
                self.conn = None
            emit({"c": self.name_, "k": self.kind, "id": ident, "r": outcome, "t0": started, "t1": time.time()})
            STOP.wait(self.interval)

    def transfer(self):
        src, dst = self.rng.sample(range(self.accounts), 2)
        amount = self.rng.randint(1, 10)
        ident = "%s-%s-%s-%d" % (self.run_id, self.name_, TOKEN, self.seq)
        low, high = sorted((src, dst))  # one lock order for every client: no deadlocks
        delta = {src: -amount, dst: amount}
        sql = ("BEGIN;"
               " UPDATE chaos_accounts SET balance = balance + %(dlow)s WHERE run = %(run)s AND id = %(low)s;"
               " UPDATE chaos_accounts SET balance = balance + %(dhigh)s WHERE run = %(run)s AND id = %(high)s;"
               " INSERT INTO chaos_transfers (id, run, src, dst, amount) VALUES (%(id)s, %(run)s, %(src)s, %(dst)s, %(amount)s);"
               " COMMIT;")
        params = {"dlow": delta[low], "dhigh": delta[high], "run": self.run_id, "low": low, "high": high,
                  "id": ident, "src": src, "dst": dst, "amount": amount}
        return ident, run(self.conn, sql, params, self.deadline_s)


def writer(config):
    clients = [Client(c["name"], c["kind"], c["dsn"], config["run"], config["accounts"], config["interval"],
                      config["deadline"], "%s/%s" % (config["seed"], c["name"])) for c in config["clients"]]
    for client in clients:
        client.start()
    STOP.wait()
    for client in clients:
        client.join(config["deadline"] + 5)


def probe(node, dsn):
    """Write a row naming this node on its own database; report each acknowledged write's window."""
    conn = None
    while not STOP.is_set():
        if conn is None or conn.closed:
            conn = connect(dsn)
        if conn is not None:
            started = time.time()
            outcome = run(conn, "INSERT INTO chaos_probe (node) VALUES (%s)", (node,), 1.0)
            ended = time.time()
            if outcome == OK:
                emit({"n": node, "t0": started, "t1": ended})
            elif outcome == UNKNOWN:
                conn.close()
                conn = None
            # FAILED: a replica refused; the same session sees it once it is promoted.
        STOP.wait(0.1)


def dump(dsn, run_id):
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM chaos_rows WHERE id LIKE %s", (run_id + "-%",))
        emit({"rows": [r[0] for r in cur.fetchall()]})
        cur.execute("SELECT id, src, dst, amount FROM chaos_transfers WHERE run = %s", (run_id,))
        emit({"transfers": [list(r) for r in cur.fetchall()]})
        cur.execute("SELECT id, balance FROM chaos_accounts WHERE run = %s ORDER BY id", (run_id,))
        emit({"balances": [list(r) for r in cur.fetchall()]})
    conn.close()


def sql(dsn, statement):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()
    emit({"done": True})


def main(argv):
    threading.Thread(target=watch_stdin, daemon=True).start()
    mode = argv[0]
    if mode == "writer":
        writer(json.loads(argv[1]))
    elif mode == "probe":
        probe(argv[1], argv[2])
    elif mode == "dump":
        dump(argv[1], argv[2])
    elif mode == "sql":
        sql(argv[1], argv[2])
    else:
        raise SystemExit("unknown mode %r" % mode)


if __name__ == "__main__":
    main(sys.argv[1:])
