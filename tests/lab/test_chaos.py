"""The chaos test (issue 8), short run: writers and split-brain probes while the nemesis applies
12 faults, every kind among them, to the test lab (`qlabt`, or QLAB_TEST_LAB), at least 10 of
them taking effect; then every acknowledged write must be there, the transfer total unchanged, no
two nodes may have accepted writes at the same moment, and every node must be back as a
streaming replica (so the cluster is left converged for the tests after it). About 4 minutes.

QLAB_CHAOS_EVENTS and QLAB_CHAOS_SEED change the run; the long run is a command in the README.
"""

from __future__ import annotations

import os

import pytest

from qlab.chaos.checker import judge, summary
from qlab.chaos.clients import Writes
from qlab.chaos.cluster import Cluster, converged
from qlab.chaos.nemesis import KINDS, Nemesis, schedule
from qlab.chaos.probes import Window, overlaps
from qlab.chaos.run import run
from qlab.chaos.timeline import annotate, by_kind, is_applied, longest_gap
from qlab.deploy import run_site
from qlab.faults import wait_until

# 12 events so that 10 are applied even when runc refuses to freeze a busy host a couple of times.
EVENTS = int(os.environ.get("QLAB_CHAOS_EVENTS", "12"))
SEED = int(os.environ.get("QLAB_CHAOS_SEED", "8"))


def test_overlapping_acknowledged_probes_of_two_nodes_are_a_split_brain():
    windows = [Window("n1", 0.0, 0.4), Window("n1", 0.5, 0.9), Window("n2", 0.9, 1.2),
               Window("n2", 1.3, 1.6), Window("n3", 1.5, 1.7), Window("n2", 1.8, 2.0)]
    found = overlaps(windows)
    assert [(o.first.node, o.second.node) for o in found] == [("n2", "n3")]
    assert found[0].seconds == pytest.approx(0.1)


def test_a_probe_acknowledged_after_its_hosts_pause_is_set_aside_not_judged():
    # n1 is paused mid-write at 1.0 and thawed at 8.0: its INSERT is acknowledged then, while n2
    # had been the primary since 3.0. Its moment is unknown, so it proves nothing either way.
    windows = [Window("n1", 0.0, 0.3), Window("n1", 0.9, 8.1), Window("n2", 3.0, 3.2), Window("n2", 8.0, 8.3)]
    verdict = judge(Writes(), windows, None, None, None)
    split = next(c for c in verdict.checks if c.name == "no split brain")
    assert split.ok, split.detail
    assert "1 acknowledged after the probe's deadline" in split.detail
    assert verdict.facts["probes"]["late"] == [["n1", 0.9, 8.1]]
    # A timely overlap is still a split brain.
    verdict = judge(Writes(), [*windows, Window("n1", 3.1, 3.3)], None, None, None)
    assert not next(c for c in verdict.checks if c.name == "no split brain").ok


def test_the_schedule_is_the_seeds_and_covers_every_fault():
    assert schedule(SEED, EVENTS) == schedule(SEED, EVENTS)
    assert schedule(SEED, EVENTS) != schedule(SEED + 1, EVENTS)
    assert {e.kind for e in schedule(SEED, len(KINDS))} == set(KINDS)
    with pytest.raises(ValueError, match="at least 1, not 0"):
        schedule(SEED, 0)


def test_the_write_outage_of_a_fault_runs_from_the_last_acknowledgement_before_it():
    # acknowledged at 0.5 and 1.0, the fault at 2.0, nothing until 6.5, then steady again
    times = [0.5, 1.0, 6.5, 6.6, 6.7]
    assert longest_gap(times, 2.0, 7.0) == pytest.approx(5.5)
    assert longest_gap([0.5], 2.0, 7.0) == pytest.approx(6.5)  # still out at the end
    assert longest_gap([], 2.0, 7.0) == pytest.approx(5.0)


def test_each_applied_fault_gets_its_write_outage_and_a_refused_one_is_not_counted():
    def ok(client, t1):
        return {"c": client, "k": "insert", "id": f"{client}{t1}", "r": "ok", "t0": t1 - 0.01, "t1": t1}

    records = [ok("insert-direct", t) for t in (1.0, 1.1, 4.0, 4.1, 9.0)] + [ok("insert-pooler", t) for t in (1.0, 3.0, 9.0)]
    events = [{"index": 0, "kind": "kill-leader", "target": "n1", "start": 2.0, "available_after_s": 1.5, "note": ""},
              {"index": 1, "kind": "pause-leader", "target": "n2", "start": 5.0, "available_after_s": 0.1,
               "note": "fault not applied: runc refused. "},
              {"index": 2, "kind": "partition-follower", "target": None, "note": "no leader known: skipped"}]
    annotate(events, records, 10.0)
    assert events[0]["write_gap_s"] == pytest.approx(1.9)  # 1.1 -> 3.0 (pooler) is the longest of any path
    assert events[0]["write_gap_by_path_s"] == {"direct": pytest.approx(2.9), "pooler": pytest.approx(2.0)}
    assert sum(events[0]["series"]["counts"]["direct"]) == 4  # from 5 s before the fault to the next one
    assert "write_gap_s" not in events[2]
    assert [is_applied(e) for e in events] == [True, False, False]
    kinds = by_kind(events)
    assert kinds["kill-leader"]["applied"] == 1 and kinds["kill-leader"]["available_after_s"]["median"] == 1.5
    assert kinds["pause-leader"] == {"events": 1, "applied": 0, "available_after_s": None, "write_gap_s": None}


@pytest.fixture(scope="module")
def chaos_lab(request):
    """The test lab with the cluster deployed: the shared session fixture when there is one,
    otherwise site.yml is run here unless the agents already report a converged cluster."""
    try:
        return request.getfixturevalue("deployed_test_lab")
    except pytest.FixtureLookupError:
        pass
    lab = request.getfixturevalue("test_lab")
    cluster = Cluster.of(lab)
    if not converged(cluster.freshest_map()):
        run_site(lab, [])
    wait_until(lambda: converged(cluster.freshest_map()), 300, 2.0, "a converged cluster after site.yml")
    return lab


@pytest.mark.timeout(3600)
def test_no_acknowledged_write_is_lost_and_no_split_brain_under_faults(chaos_lab, tmp_path):
    assert EVENTS >= 10, "the short run in make test has at least 10 nemesis events"
    cluster = Cluster.of(chaos_lab)
    try:
        result = run(chaos_lab, EVENTS, SEED, tmp_path / "chaos.json")
    finally:
        Nemesis(cluster).heal_all()  # run() heals too; this covers a failure before its own finally
    text = summary(result)
    print("\n" + text)
    # A fault runc refused (a pause) or skipped for want of a leader is not counted.
    applied = [e for e in result["events"] if is_applied(e)]
    assert len(applied) >= 10, text
    assert result["insert"]["acknowledged"] > 0 and result["transfer"]["acknowledged"] > 0, text
    assert [c["name"] for c in result["checks"] if not c["ok"]] == [], text
