"""Human review: `review export` (the cases to label), `review import` (labels in, results revised), `review stats`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, db_path, emit_json
from harness.errors import ConfigError


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def add_parsers(sub: Any) -> None:
    rev = sub.add_parser("review", help="human review: export the jury's undecided cases, import labels, calibrate")
    rsub = rev.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    ex = rsub.add_parser("export", help="the run's inconclusive and split jury cases (and an audit sample), to label")
    ex.add_argument("run_id")
    ex.add_argument(
        "--audit",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="also N of the panel's verdicts drawn at random (selection 'audit'): judge calibration on "
        "them is unbiased, unlike on the disagreement queue",
    )
    ex.add_argument(
        "--seed", type=int, default=0, help="seed of the audit sample (default 0; the same seed draws the same sample)"
    )
    ex.add_argument("--format", choices=["csv", "jsonl"], help="default: from -o's extension, else csv")
    ex.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: standard output")
    ex.add_argument("--db", type=Path, help=DB_HELP)
    ex.set_defaults(handler=cmd_export)
    im = rsub.add_parser("import", help="store reviewers' labels; recompute the runs' results and decisions")
    im.add_argument("file", type=Path, help="a labelled export (.csv or .jsonl)")
    im.add_argument("--reviewer", help="reviewer for rows whose reviewer column is empty")
    im.add_argument("--db", type=Path, help=DB_HELP)
    im.add_argument("--json", action="store_true")
    im.set_defaults(handler=cmd_import)
    stt = rsub.add_parser("stats", help="each judge's accuracy and Cohen's kappa against human labels")
    stt.add_argument("run_id", nargs="?")
    stt.add_argument("--all", action="store_true", help="over every labelled run in the store")
    stt.add_argument("--db", type=Path, help=DB_HELP)
    stt.add_argument("--json", action="store_true")
    stt.set_defaults(handler=cmd_stats)


def cmd_export(args: argparse.Namespace) -> int:
    from harness.review import audit_population, queue, to_csv, to_jsonl
    from harness.store import Store

    fmt = args.format or ("jsonl" if args.output and str(args.output).endswith((".jsonl", ".ndjson")) else "csv")
    with Store(db_path(args), read_only=True) as store:
        items = queue(store, args.run_id, args.audit, args.seed)
        population = len(audit_population(store, args.run_id)) if args.audit else 0
    text = to_jsonl(items) if fmt == "jsonl" else to_csv(items)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{args.output}: cannot write ({exc.strerror})") from None
        print(
            f"{len(items)} case(s) to review from run {args.run_id} written to {args.output}"
            + _selection_line(items, args.audit, args.seed, population),
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0


def _selection_line(items: list[dict[str, Any]], audit: int, seed: int, population: int) -> str:
    queued = sum(1 for it in items if it["in_queue"])
    if not audit:
        return f": the disagreement queue ({queued} split or inconclusive verdicts)"
    drawn = sum(1 for it in items if it["selection"] == "audit")
    both = sum(1 for it in items if it["selection"] == "audit" and it["in_queue"])
    return (
        f": the disagreement queue ({queued} split or inconclusive verdicts) and an audit sample of {drawn} "
        f"drawn at random from the {population} panel verdicts (seed {seed}; {both} also in the queue)"
    )


def cmd_import(args: argparse.Namespace) -> int:
    from harness.lock import run_lock
    from harness.review import import_labels
    from harness.store import Store

    db = db_path(args)
    with run_lock(db, "review import"), Store(db) as store:
        report = import_labels(store, Path(args.file), args.reviewer)
    if args.json:
        emit_json(report)
        return 0
    print(
        f"imported {report['labels']} label(s) ({report['passed']} pass, {report['failed']} fail) by "
        f"{', '.join(report['reviewers'])} from {report['file']}"
    )
    for r in report["runs"]:
        changes = (
            "; ".join(f"{c['clause_id']} {c['before']} -> {c['after']}" for c in r["changed"]) or "no status change"
        )
        print(
            f"run {r['run_id']}: revision {r['revision']}, decision {r['decision'].upper()} "
            f"(was {str(r['previous_decision']).upper()}); {changes}"
        )
        print(
            f"agent {r['agent']}: standing decision {r['standing_decision'].upper()}, trust score "
            f"{'-' if r['score'] is None else r['score']}"
        )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from harness.report.text import format_calibration_groups
    from harness.review import run_calibration
    from harness.store import Store

    if bool(args.run_id) == bool(args.all):
        raise ConfigError("review stats needs a RUN_ID or --all")
    with Store(db_path(args), read_only=True) as store:
        if args.run_id:
            store.run(args.run_id)
        groups = run_calibration(store, args.run_id)
    if args.json:
        emit_json(groups)
    elif not groups[-1]["n_items"]:
        print("no human labels on jury verdicts yet (pactjury review export RUN, then review import FILE)")
    else:
        print(format_calibration_groups(groups))
    return 0
