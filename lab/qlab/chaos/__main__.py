"""`python -m qlab.chaos --events N --seed S [--lab qlab|qlabt] [--max-minutes M]`: exit 0 when every
check passed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..podman import LabError
from ..topology import lab_by_name
from .checker import CONVERGE_TIMEOUT_S
from .run import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qlab.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=12, help="number of nemesis events (default 12)")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's seed (default 1)")
    parser.add_argument("--lab", default="qlab", help="qlab (the operator's lab), qlabt or qlabu (the tests')")
    parser.add_argument("--json", type=Path, help="where to write the result (default: the lab's state dir)")
    parser.add_argument("--no-pooler", action="store_true", help="write through the multi-host string only")
    parser.add_argument("--converge-timeout", type=float, default=CONVERGE_TIMEOUT_S)
    parser.add_argument("--max-minutes", type=float,
                        help="start no new fault after this many minutes (then heal and check as usual)")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error(f"--events must be at least 1, not {args.events}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        parser.error(f"--max-minutes must be positive, not {args.max_minutes:g}")
    try:
        lab = lab_by_name(args.lab)
        result = run(lab, args.events, args.seed, args.json, use_pooler=False if args.no_pooler else None,
                     converge_timeout=args.converge_timeout,
                     max_seconds=args.max_minutes * 60 if args.max_minutes else None)
    except (LabError, KeyError) as exc:
        print(f"qlab.chaos: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
