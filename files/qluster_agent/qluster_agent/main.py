"""`qluster --config /etc/qluster/config.yaml`: the agent's entry point (seed 001's systemd unit).

A bad config or env file stops the agent with one line naming the bad key and value, and exit
status 2, before it touches the network or the database. An API port already in use stops it
with one line and exit status 1, before it starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .agent.backend import AgentBackend
from .agent.files import SetupError, load_agent
from .api.router import Router
from .api.server import ApiServer
from .api.tls import listeners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qluster", description="qhb.qluster cluster agent")
    parser.add_argument("--config", default=os.environ.get("CONFIG_PATH", "/etc/qluster/config.yaml"))
    parser.add_argument("--log-level", default=os.environ.get("QLUSTER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        agent = load_agent(args.config, os.environ)
    except SetupError as exc:
        print(f"qluster: {exc}", file=sys.stderr)
        return 2
    # Bound now, so a port in use stops the agent before it starts; answering only once the
    # agent can (start() waits a discovery window on a new node): until then connecting is
    # refused, which health checkers take at once, instead of hanging.
    config = agent.config
    tls = agent.api_tls
    router = Router(AgentBackend(agent), agent.api_token, agent.forward_key, node_id=agent.my_id,
                    trust_loopback=config.api_trust_loopback,
                    client_cert_for_changes=tls is not None and tls.client_cert_for_changes)
    servers: list[ApiServer] = []
    # With TLS, HTTPS on `ip` and plain HTTP on 127.0.0.1 (api/tls.py); the messages then name the address.
    plan = listeners(config.ip, config.api_port, tls)
    where = ""
    try:
        for host, port, context in plan:
            where = f" on {host}" if tls is not None else ""
            servers.append(ApiServer(router, host, port, context))
    except OSError as exc:
        print(f"qluster: cannot bind the API port {config.api_port}{where}: {exc.strerror or exc}", file=sys.stderr)
        _close(servers)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    agent.start()
    try:
        for server, (host, _port, _context) in zip(servers, plan):
            where = f" on {host}" if tls is not None else ""
            server.start()
    except OSError as exc:
        print(f"qluster: cannot listen on the API port {config.api_port}{where}: {exc.strerror or exc}",
              file=sys.stderr)
        _close(servers)
        agent.stop()
        return 1
    logging.getLogger("qluster").info("node %d (%s) up; API on %s", config.node_id, config.ip,
                                      ", ".join(f"{'https' if context else 'http'}://{host}:{port}"
                                                for host, port, context in plan))
    stop.wait()
    _close(servers)
    agent.stop()
    return 0


def _close(servers: list[ApiServer]) -> None:
    for server in servers:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
