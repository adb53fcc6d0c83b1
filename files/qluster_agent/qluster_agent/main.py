"""`qluster --config /etc/qluster/config.yaml`: the agent's entry point (seed 001's systemd unit).

A bad config or env file stops the agent with one line naming the bad key and value, and exit
status 2, before it touches the network or the database.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .agent.backend import AgentBackend
from .agent.env import EnvError, read_env
from .agent.node import Agent
from .agent.db_password import PasswordFileError
from .agent.pg_setup import PgSetupError
from .api.router import Router
from .api.server import ApiServer
from .config.errors import ConfigError
from .config.loader import load_config
from .config.model import Role
from .pg.bindir import BinDirNotFound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qluster", description="qhb.qluster cluster agent")
    parser.add_argument("--config", default=os.environ.get("CONFIG_PATH", "/etc/qluster/config.yaml"))
    parser.add_argument("--log-level", default=os.environ.get("QLUSTER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        env = None if config.role is Role.OBSERVER else read_env(os.environ, args.config)
        agent = Agent(config, env)
    except (ConfigError, EnvError, PgSetupError, PasswordFileError, BinDirNotFound) as exc:
        print(f"qluster: {exc}", file=sys.stderr)
        return 2
    server = ApiServer(Router(AgentBackend(agent), agent.api_token, agent.forward_key), "0.0.0.0", config.api_port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    agent.start()
    server.start()
    logging.getLogger("qluster").info("node %d (%s) up; API on port %d", config.node_id, config.ip, config.api_port)
    stop.wait()
    server.close()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
