"""Reading evidence: `runs`, `show`, `disagreements`, `trends`, `compare`, `report`, `export`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, EXIT_BREACH, EXIT_OK, confidence, db_path, emit_json, positive_int, warn


def add_parsers(sub: Any) -> None:
    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--limit", type=positive_int, default=50)
    runs.add_argument("--db", type=Path, help=DB_HELP)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=cmd_runs)

    show = sub.add_parser("show", help="per-clause results and decision of one run")
    show.add_argument("run_id")
    show.add_argument("--confidence", type=confidence, help="re-judge the clause results at this confidence")
    show.add_argument("--junit", type=Path, metavar="FILE", help="also write the clause results as JUnit XML")
    show.add_argument("--db", type=Path, help=DB_HELP)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    dis = sub.add_parser("disagreements", help="split and inconclusive jury cases of a run, most divided first")
    dis.add_argument("run_id")
    dis.add_argument("--clause", help="only this clause")
    dis.add_argument("--judge", help="only ballots where this judge disagreed with the verdict")
    dis.add_argument("--limit", type=positive_int, default=50)
    dis.add_argument("--db", type=Path, help=DB_HELP)
    dis.add_argument("--json", action="store_true")
    dis.set_defaults(handler=cmd_disagreements)

    tr = sub.add_parser("trends", help="pass rates, panel agreement, judge drift, cost and evidence age over runs")
    tr.add_argument("--pact", help="only this pact id")
    tr.add_argument("--agent", help="only this agent name")
    tr.add_argument("--clause", help="only this clause (clause tables)")
    tr.add_argument("--judge", help="only this judge (judge tables)")
    tr.add_argument("--since", help="only runs started since: a duration (7d, 12h, 2w) or an ISO date/time")
    tr.add_argument(
        "--view",
        action="append",
        choices=["clauses", "versions", "agreement", "judges", "cost", "judge-cost", "clause-cost", "age"],
        help="show only this table (repeatable; default: all)",
    )
    tr.add_argument("--limit", type=positive_int, help="latest rows per table (default 30 in tables, all in --json)")
    tr.add_argument("--db", type=Path, help=DB_HELP)
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(handler=cmd_trends)

    cmp = sub.add_parser("compare", help="paired comparison of two runs (or two agent versions), clause by clause")
    cmp.add_argument("run_a", nargs="?", metavar="RUN_A", help="the baseline run")
    cmp.add_argument("run_b", nargs="?", metavar="RUN_B", help="the run compared with it")
    cmp.add_argument("--pact", help="with --versions: the pact whose runs are compared")
    cmp.add_argument("--agent", help="with --versions: the agent name")
    cmp.add_argument(
        "--versions", nargs=2, metavar=("V1", "V2"), help="compare the latest completed run of each agent version"
    )
    cmp.add_argument("--db", type=Path, help=DB_HELP)
    cmp.add_argument("--json", action="store_true")
    cmp.set_defaults(handler=cmd_compare)

    ex = sub.add_parser("export", help="write a run's cases, transcripts, votes and verdicts as parquet, csv or jsonl")
    ex.add_argument("run_id")
    ex.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    ex.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="directory for RUN-cases.FORMAT, RUN-transcripts.FORMAT, RUN-votes.FORMAT, RUN-verdicts.FORMAT "
        "(default .)",
    )
    ex.add_argument("--db", type=Path, help=DB_HELP)
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(handler=cmd_export)

    rep = sub.add_parser("report", help="write a self-contained HTML report of a run (opens offline)")
    rep.add_argument("run_id")
    rep.add_argument(
        "-o", "--output", type=Path, metavar="FILE.html", help="report file (default: RUN_ID.html beside the database)"
    )
    rep.add_argument("--db", type=Path, help=DB_HELP)
    rep.set_defaults(handler=cmd_report)


def cmd_runs(args: argparse.Namespace) -> int:
    from harness.report.text import agent_label, format_table
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        rows = store.runs(args.limit)
    if args.json:
        emit_json(rows)
        return EXIT_OK
    headers = ["run", "started", "status", "pact", "suite", "agent", "cases"]
    table = [
        [
            r["run_id"],
            f"{r['started_at']:%Y-%m-%d %H:%M}",
            r["status"],
            f"{r['pact_id']} v{r['pact_version']}",
            r["suite_id"],
            agent_label(r),
            f"{r['n_done']}/{r['n_cases']}",
        ]
        for r in rows
    ]
    print(format_table(headers, table) if rows else "no runs yet")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from harness.report.text import format_summary
    from harness.store import Store
    from harness.summary import run_summary

    with Store(db_path(args), read_only=True) as store:
        summary = run_summary(store, args.run_id, getattr(args, "confidence", None))
    if args.json:
        emit_json(summary)
    else:
        print(format_summary(summary))
    if getattr(args, "junit", None):
        from harness.report import junit

        junit.write(args.junit, [summary])
    return EXIT_BREACH if any(c["status"] == "breached" for c in summary["clauses"]) else EXIT_OK


def cmd_disagreements(args: argparse.Namespace) -> int:
    from harness.jury.views import disagreements
    from harness.report.text import clip, fmt_num
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        from harness.known import check_run_filters

        check_run_filters(store, args.run_id, clause=args.clause, judge=args.judge)  # unknown: error, not empty
        rows = disagreements(store, args.run_id, args.clause, args.judge, args.limit)
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("no split or inconclusive jury verdicts in this run")
    for r in rows:
        text = r["input"] if isinstance(r["input"], str) else " / ".join(m["content"] for m in r["input"])
        print(
            f"== {r['case_id']} / {r['clause_id']}: {r['outcome'].upper()} (split {r['split']}, "
            f"entropy {fmt_num(r['entropy_bits'])})"
        )
        print(f"   input:  {clip(text)}")
        print(f"   output: {clip(r['output'])}")
        for v in r["votes"]:
            label = v["label"].upper() + (f" {v['score']:g}" if v["score"] is not None else "")
            why = v["abstain_reason"] or v["rationale"]
            print(f"   - {v['judge']:<16} {label:<9} {clip(why, 100)}" + (" [cached]" if v["cached"] else ""))
        print()
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    from harness.queries import TREND_VIEWS, format_trend, parse_since, records, robustness_trend, trends
    from harness.report.text import format_table, pct, pp
    from harness.store import Store

    views = tuple(args.view) if args.view else TREND_VIEWS
    filters = dict(
        pact=args.pact, agent=args.agent, clause=args.clause, since=parse_since(args.since), judge=args.judge
    )
    with Store(db_path(args), read_only=True) as store:
        from harness.known import check_filters

        check_filters(store, pact=args.pact, agent=args.agent, clause=args.clause, judge=args.judge)
        frames = trends(store, views, **filters)
        robust = robustness_trend(store, pact=args.pact, agent=args.agent, clause=args.clause)
    if args.json:
        out = {
            name: records(frame.tail(args.limit) if args.limit and name != "age" else frame)
            for name, frame in frames.items()
        }
        emit_json({**out, "robustness": robust})
        return 0
    print("\n\n".join(format_trend(name, frames[name], args.limit or 30) for name in views))
    if robust:
        print("\n\nrobustness: pass rate under attack vs on the same cases unattacked, per run, clause and mutator")
        print(
            format_table(
                ["run", "agent", "clause", "mutator", "attacks", "attack pass", "original pass", "delta"],
                [
                    [
                        r["run_id"],
                        r["agent"],
                        r["clause_id"],
                        r["mutator"],
                        r["n_attacks"],
                        pct(r["attack_pass_rate"]),
                        pct(r["original_pass_rate"]),
                        pp(r["delta"]),
                    ]
                    for r in robust
                ],
            )
        )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.text import format_comparison
    from harness.stats.compare import compare_runs, resolve_runs
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        run_a, run_b = resolve_runs(store, args.run_a, args.run_b, args.pact, args.agent, args.versions)
        result = compare_runs(store, run_a, run_b)
    for w in result["warnings"]:
        warn(w)
    if args.json:
        emit_json(result)
    else:
        print(format_comparison(result))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        written = store.export(args.run_id, args.format, args.output)
    if args.json:
        emit_json(written)
    else:
        for w in written:
            print(f"{w['path']}  ({w['rows']} {w['table']} rows)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import report_path, write_report
    from harness.store import Store

    db = db_path(args)
    with Store(db, read_only=True) as store:
        path = write_report(store, args.run_id, args.output or report_path(db, args.run_id))
    print(path)
    return 0
