"""Decisions over time: `status` (every agent and pact: decision, trust score, freshness) and `due`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, confidence, db_path, duration, emit_json, open_store, warn


def add_parsers(sub: Any) -> None:
    st = sub.add_parser("status", help="every agent and pact: decision, trust score, evidence freshness, last run")
    st.add_argument("--agent", help="only this agent")
    st.add_argument("--pact", help="only this pact id")
    st.add_argument("--confidence", type=confidence, default=0.95,
                    help="confidence of the Wilson intervals that decide clause statuses (default 0.95)")
    st.add_argument("--record", action="store_true",
                    help="also append each decision and trust score to the store's history")
    st.add_argument("--db", type=Path, help=DB_HELP)
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=cmd_status)

    due = sub.add_parser("due", help="list suites whose evidence is stale, or will be within --horizon")
    due.add_argument("suites_root", nargs="?", type=Path, metavar="SUITES_ROOT", help="default: suites/")
    due.add_argument("--horizon", type=duration, default=0.0, help="look ahead this far (e.g. 2d; default 0)")
    due.add_argument("--agent", help="only this agent (default: every agent with runs of the pact)")
    due.add_argument("--panel", help="count clauses with verify: jury too, as `run --due --panel` would refresh them "
                     "(without it they are left out)")
    due.add_argument("--all", action="store_true", help="also list suites that are not due")
    due.add_argument("--quiet", action="store_true", help="print only the due suite directories, one a line")
    due.add_argument("--db", type=Path, help=DB_HELP)
    due.add_argument("--json", action="store_true")
    due.set_defaults(handler=cmd_due)

def cmd_status(args: argparse.Namespace) -> int:
    from harness.clock import now as clock_now
    from harness.decision import assessments
    from harness.report.text import format_table, freshness_text
    from harness.store import Store
    from harness.trust import fmt_duration

    db = db_path(args)
    now = clock_now()
    if args.record:
        from harness.decision import record
        from harness.lock import run_lock

        with run_lock(db, "status --record"), Store(db) as store:
            items, notes = assessments(store, now, args.confidence, args.agent, args.pact)
            for a in items:
                record(store, a, "status")
            history = {(a.agent, a.pact.id): store.trust_history(a.agent, a.pact.id, 10) for a in items}
    else:
        with Store(db, read_only=True) as store:
            items, notes = assessments(store, now, args.confidence, args.agent, args.pact)
            history = {(a.agent, a.pact.id): store.trust_history(a.agent, a.pact.id, 10) for a in items}
    if args.json:
        emit_json([dict(a.as_dict(), last_run=dict(run_id=a.last_run[0], finished_at=a.last_run[1]),
                        freshness=freshness_text(a), score_history=history[(a.agent, a.pact.id)]) for a in items])
    elif not items:
        print("no completed runs yet")
    else:
        rows = [[a.agent or "-", f"{a.pact.id} v{a.pact.version}", a.decision.decision.upper(),
                 "-" if a.score is None else f"{a.score:.1f}", freshness_text(a),
                 f"{a.last_run[0]} ({fmt_duration((now - a.last_run[1]).total_seconds())} ago)"] for a in items]
        print(format_table(["agent", "pact", "decision", "score", "evidence", "last run"], rows))
        print(f"\nat {now:%Y-%m-%d %H:%M:%S %Z}, confidence {args.confidence:.0%}")
    for n in notes:


        warn(n)
    return 0


def cmd_due(args: argparse.Namespace) -> int:
    from harness.clock import now
    from harness.report.text import format_table
    from harness.schedule import DEFAULT_SUITES_ROOT, due_items

    root = args.suites_root or DEFAULT_SUITES_ROOT
    store = open_store(db_path(args), write=False)
    try:
        items = due_items(store, root, args.horizon, now(), args.agent, args.agent is not None,
                          with_jury=bool(args.panel))
    finally:
        if store is not None:
            store.close()
    due = [i for i in items if i.due]
    if args.json:
        emit_json([i.as_dict() for i in (items if args.all else due)])
    elif args.quiet:
        for path in dict.fromkeys(str(i.suite_dir) for i in due):
            print(path)
    else:
        shown = items if args.all else due
        if shown:
            print(format_table(["suite", "pact", "agent", "due", "why"],
                               [[str(i.suite_dir), f"{i.pact_id} v{i.pact_version}", i.agent or "-",
                                 "DUE" if i.due else "no", i.reason] for i in shown]))
        else:
            from harness.trust import fmt_duration

            print(f"nothing due under {root}" + (f" within {fmt_duration(args.horizon)}" if args.horizon else ""))
    return 0
