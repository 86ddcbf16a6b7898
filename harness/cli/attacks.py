"""Attacks: `robustness`, pass rate under attack against the same cases unattacked (`run --mutate` is in run.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, EXIT_OK, db_path, emit_json


def add_parsers(sub: Any) -> None:
    rob = sub.add_parser("robustness", help="pass rate under attack vs on the original cases, per clause and mutator")
    rob.add_argument("run_id")
    rob.add_argument("--compare", metavar="OTHER_RUN", help="compare with another run (RUN is the base)")
    rob.add_argument(
        "--targeted",
        action="store_true",
        help="count only the attacks aimed at each clause (by the suite's adversarial block)",
    )
    rob.add_argument("--clause", help="only this clause")
    rob.add_argument("--db", type=Path, help=DB_HELP)
    rob.add_argument("--json", action="store_true")
    rob.set_defaults(handler=cmd_robustness)


def cmd_robustness(args: argparse.Namespace) -> int:
    from harness.report.text import format_compare, format_robustness
    from harness.robustness import compare_robustness, robustness
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        from harness.known import check_run_filters

        check_run_filters(store, args.run_id, clause=args.clause)  # an unknown clause: an error, not "no attacks"
        if args.compare:
            rows = compare_robustness(store, args.run_id, args.compare, targeted=args.targeted)
        else:
            rows = robustness(store, args.run_id, targeted=args.targeted)
    if args.clause:
        rows = [r for r in rows if r["clause_id"] == args.clause]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        print(
            f"run {args.run_id}"
            + (f" / {args.compare}" if args.compare else "")
            + ": no adversarial cases (add an adversarial: block to the suite, or run with --mutate)"
        )
        return EXIT_OK
    print(format_compare(rows, args.run_id, args.compare) if args.compare else format_robustness(rows, args.run_id))
    return EXIT_OK
