"""Decisions over time: `status` (every agent and pact: decision, trust score, freshness) and `due`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, confidence, db_path, duration, emit_json, open_store, warn
from harness.errors import ConfigError

AS_OF_HELP = (
    "judge freshness at this time instead of now, for a what-if (ISO 8601 such as 2025-03-01T09:00Z, or "
    "Unix seconds); reads only"
)


def instant(text: str) -> Any:
    from harness.clock import parse_instant

    try:
        return parse_instant(text, "--as-of")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any) -> None:
    st = sub.add_parser("status", help="every agent and pact: decision, trust score, evidence freshness, last run")
    st.add_argument("--agent", help="only this agent")
    st.add_argument("--pact", help="only this pact id")
    st.add_argument(
        "--confidence",
        type=confidence,
        default=0.95,
        help="confidence of the Wilson intervals that decide clause statuses (default 0.95)",
    )
    st.add_argument("--as-of", type=instant, metavar="TIME", help=AS_OF_HELP)
    st.add_argument(
        "--record",
        action="store_true",
        help="also append each decision and trust score to the store's history (at the real time)",
    )
    st.add_argument("--db", type=Path, help=DB_HELP)
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=cmd_status)

    due = sub.add_parser("due", help="list suites whose evidence is stale, or will be within --horizon")
    due.add_argument("suites_root", nargs="?", type=Path, metavar="SUITES_ROOT", help="default: suites/")
    due.add_argument("--horizon", type=duration, default=0.0, help="look ahead this far (e.g. 2d; default 0)")
    due.add_argument(
        "--agent",
        help="only this agent (default: the agents schedule.yaml files bind, and for "
        "unbound suites every agent with runs of the pact)",
    )
    due.add_argument(
        "--panel",
        help="count clauses with verify: jury too, as `run --due --panel` would refresh them "
        "(without it they are left out, except for schedule entries that name a panel)",
    )
    due.add_argument("--as-of", type=instant, metavar="TIME", help=AS_OF_HELP)
    due.add_argument("--all", action="store_true", help="also list suites that are not due")
    due.add_argument("--quiet", action="store_true", help="print only the due suite directories, one a line")
    due.add_argument("--db", type=Path, help=DB_HELP)
    due.add_argument("--json", action="store_true")
    due.set_defaults(handler=cmd_due)


def cmd_status(args: argparse.Namespace) -> int:
    from harness.clock import as_of

    if args.record and args.as_of is not None:
        raise ConfigError(
            "--as-of is a what-if and --record appends to the history at the real time: use one or the other"
        )
    with as_of(args.as_of) as now:  # --as-of, else $PACTJURY_NOW, else the real time
        return _status(args, now)


def _status(args: argparse.Namespace, now: Any) -> int:
    from harness.known import check_filters
    from harness.report.text import format_table, freshness_text
    from harness.standing import assessments
    from harness.store import Store

    db = db_path(args)
    if args.record:
        from harness.clock import source
        from harness.lock import run_lock
        from harness.standing import record

        with run_lock(db, "status --record"), Store(db) as store:  # refused while $PACTJURY_NOW is ahead
            check_filters(store, agent=args.agent, pact=args.pact)
            items, notes = assessments(store, now, args.confidence, args.agent, args.pact)
            for a in items:  # a decision made at a fixed (earlier) clock says so in its trigger_ref
                record(store, a, "status", source())
            history = {(a.agent, a.pact.id): store.trust_history(a.agent, a.pact.id, 10) for a in items}
    else:
        with Store(db, read_only=True) as store:
            check_filters(store, agent=args.agent, pact=args.pact)
            items, notes = assessments(store, now, args.confidence, args.agent, args.pact)
            history = {(a.agent, a.pact.id): store.trust_history(a.agent, a.pact.id, 10) for a in items}
    if args.json:
        emit_json(
            [
                dict(
                    a.as_dict(),
                    last_run=dict(zip(("run_id", "finished_at"), a.last_run or (None, None))),
                    freshness=freshness_text(a),
                    score_history=history[(a.agent, a.pact.id)],
                )
                for a in items
            ]
        )
    elif not items:
        print("no completed runs yet" if not (args.agent or args.pact) else "no completed runs of that yet")
    else:
        rows = [
            [
                a.agent or "-",
                f"{a.pact.id} v{a.pact.version}",
                a.decision.decision.upper(),
                "-" if a.score is None else f"{a.score:.1f}",
                freshness_text(a),
                _last_run(a.last_run, now),
            ]
            for a in items
        ]
        print(format_table(["agent", "pact", "decision", "score", "evidence", "last run"], rows))
        print(f"\nat {now:%Y-%m-%d %H:%M:%S %Z}{_clock_note()}, confidence {args.confidence:.0%}")
    for n in notes:
        warn(n)
    return 0


def _last_run(last: Any, now: Any) -> str:
    from harness.trust import fmt_duration

    return "-" if last is None else f"{last[0]} ({fmt_duration((now - last[1]).total_seconds())} ago)"


def _clock_note() -> str:
    from harness.clock import source

    what = source()
    return f" (fixed clock: {what})" if what else ""


def cmd_due(args: argparse.Namespace) -> int:
    from harness.clock import as_of

    with as_of(args.as_of) as now:
        return _due(args, now)


def _due(args: argparse.Namespace, now: Any) -> int:
    from harness.report.text import format_table
    from harness.schedule import DEFAULT_SUITES_ROOT, due_items

    root = args.suites_root or DEFAULT_SUITES_ROOT
    store = open_store(db_path(args), write=False)
    try:
        items = due_items(
            store,
            root,
            args.horizon,
            now,
            agent=args.agent,
            unbound=[args.agent] if args.agent else None,
            with_jury=bool(args.panel),
        )
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
            print(
                format_table(
                    ["suite", "pact", "agent", "due", "why", "target"],
                    [
                        [
                            str(i.suite_dir),
                            f"{i.pact_id} v{i.pact_version}",
                            i.agent or "-",
                            "DUE" if i.due else "no",
                            i.reason,
                            i.binding.target if i.binding else "-",
                        ]
                        for i in shown
                    ],
                )
            )
        else:
            from harness.trust import fmt_duration

            print(
                f"nothing due under {root}"
                + (f" within {fmt_duration(args.horizon)}" if args.horizon else "")
                + _clock_note()
            )
    return 0
