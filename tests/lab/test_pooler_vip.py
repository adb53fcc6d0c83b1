"""Two pooler hosts behind a virtual IP (issue 18 item 5): writers connect to the VIP, which
keepalived (roles/qcp_host qcp_host_vip) keeps on one pooler host at a time.

On a throwaway lab of its own, `qlabv` (10.77.19.0/24: qluster-01..03, qluster-nfs at .10 and
qluster-qcp2 at .9 in qcp_hosts, the VIP at .20), brought up and deployed with site.yml here and
removed at the end (QLAB_KEEP=1 keeps it):

1. the VIP's holder is killed (podman kill) under writes through the VIP on both entries: another
   pooler host takes the VIP and every writer's longest wait for one transaction stays within
   5 s (the issue's acceptance); the killed host comes back and stays backup (nopreempt);
2. PgBouncer dies on the holder (SIGKILL, as a crash): keepalived's check releases the VIP and
   the other pooler host takes it; PgBouncer is started again. (A `systemctl stop` is PgBouncer's
   safe shutdown: it goes on taking and serving clients until they are done, up to the unit's
   TimeoutStopSec, and the VIP rightly stays until then);
3. no acknowledged row is missing at the end.

It deploys a cluster from bare hosts, about 10 minutes on a 2-core machine, so it runs in
`make test-long` (QLAB_LONG=1), not in `make test`:

    QLAB_LONG=1 .venv/bin/pytest -q -p no:cacheprovider tests/lab/test_pooler_vip.py
"""

from __future__ import annotations

import os
import time

import pytest

from qlab import lifecycle
from qlab.agent_api import read_map
from qlab.deploy import run_site
from qlab.faults import Host, keep_if, wait_until
from qlab.topology import KNOWN_LABS, NFS_HOST, POOLER2_HOST, VIP_TEST_LAB, Lab
from qlab.writers import Writers, missing, prepare_table, window_figures

LAB = VIP_TEST_LAB
# Issue 18's acceptance: writes resume through the VIP within 5 s of the holder's death.
RESUME_LIMIT_S = 5.0
# A stopped PgBouncer is noticed by keepalived's check (fall 2 x interval 1 s) before the VIP moves.
STOPPED_LIMIT_S = 10.0
CLIENTS = 3  # writers per entry (session-pooled and transaction-pooled)

# The lab tests below; the layout's test (no podman) runs everywhere.
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="lab tests need root (rootful podman)")
LONG = pytest.mark.skipif(not os.environ.get("QLAB_LONG"), reason="a lab of its own, ~10 min: make test-long (QLAB_LONG=1)")


def test_two_pooler_hosts_share_a_vip_and_the_default_lab_keeps_one():
    default = Lab()
    assert default.poolers == 1 and default.vip == "" and default.pooler_address == "10.77.16.10"
    assert [h.hostname for h in default.hosts][-1] == NFS_HOST
    assert default.with_poolers(1) == default
    assert LAB.pooler_hostnames == (NFS_HOST, POOLER2_HOST)
    assert LAB.static_address(POOLER2_HOST) == "10.77.19.9" and LAB.vip == LAB.pooler_address == "10.77.19.20"
    assert LAB.spec(POOLER2_HOST).groups == ("qcp_hosts",) and LAB.spec(POOLER2_HOST).wal_path == ""
    assert LAB in KNOWN_LABS
    with pytest.raises(ValueError, match="1 or 2 pooler hosts, not 3"):
        default.with_poolers(3)


def healthy(cluster: dict | None) -> bool:
    """Three healthy voters with a leader, and an observer on each pooler host."""
    if not cluster or cluster.get("leader") is None:
        return False
    voters = [m for m in cluster["members"] if m["voter"]]
    observers = [m for m in cluster["members"] if m["role"] == "observer"]
    return len(voters) == 3 and all(m["state"] == "healthy" for m in voters) and len(observers) == len(LAB.pooler_hostnames)


@pytest.fixture(scope="module")
def lab():
    try:
        lifecycle.up(LAB)
        run_site(LAB)
        wait_until(lambda: healthy(read_map(LAB.static_address(LAB.db_hostnames[0]))), 300, 2,
                   "a healthy cluster with both pooler hosts' observers")
        yield LAB
    finally:
        if not os.environ.get("QLAB_KEEP"):
            lifecycle.down(LAB)


@pytest.fixture(scope="module")
def writers(lab):
    holder = wait_until(lambda: lifecycle.vip_holder(lab), 60, 0.5, f"a pooler host holding {lab.vip}")
    print(f"\n{lab.vip} is on {holder}")
    prepare_table(lab.vip, lab.ca_path)
    group = Writers(lab.vip, lab.ca_path, CLIENTS).start()
    wait_until(lambda: group.committed_since(0.0), 60, 0.1, "every writer's first commit through the VIP")
    yield group
    group.stop()


def other_holder(lab, old: str) -> str | None:
    return keep_if(lifecycle.vip_holder(lab), lambda holder: holder not in (None, old))


def settle(lab, writers: Writers, start: float, what: str) -> dict:
    """Waits until every writer committed again, then the figures of [start, now], printed."""
    moment = time.monotonic()
    wait_until(lambda: writers.committed_since(moment), 60, 0.1, f"every writer committing after {what}")
    figures = window_figures(writers.all, start, time.monotonic())
    lines = [f"{entry}: errors {f['errors']}, longest stall {f['longest_stall_s']:.2f} s {f['first_errors']}"
             for entry, f in figures.items()]
    print(f"\n{what}: " + "  ".join(lines))
    return figures


@ROOT
@LONG
def test_writes_through_the_vip_resume_within_5_s_when_its_holder_dies(lab, writers):
    old = lifecycle.vip_holder(lab)
    host = Host(lab, old)
    start = time.monotonic()
    host.kill()
    try:
        new = wait_until(lambda: other_holder(lab, old), 30, 0.1, f"{lab.vip} on another pooler host")
        moved = time.monotonic() - start
        figures = settle(lab, writers, start, f"kill of {old} (VIP on {new} after {moved:.2f} s)")
    finally:
        host.start()
    for entry, f in figures.items():
        assert f["longest_stall_s"] <= RESUME_LIMIT_S, f"{entry}: writes through the VIP stalled {f['longest_stall_s']} s"
    # nopreempt: the host that comes back (first in qcp_hosts, the higher priority) stays backup.
    wait_until(lambda: host.exec("systemctl", "is-active", "keepalived", check=False).stdout.strip() == "active",
               120, 1, f"keepalived running on {old} again")
    time.sleep(5)
    assert lifecycle.vip_holder(lab) == new
    wait_until(lambda: healthy(read_map(lab.static_address(lab.db_hostnames[0]))), 180, 2,
               f"{old}'s observer back in the map")


@ROOT
@LONG
def test_the_vip_leaves_a_host_whose_pgbouncer_dies(lab, writers):
    old = wait_until(lambda: lifecycle.vip_holder(lab), 30, 0.5, f"a holder of {lab.vip}")
    host = Host(lab, old)
    start = time.monotonic()
    host.exec("systemctl", "kill", "--signal", "KILL", "pgbouncer")
    try:
        new = wait_until(lambda: other_holder(lab, old), 30, 0.1, f"{lab.vip} leaving {old}")
        moved = time.monotonic() - start
        figures = settle(lab, writers, start, f"PgBouncer killed on {old} (VIP on {new} after {moved:.2f} s)")
    finally:
        host.exec("systemctl", "start", "pgbouncer")
    assert moved <= STOPPED_LIMIT_S, f"the VIP left {old} {moved:.1f} s after its PgBouncer died"
    for entry, f in figures.items():
        assert f["longest_stall_s"] <= STOPPED_LIMIT_S, f"{entry}: writes through the VIP stalled {f['longest_stall_s']} s"
    time.sleep(5)
    assert lifecycle.vip_holder(lab) == new, "the VIP went back when PgBouncer started again (nopreempt)"


@ROOT
@LONG
def test_no_acknowledged_row_is_lost(lab, writers):
    writers.stop()
    assert writers.acknowledged() > 0
    assert missing(lab.vip, lab.ca_path, writers.all) == []
