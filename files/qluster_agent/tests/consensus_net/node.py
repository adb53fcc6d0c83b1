"""A consensus-only node: ConsensusRuntime + DiskStorage + Transport, no database, no API.

For the real-socket tests and benchmarks (tests/consensus_net, bench/consensus_*.py): each node
is its own process in its own network namespace, so SIGKILL is a real crash. It reports through
one JSON status file, replaced atomically, written at once when the consensus status changes and
at least every --status-interval seconds (so the transport counters stay fresh):

    node_id, pid, role, leader, term, voters, observers, commit, applied,
    leader_since   time.monotonic() when this node first saw the current (leader, term);
                   CLOCK_MONOTONIC is machine-wide, so another process can compare it
    became         how often the node became follower/pre-candidate/candidate/leader
    led_terms      every term this node was leader in (a brief leadership is never missed)
    transport, runtime, peers, written_at

    python -m tests.consensus_net.node --id 1 --voters 1,2,3 --ip 10.77.200.11 \\
        --interface eth0 --data-dir D --secret S --status-file F

The secret is taken on the command line because this is a lab tool; the agent reads a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time

from qluster_agent.agent.timing import core_config
from qluster_agent.config.keys import KEYS_BY_PATH
from qluster_agent.config.model import UdpEndpoint
from qluster_agent.config.runtime import default_cluster_settings
from qluster_agent.raft.runtime import ConsensusRuntime, RuntimeStatus
from qluster_agent.raft.types import ConfState
from qluster_agent.storage.disk import DiskStorage
from qluster_agent.transport import Transport, TransportSettings

_TRANSITION = re.compile(r" became (\S+) at term (\d+)")


class Transitions:
    """Counts the core's role transitions from its log lines (called on the consensus thread)."""

    def __init__(self) -> None:
        self.became = {"follower": 0, "pre-candidate": 0, "candidate": 0, "leader": 0}
        self.led_terms: list[int] = []

    def log(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
        match = _TRANSITION.search(line)
        if match is None:
            return
        self.became[match.group(1)] = self.became.get(match.group(1), 0) + 1
        if match.group(1) == "leader":
            self.led_terms.append(int(match.group(2)))


def transport_settings(ip: str, interface: str, group: UdpEndpoint) -> TransportSettings:
    """The seed's udp defaults (so the lab measures what a real cluster runs with)."""
    def default(path: str):
        return KEYS_BY_PATH[path].default

    return TransportSettings(
        ip=ip, group=group, interface=interface,
        pacing_rate=default("udp.socket.pacing-rate"), loopback=default("udp.socket.loopback"),
        send_buffer_size=default("udp.socket.send-buffer-size"),
        recv_buffer_size=default("udp.socket.recv-buffer-size"),
        max_payload=default("udp.max-log-size"),
        send_capacity=default("udp.send-buffer-capacity"), recv_capacity=default("udp.recv-buffer-capacity"),
        hello_interval=default("hello-retry-interval"))


def write_json(path: str, document: dict) -> None:
    """Replace the file atomically: a reader sees the old or the new document, never half."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(document, stream)
    os.replace(temporary, path)


def status_document(status: RuntimeStatus, leader_since: float, transitions: Transitions,
                    transport: Transport, runtime: ConsensusRuntime) -> dict:
    return {
        "node_id": status.node_id, "pid": os.getpid(), "role": status.role.value, "leader": status.leader,
        "term": status.term, "voters": sorted(status.voters), "observers": sorted(status.observers),
        "commit": status.commit, "applied": status.applied, "leader_since": leader_since,
        "became": dict(transitions.became), "led_terms": list(transitions.led_terms),
        "transport": transport.stats(), "runtime": dict(runtime.counters), "peers": sorted(transport.peers()),
        "written_at": time.monotonic(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--voters", required=True, help="initial voters, e.g. 1,2,3 (identical on each node)")
    parser.add_argument("--ip", required=True)
    parser.add_argument("--interface", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--status-file", required=True)
    parser.add_argument("--cluster-id", default="qluster")
    parser.add_argument("--group", default="239.0.0.1:9999")
    parser.add_argument("--tick", type=float, default=0.05)
    parser.add_argument("--status-interval", type=float, default=0.25)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    host, port = args.group.rsplit(":", 1)
    voters = ConfState(voters=frozenset(int(node) for node in args.voters.split(",")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    parent = os.getppid()  # the test or bench; a node must not outlive it (its lab is gone then)
    transitions = Transitions()
    transport = Transport(transport_settings(args.ip, args.interface, UdpEndpoint(host, int(port))), args.id,
                          args.cluster_id, args.secret.encode())
    runtime = ConsensusRuntime(core_config(args.id, default_cluster_settings(), args.tick, False),
                               DiskStorage(args.data_dir), transport, tick_interval=args.tick,
                               apply=lambda _entry: None, bootstrap=voters, logger=transitions.log)
    try:
        runtime.start()
        last = runtime.status()
        seen, leader_since = (last.leader, last.term), time.monotonic()
        while not stop.is_set() and os.getppid() == parent:
            previous = last
            runtime.wait_status(lambda status: status != previous, args.status_interval)
            last = runtime.status()
            if (last.leader, last.term) != seen:
                seen, leader_since = (last.leader, last.term), time.monotonic()
            write_json(args.status_file, status_document(last, leader_since, transitions, transport, runtime))
    finally:
        runtime.stop()
        transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
