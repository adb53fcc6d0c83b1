"""`qlab`: the lab from the command line (make lab / make lab-down call it)."""

from __future__ import annotations

import argparse
import sys
import time

from . import image, lifecycle
from .deploy import run_site
from .faults import Host
from .podman import LabError
from .topology import ADMIN_USER, APP_DATABASE, APP_PASSWORD, APP_USER, NODE_COUNTS, POOLER_COUNTS, lab_by_name

FAULTS = ("kill", "stop", "start", "pause", "resume", "partition", "heal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qlab", description=__doc__)
    parser.add_argument("--lab", default="qlab", help="qlab (the operator's lab), qlabt or qlabu (the tests')")
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create or start the hosts, then deploy site.yml")
    up.add_argument("--no-deploy", action="store_true", help="only bring the hosts up")
    up.add_argument("--nodes", type=int, choices=NODE_COUNTS,
                    help="database nodes (seed 000 §2: 3 or 5); default: as the lab has, else 3")
    up.add_argument("--poolers", type=int, choices=POOLER_COUNTS,
                    help="pooler hosts: 2 adds qluster-qcp2 (.9) and a virtual IP at .20 that both share "
                         "(keepalived); default: as the lab has, else 1")
    sub.add_parser("deploy", help="run site.yml against the lab")
    down = sub.add_parser("down", help="remove every container, network, volume and file of the lab")
    down.add_argument("--image", action="store_true", help="also remove the lab image")
    sub.add_parser("status", help="one line per host")
    sub.add_parser("image", help="build the lab image if it is missing")
    fault = sub.add_parser("fault", help="inject a fault into a host")
    fault.add_argument("action", choices=FAULTS)
    fault.add_argument("host")
    ex = sub.add_parser("exec", help="run a command in a host")
    ex.add_argument("host")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    jr = sub.add_parser("journal", help="print a host's journal")
    jr.add_argument("host")
    jr.add_argument("-u", "--unit")
    jr.add_argument("-n", "--lines", type=int, default=200)
    args = parser.parse_args(argv)

    try:
        lab = lab_by_name(args.lab)
        if getattr(args, "nodes", None):
            lab = lab.with_nodes(args.nodes)
        if getattr(args, "poolers", None):
            lab = lab.with_poolers(args.poolers)
        return _run(lab, args)
    except (LabError, KeyError) as exc:
        print(f"qlab: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1


def _run(lab, args) -> int:
    if args.cmd == "up":
        started = time.monotonic()
        lifecycle.up(lab)
        deployed = "not deployed (--no-deploy)"
        if not args.no_deploy:
            run_site(lab)
            deployed = "site.yml succeeded"
        _print_status(lab)
        print(f"\nLab {lab.name} is up: {len(lab.hosts)} hosts, {deployed}, "
              f"in {time.monotonic() - started:.0f} s.\nInventory: {lab.inventory_path}")
        print(f"Log in: ssh -i {lab.ssh_key} -o UserKnownHostsFile={lab.known_hosts} "
              f"{ADMIN_USER}@{lab.static_address(lab.db_hostnames[0])}")
        if not args.no_deploy:
            print(f"An application connects through the pooler (its role and database from the lab's "
                  f"qhb_node_users and qhb_node_databases):\n  psql 'postgresql://{APP_USER}:{APP_PASSWORD}@"
                  f"{lab.pooler_address}:5432/{APP_DATABASE}?sslmode=verify-full&sslrootcert={lab.ca_path}'")
            if lab.vip:
                print(f"({lab.pooler_address} is the virtual IP of the pooler hosts {', '.join(lab.pooler_hostnames)}: "
                      f"`qlab --lab {lab.name} status` says which holds it.)")
    elif args.cmd == "deploy":
        run_site(lab)
    elif args.cmd == "down":
        removed = lifecycle.down(lab)
        if args.image:
            image.remove_image()
            removed.append(f"image {image.IMAGE}")
        print(f"Lab {lab.name} removed: " + (", ".join(removed) if removed else "nothing was there"))
        if not args.image:
            print(f"The image {image.IMAGE} is kept for the next `make lab` (`make lab-clean` removes it).")
    elif args.cmd == "status":
        _print_status(lab)
    elif args.cmd == "image":
        if not image.image_exists():
            image.build_image()
        print(image.IMAGE)
    elif args.cmd == "fault":
        host = Host(lab, args.host)
        getattr(host, args.action)()
        print(f"{args.action}: {args.host} done")
    elif args.cmd == "exec":
        argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        proc = Host(lab, args.host).exec(*argv, check=False)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        return proc.returncode
    elif args.cmd == "journal":
        sys.stdout.write(Host(lab, args.host).journal(unit=args.unit, lines=args.lines))
    return 0


def _print_status(lab) -> None:
    print(f"{'HOST':<12} {'CONTAINER':<18} {'STATE':<8} {'ADDRESS':<15} GROUPS")
    for row in lifecycle.status(lab):
        print(f"{row['host']:<12} {row['container']:<18} {row['state']:<8} "
              f"{row.get('address', ''):<15} {row.get('groups', '')}")
    if lab.vip:
        print(f"virtual IP {lab.vip}: held by {lifecycle.vip_holder(lab) or 'no host'}")


if __name__ == "__main__":
    sys.exit(main())
