"""read_facts: the one statement of a full read, parsed into ServerFacts (a recorded row, no server)."""

from __future__ import annotations

import pytest

from qluster_agent.pg.query import read_facts

# The columns of _FACTS_SQL in order, up to the pending restart.
PRIMARY_ROW = (False, 7300000000000000001, "", "", "on", 3, 0, "000000010000000000000002", None, 1.0e9, None,
               None, None, None, None, None, "0/3000060", "000000010000000000000003", "0/3000060")
REPLICA_ROW = (True, 7300000000000000001, "host=10.0.0.1 port=5432", "", "on", None, None, None, None, None, None,
               "0/3000060", "0/3000000", 1, "streaming", 1, None, None, None)


class RecordedCursor:
    """The facts row, then (a primary) no standby rows."""

    def __init__(self, row: tuple) -> None:
        self.row = row
        self.statements: list[tuple] = []

    def execute(self, sql: str, params=None) -> None:
        self.statements.append((sql, params))

    def fetchone(self) -> tuple:
        return self.row

    def fetchall(self) -> list:
        return []


@pytest.mark.parametrize("row", [PRIMARY_ROW, REPLICA_ROW], ids=["primary", "replica"])
@pytest.mark.parametrize("pending", [True, False])
def test_a_setting_waiting_for_a_restart_is_read_in_the_facts_statement(row, pending) -> None:
    cur = RecordedCursor((*row, pending))
    facts = read_facts(cur)
    assert facts.pending_restart is pending
    assert facts.in_recovery is row[0]
    assert "pending_restart" in cur.statements[0][0]  # the same statement, no round trip of its own
