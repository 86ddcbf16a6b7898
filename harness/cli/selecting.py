"""`run`'s case-selection options (--case, --tag, --clause, --rerun-failed, --sample, --limit) and applying them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.cli.common import positive_int


def add_arguments(run: Any) -> None:
    g = run.add_argument_group("case selection (recorded with the run; `show` states it, --resume replays it)")
    g.add_argument(
        "--case",
        action="append",
        metavar="ID",
        dest="select_case",
        help="only this case and the attacks made from it (repeatable)",
    )
    g.add_argument(
        "--tag", action="append", metavar="TAG", dest="select_tag", help="only cases with this tag (repeatable)"
    )
    g.add_argument(
        "--clause",
        action="append",
        metavar="CLAUSE",
        dest="select_clause",
        help="only cases that test this clause (repeatable)",
    )
    g.add_argument(
        "--rerun-failed",
        metavar="RUN_ID",
        help="only the cases that failed in that run of the suite (a failed or errored verdict, or a target error)",
    )
    g.add_argument("--sample", type=positive_int, metavar="N", help="then N of them at random (seeded)")
    g.add_argument("--sample-seed", type=int, metavar="S", help="seed of --sample (default: --seed, else 0)")
    g.add_argument("--limit", type=positive_int, metavar="N", help="then the first N of them, in suite order")


def from_args(args: argparse.Namespace) -> Any:
    """The CaseSelection the arguments ask for (an empty one when none is given)."""
    from harness.selection import CaseSelection

    seed = args.sample_seed if args.sample_seed is not None else (args.seed or 0)
    return CaseSelection(
        cases=tuple(args.select_case or ()),
        tags=tuple(args.select_tag or ()),
        clauses=tuple(args.select_clause or ()),
        rerun_failed=args.rerun_failed,
        sample=args.sample,
        seed=seed if args.sample else 0,
        limit=args.limit,
    )


def recorded_options(selection: Any) -> dict[str, Any]:
    """`{"selection": ...}` for the run's stored options; nothing when every case runs."""
    return {} if selection is None or selection.empty else {"selection": selection.recorded()}


def replay(plan: Any, given: Any, run: Mapping[str, Any], store: Any) -> Any:
    """`--resume`: the plan cut to the selection the run recorded, which must give the run's own case count."""
    from harness.errors import ConfigError
    from harness.selection import CaseSelection

    if given is not None and not given.empty:
        raise ConfigError(
            f"--resume {run['run_id']} runs the cases that run selected; leave out --case, --tag, "
            "--clause, --rerun-failed, --sample and --limit"
        )
    selection = CaseSelection.model_validate(run["options"].get("selection") or {})
    plan = apply(plan, selection, store.path, store)
    if not selection.empty and len(plan.suite.cases) != run["n_cases"]:
        raise ConfigError(
            f"run {run['run_id']} has {run['n_cases']} cases but its selection now gives "
            f"{len(plan.suite.cases)}; start a new run"
        )
    return plan


def apply(plan: Any, selection: Any, db: Path, store: Any = None) -> Any:
    """The plan cut to the selection; `--rerun-failed` reads the earlier run from the store (`store`, or `db`
    opened read-only for the moment)."""
    from harness.selection import check_rerun_source, select

    if selection.empty:
        return plan
    failed: set[str] | None = None
    if selection.rerun_failed:
        if store is None:
            from harness.store import Store

            with Store(db, read_only=True) as own:
                failed = _failed(own, selection.rerun_failed, plan.suite.id, check_rerun_source)
        else:
            failed = _failed(store, selection.rerun_failed, plan.suite.id, check_rerun_source)
    return select(plan, selection, failed)


def _failed(store: Any, run_id: str, suite_id: str, check: Any) -> set[str]:
    check(store.run(run_id), suite_id)
    return set(store.failed_case_ids(run_id))
