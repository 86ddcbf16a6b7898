"""Subcommands that read evidence: trends, compare, export, report. Parsers only here (imported by cli.py for
--help, so nothing heavy at import); each handler is imported when its command runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

COMMANDS = ("trends", "compare", "export", "report")


def add_parsers(sub: Any, db_help: str) -> None:
    from harness.cli import _positive_int

    tr = sub.add_parser("trends", help="pass rates, panel agreement, judge drift, cost and evidence age over runs")
    tr.add_argument("--pact", help="only this pact id")
    tr.add_argument("--agent", help="only this agent name")
    tr.add_argument("--clause", help="only this clause (clause tables)")
    tr.add_argument("--judge", help="only this judge (judge tables)")
    tr.add_argument("--since", help="only runs started since: a duration (7d, 12h, 2w) or an ISO date/time")
    tr.add_argument("--view", action="append", choices=["clauses", "versions", "agreement", "judges", "cost",
                                                        "judge-cost", "clause-cost", "age"],
                    help="show only this table (repeatable; default: all)")
    tr.add_argument("--limit", type=_positive_int, help="latest rows per table (default 30 in tables, all in --json)")
    tr.add_argument("--db", type=Path, help=db_help)
    tr.add_argument("--json", action="store_true")

    cmp = sub.add_parser("compare", help="paired comparison of two runs (or two agent versions), clause by clause")
    cmp.add_argument("run_a", nargs="?", metavar="RUN_A", help="the baseline run")
    cmp.add_argument("run_b", nargs="?", metavar="RUN_B", help="the run compared with it")
    cmp.add_argument("--pact", help="with --versions: the pact whose runs are compared")
    cmp.add_argument("--agent", help="with --versions: the agent name")
    cmp.add_argument("--versions", nargs=2, metavar=("V1", "V2"),
                     help="compare the latest completed run of each agent version")
    cmp.add_argument("--resamples", type=_positive_int, default=2000, help="bootstrap resamples (default 2000)")
    cmp.add_argument("--seed", type=int, default=20240611, help="bootstrap seed")
    cmp.add_argument("--db", type=Path, help=db_help)
    cmp.add_argument("--json", action="store_true")

    ex = sub.add_parser("export", help="write a run's transcripts, votes and verdicts as parquet, csv or jsonl")
    ex.add_argument("run_id")
    ex.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    ex.add_argument("-o", "--output", type=Path, default=Path("."), metavar="DIR",
                    help="directory for RUN-transcripts.FORMAT, RUN-votes.FORMAT, RUN-verdicts.FORMAT (default .)")
    ex.add_argument("--db", type=Path, help=db_help)
    ex.add_argument("--json", action="store_true")

    rep = sub.add_parser("report", help="write a self-contained HTML report of a run (opens offline)")
    rep.add_argument("run_id")
    rep.add_argument("-o", "--output", type=Path, metavar="FILE.html",
                     help="report file (default: RUN_ID.html beside the database)")
    rep.add_argument("--db", type=Path, help=db_help)


def handler(command: str) -> Callable[[argparse.Namespace], int]:
    if command == "trends":
        from harness.queries import cmd_trends

        return cmd_trends
    if command == "compare":
        from harness.compare import cmd_compare

        return cmd_compare
    if command == "export":
        return cmd_export
    from harness.report import cmd_report

    return cmd_report


def cmd_export(args: argparse.Namespace) -> int:
    from harness.cli import db_path, emit_json
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        written = store.export(args.run_id, args.format, args.output)
    if args.json:
        emit_json(written)
    else:
        for w in written:
            print(f"{w['path']}  ({w['rows']} {w['table']} rows)")
    return 0
