"""`qlusterctl`: list members (once or `--watch`), show or change the cluster config, switchover
(plan, confirmation, wait for the outcome: cli/switchover.py), reinit, pause and resume
(maintenance mode), the history of leader changes, restart and reload of a member's database
(cli/restart.py). Exit statuses: EXIT_STATUSES.

It reads the API port and token from the agent's config file when it can, so on a node
`qlusterctl list` just works; `--api` and `--token` override. The default URL is the node's
plain-HTTP loopback listener (http://127.0.0.1:<api-port>), there with TLS on or off; an
`https://` URL is verified against `--cacert` and presents `--cert`/`--key`, which default to the
config's api-cafile, api-certfile and api-keyfile when those files are readable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..api import tls
from . import restart, switchover, view
from .client import ApiClient, ApiClientError
from .switchover import Exit

DEFAULT_CONFIG = "/etc/qluster/config.yaml"
EXIT_STATUSES = """exit statuses:
  0  done (a switchover: the target leads; a restart: the member is healthy again)
  1  the agent refused the request or could not be reached
  2  a bad command line; reinit without --yes
  3  a switchover not confirmed (no terminal to ask on: add --force)
  4  a switchover or restart started but not done within --timeout: check qlusterctl list"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        client = _client(args)
        return int(args.func(client, args))
    except ApiClientError as exc:
        print(f"qlusterctl: {exc}", file=sys.stderr)
        return int(Exit.FAILED)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 86400 seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qlusterctl", description="Operate a qluster cluster through its agent's API.",
                                     epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=os.environ.get("CONFIG_PATH", DEFAULT_CONFIG),
                        help="agent config to read the API port and token from (default %(default)s)")
    parser.add_argument("--api", help="API base URL, e.g. http://10.0.0.5:8080")
    parser.add_argument("--token", default=os.environ.get("QLUSTER_API_TOKEN"), help="API token")
    parser.add_argument("--cacert", help="PEM CA file to check an https:// agent against (default: api-cafile)")
    parser.add_argument("--cert", help="PEM client certificate for an https:// agent (default: api-certfile)")
    parser.add_argument("--key", help="PEM key of --cert (default: api-keyfile)")
    sub = parser.add_subparsers(dest="command", required=True)

    listing = sub.add_parser("list", help="the cluster, its leader and term, and the members as a table")
    listing.add_argument("-w", "--watch", nargs="?", const=2.0, type=_seconds, metavar="SECONDS",
                         help="print it again every SECONDS (default 2) until Ctrl-C")
    listing.set_defaults(func=cmd_list)
    sub.add_parser("map", help="the cluster map as JSON").set_defaults(func=cmd_map)
    config = sub.add_parser("config", help="show or change the cluster's runtime settings")
    config_sub = config.add_subparsers(dest="action", required=True)
    config_sub.add_parser("show").set_defaults(func=cmd_config_show)
    config_set = config_sub.add_parser("set", help="e.g. qlusterctl config set node-timeout=5s")
    config_set.add_argument("settings", nargs="+", metavar="KEY=VALUE")
    config_set.set_defaults(func=cmd_config_set)
    handover = sub.add_parser("switchover", help="hand leadership to another member and wait until it leads",
                              epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    handover.add_argument("--to", required=True, help="member id, name or address")
    handover.add_argument("--force", action="store_true", help="do not ask for confirmation")
    handover.add_argument("--timeout", type=_seconds, default=60.0,
                          help="how long to wait for the target to lead (default %(default)g s)")
    handover.set_defaults(func=cmd_switchover)
    reinit = sub.add_parser("reinit", help="re-create a replica's database from the leader")
    reinit.add_argument("member", help="member id or name")
    reinit.add_argument("--yes", action="store_true", help="confirm: the member's data directory is wiped")
    reinit.set_defaults(func=cmd_reinit)
    again = sub.add_parser("restart", help="restart a member's database through its agent (the leader: a switchover "
                           "first, unless --force)", epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    again.add_argument("member", help="member id, name or address")
    again.add_argument("--force", action="store_true",
                       help="restart the leader's database in place instead of switching over first (no writes meanwhile)")
    again.add_argument("--timeout", type=_seconds, default=120.0,
                       help="how long to wait for the switchover and for the member to be healthy again (default %(default)g s)")
    again.set_defaults(func=cmd_restart)
    reread = sub.add_parser("reload", help="reload a member's database configuration (pg_reload_conf) through its agent")
    reread.add_argument("member", help="member id, name or address")
    reread.set_defaults(func=cmd_reload)
    sub.add_parser("pause", help="maintenance mode: the agents leave every database as it is until resume"
                   ).set_defaults(func=cmd_pause)
    sub.add_parser("resume", help="end maintenance mode: the agents manage the databases again"
                   ).set_defaults(func=cmd_resume)
    sub.add_parser("history", help="the leader changes: time (UTC), term, from, to, reason"
                   ).set_defaults(func=cmd_history)
    return parser


def _client(args: argparse.Namespace) -> ApiClient:
    conf = _agent_config(Path(args.config))
    port = int(conf.get("api-port", 8080))
    token = args.token or conf.get("api-token")
    token_file = conf.get("api-token-file")
    if not token and token_file and os.access(token_file, os.R_OK):
        token = Path(token_file).read_text().strip()
    url = args.api
    if url is None:
        # A node whose own address is 127.0.0.1 has no plain listener beside its HTTPS one (api/tls.py).
        https = conf.get("ip") == tls.LOOPBACK and conf.get("api-certfile")
        url = f"{'https' if https else 'http'}://127.0.0.1:{port}"
    if not url.lower().startswith("https://"):
        return ApiClient(url, token)
    config_keys = (("cacert", "api-cafile"), ("cert", "api-certfile"), ("key", "api-keyfile"))
    readable = {option: conf[key] for option, key in config_keys
                if isinstance(conf.get(key), str) and os.access(conf[key], os.R_OK)}
    if args.cert:
        readable.pop("key", None)  # a --cert of one's own does not go with the node's key
    cacert, cert, key = (getattr(args, option) or readable.get(option) for option in ("cacert", "cert", "key"))
    try:
        context = tls.client_context(cacert, cert, key)
    except tls.TlsFileError as exc:
        option = {"certificate": "--cert", "key": "--key", "CA": "--cacert"}[exc.role]
        raise ApiClientError(f"{option}: {exc}") from None
    return ApiClient(url, token, context=context)


def _agent_config(path: Path) -> dict[str, Any]:
    """The agent's config file as a mapping; empty when it is missing or not readable."""
    if not (path.is_file() and os.access(path, os.R_OK)):
        return {}
    conf = yaml.safe_load(path.read_text()) or {}
    return conf if isinstance(conf, dict) else {}


def cmd_list(client: ApiClient, args: argparse.Namespace) -> int:
    if args.watch is None:
        print(view.table(client.get("/map")))
        return Exit.OK
    return watch(lambda: view.table(client.get("/map")), args.watch, time.sleep, print,
                 clear=sys.stdout.isatty(), now=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))


def watch(show: Callable[[], str], interval: float, sleep: Callable[[float], None], out: Callable[[str], None],
          clear: bool, now: Callable[[], str], iterations: int | None = None) -> int:
    """`list --watch`: the table again every `interval` seconds until Ctrl-C (or `iterations`);
    an agent that does not answer is one line in place of the table, and the next round tries again."""
    count = 0
    try:
        while iterations is None or count < iterations:
            try:
                text = show()
            except ApiClientError as exc:
                text = f"qlusterctl: {exc}"
            out(("\033[H\033[2J" if clear else "") + f"{now()}   every {interval:g} s, Ctrl-C to stop\n\n{text}")
            count += 1
            if iterations is None or count < iterations:
                sleep(interval)
    except KeyboardInterrupt:
        pass
    return Exit.OK


def cmd_map(client: ApiClient, args: argparse.Namespace) -> int:
    print(json.dumps(client.get("/map"), indent=2))
    return 0


def cmd_config_show(client: ApiClient, args: argparse.Namespace) -> int:
    print(json.dumps(client.get("/config"), indent=2))
    return 0


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values that are JSON literals (true, 3) become them, others stay strings."""
    body: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ApiClientError(f"{pair!r} is not KEY=VALUE")
        try:
            body[key] = json.loads(raw)
        except ValueError:
            body[key] = raw
    return body


def cmd_config_set(client: ApiClient, args: argparse.Namespace) -> int:
    print(json.dumps(client.post("/config", parse_settings(args.settings)), indent=2))
    return 0


def cmd_switchover(client: ApiClient, args: argparse.Namespace) -> int:
    return switchover.run(_world(client), args.to, force=args.force, timeout=args.timeout)


def cmd_reinit(client: ApiClient, args: argparse.Namespace) -> int:
    if not args.yes:
        print(f"qlusterctl: reinit wipes the data directory of {args.member}; add --yes to confirm",
              file=sys.stderr)
        return Exit.USAGE
    result = client.post("/reinit", {"member": args.member})
    print(result.get("message", json.dumps(result)))
    return 0


def _world(client: ApiClient) -> switchover.World:
    return switchover.World(client=client, clock=time.monotonic, sleep=time.sleep, ask=input, out=print,
                            err=lambda text: print(text, file=sys.stderr))


def cmd_restart(client: ApiClient, args: argparse.Namespace) -> int:
    return restart.restart(_world(client), args.member, force=args.force, timeout=args.timeout)


def cmd_reload(client: ApiClient, args: argparse.Namespace) -> int:
    return restart.reload(_world(client), args.member)


def cmd_pause(client: ApiClient, args: argparse.Namespace) -> int:
    result = client.post("/pause", {})
    print(result.get("message", json.dumps(result)))
    return Exit.OK


def cmd_resume(client: ApiClient, args: argparse.Namespace) -> int:
    result = client.post("/resume", {})
    print(result.get("message", json.dumps(result)))
    return Exit.OK


def cmd_history(client: ApiClient, args: argparse.Namespace) -> int:
    print(view.history_table(client.get("/history").get("history", [])))
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
