"""CLI surface of decisions: options added to `run` and `show`, and the `status`, `due` and `review` commands.

Only argparse here at import time: `pactjury --help` must stay fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMANDS = ("status", "due", "review")


def _confidence(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid confidence {text!r}: use e.g. 0.95 or 95%") from None
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be at least 0.5 and below 1 (e.g. 0.95)")
    return value


def _duration(text: str) -> float:
    from harness.pact import parse_duration

    try:
        value = parse_duration(text.strip() if not text.strip().isdigit() else int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return float(value)


def add_parsers(sub: Any, run: argparse.ArgumentParser, show: argparse.ArgumentParser, db_help: str) -> None:
    conf_help = "confidence of the Wilson intervals that decide clause statuses (default 0.95)"
    run.add_argument("--confidence", type=_confidence, help=conf_help)
    run.add_argument("--due", action="store_true",
                     help="run every suite under SUITE_DIR (default suites/) whose evidence is due for this agent")
    run.add_argument("--horizon", type=_duration, default=0.0,
                     help="with --due: also run suites whose evidence goes stale within this time (e.g. 1d)")
    run.add_argument("--quiet", action="store_true",
                     help="print nothing unless a clause is breached (for cron); errors still go to stderr")
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write the clause results as JUnit XML")
    show.add_argument("--confidence", type=_confidence, help="re-judge the clause results at this confidence")
    show.add_argument("--junit", type=Path, metavar="FILE", help="also write the clause results as JUnit XML")

    st = sub.add_parser("status", help="every agent and pact: decision, trust score, evidence freshness, last run")
    st.add_argument("--agent", help="only this agent")
    st.add_argument("--pact", help="only this pact id")
    st.add_argument("--confidence", type=_confidence, default=0.95, help=conf_help)
    st.add_argument("--record", action="store_true",
                    help="also append each decision and trust score to the store's history")
    st.add_argument("--db", type=Path, help=db_help)
    st.add_argument("--json", action="store_true")

    due = sub.add_parser("due", help="list suites whose evidence is stale, or will be within --horizon")
    due.add_argument("suites_root", nargs="?", type=Path, metavar="SUITES_ROOT", help="default: suites/")
    due.add_argument("--horizon", type=_duration, default=0.0, help="look ahead this far (e.g. 2d; default 0)")
    due.add_argument("--agent", help="only this agent (default: every agent with runs of the pact)")
    due.add_argument("--panel", help="count clauses with verify: jury too, as `run --due --panel` would refresh them "
                     "(without it they are left out)")
    due.add_argument("--all", action="store_true", help="also list suites that are not due")
    due.add_argument("--quiet", action="store_true", help="print only the due suite directories, one a line")
    due.add_argument("--db", type=Path, help=db_help)
    due.add_argument("--json", action="store_true")

    rev = sub.add_parser("review", help="human review: export the jury's undecided cases, import labels, calibrate")
    rsub = rev.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    ex = rsub.add_parser("export", help="the run's inconclusive and split jury cases, to label")
    ex.add_argument("run_id")
    ex.add_argument("--format", choices=["csv", "jsonl"], help="default: from -o's extension, else csv")
    ex.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    ex.add_argument("--db", type=Path, help=db_help)
    im = rsub.add_parser("import", help="store reviewers' labels; recompute the runs' results and decisions")
    im.add_argument("file", type=Path, help="a labelled export (.csv or .jsonl)")
    im.add_argument("--reviewer", help="reviewer for rows whose reviewer column is empty")
    im.add_argument("--db", type=Path, help=db_help)
    im.add_argument("--json", action="store_true")
    stt = rsub.add_parser("stats", help="each judge's accuracy and Cohen's kappa against human labels")
    stt.add_argument("run_id", nargs="?")
    stt.add_argument("--all", action="store_true", help="over every labelled run in the store")
    stt.add_argument("--db", type=Path, help=db_help)
    stt.add_argument("--json", action="store_true")


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "status":
        return cmd_status(args)
    if args.command == "due":
        from harness.schedule import cmd_due

        return cmd_due(args)
    from harness import review

    return {"export": review.cmd_export, "import": review.cmd_import, "stats": review.cmd_stats}[
        args.review_command](args)


# ---------------------------------------------------------------- status


def assessments(store: Any, now: Any, confidence: float, agent: str | None = None,
                pact_id: str | None = None) -> tuple[list[Any], list[str]]:
    from harness.decision import assess, pact_of_run
    from harness.errors import ConfigError
    from harness.types import Pact

    out, notes = [], []
    for k in store.agent_pacts():
        if (agent is not None and k["agent"] != agent) or (pact_id is not None and k["pact_id"] != pact_id):
            continue
        spec = store.pact_spec(k["pact_hash"])
        try:
            pact = Pact.model_validate_json(spec) if spec else pact_of_run(store, store.run(k["last_run_id"]))
        except ConfigError as exc:
            notes.append(f"skipped {k['agent']} / {k['pact_id']}: {exc}")
            continue
        a = assess(store, pact, k["agent"], now, confidence)
        a.last_run = (k["last_run_id"], k["last_finished_at"])
        out.append(a)
    return out, notes


def freshness_text(a: Any) -> str:
    from harness.trust import fmt_duration

    with_evidence = [s for s in a.states if s.age_s is not None]
    missing = len(a.states) - len(with_evidence)
    tail = f", {missing} without evidence" if missing else ""
    if not with_evidence:
        return "no evidence"
    stale = [s for s in with_evidence if s.stale]
    oldest = max(with_evidence, key=lambda s: s.age_s)
    if stale:
        return f"STALE {len(stale)}/{len(a.states)} clauses (oldest {fmt_duration(oldest.age_s)}){tail}"
    left = (a.next_expiry - a.now).total_seconds() if a.next_expiry else None
    return f"fresh (oldest {fmt_duration(oldest.age_s)}, stale in {fmt_duration(left)}){tail}"


def cmd_status(args: argparse.Namespace) -> int:
    from harness.cli import db_path, emit_json
    from harness.clock import now as clock_now
    from harness.commands import format_table
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
        import sys

        print(f"warning: {n}", file=sys.stderr)
    return 0
