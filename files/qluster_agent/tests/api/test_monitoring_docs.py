"""docs/monitoring.md names every metric an agent exposes, and the Grafana dashboard
(files/grafana/qluster-cluster.json) queries only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from qluster_agent.agent.backend import AgentBackend
from qluster_agent.api.metrics import render
from qluster_agent.pg.status import ReplicationRow

from ..agent.test_backend_metrics import agent
from .test_metrics import MAP, MapBackend

ROOT = Path(__file__).resolve().parents[4]
DOC = ROOT / "docs" / "monitoring.md"
DASHBOARD = ROOT / "files" / "grafana" / "qluster-cluster.json"


class FullBackend(MapBackend):
    """The map of test_metrics and the rows of a real AgentBackend over a leader's snapshot."""

    def __init__(self) -> None:
        super().__init__(MAP)
        replication = [ReplicationRow("qluster_2", "10.0.0.2", "streaming", "quorum", 1, 1, 1, 1, replay_lag_s=0.5)]
        self.rows = AgentBackend(agent(is_leader=True, replication=replication)).metrics()

    def metrics(self):
        return self.rows


def exposed() -> set[str]:
    """Every sample name one scrape holds (counters with _total, info metrics with _info)."""
    text = render(FullBackend()).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_the_doc_names_every_metric() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(name for name in exposed() if f"`{name}" not in text)
    assert missing == [], f"metrics missing from {DOC}"


def test_the_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\bqluster_[a-z_]+", target["expr"])}
    names = exposed()
    assert queried and queried - names == set()
    assert {"qluster_member_lag_seconds", "qluster_member_timeline", "qluster_paused", "qluster_member_pending_restart"} <= queried
