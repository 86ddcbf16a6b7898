"""Scheduled runs: which suites are due (evidence stale now or within a horizon), `run --due`, and the run
command's output for cron (--quiet) and CI (--junit)."""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

DEFAULT_SUITES_ROOT = Path("suites")


@dataclass
class DueItem:
    suite_dir: Path
    pact_id: str
    pact_version: str
    pact_hash: str
    agent: str | None
    due: bool
    reason: str
    next_expiry: datetime | None = None
    stale_clauses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(suite_dir=str(self.suite_dir), pact_id=self.pact_id, pact_version=self.pact_version,
                    pact_hash=self.pact_hash, agent=self.agent, due=self.due, reason=self.reason,
                    next_expiry=self.next_expiry, stale_clauses=self.stale_clauses)


def find_suites(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory of suites")
    if (root / "suite.yaml").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("suite.yaml")
                  if not any(part.startswith(".") for part in p.relative_to(root).parts))


def due_items(store: Any | None, root: Path, horizon_s: float, now: datetime, agent: str | None = None,
              agent_given: bool = False, with_jury: bool = True) -> list[DueItem]:
    """Every suite under `root` for every agent with evidence on its pact (or the given agent), due or not.

    A suite is due for an agent when a clause its cases test has no evidence for the pact version, or its
    evidence expires (completion + freshness window) before now + horizon. Without a jury (`run --due` with no
    --panel) clauses with `verify: jury` are left out: such a run could not refresh them.
    """
    from harness.decision import assess
    from harness.suite import load_plan
    from harness.trust import fmt_duration

    known = store.agent_pacts() if store is not None else []
    items = []
    limit = now + timedelta(seconds=horizon_s)
    for suite_dir in find_suites(root):
        plan = load_plan(suite_dir)
        pact = plan.pact
        tested = {cid for case in plan.suite.cases for cid in case.clause_ids
                  if with_jury or pact.clause(cid).verify != "jury"}
        agents = [agent] if agent_given else ([k["agent"] for k in known if k["pact_id"] == pact.id] or [None])
        for who in agents:
            base = dict(suite_dir=suite_dir, pact_id=pact.id, pact_version=pact.version, pact_hash=pact.hash, agent=who)
            if not tested:
                items.append(DueItem(**base, due=False, reason="tests only jury clauses (count them with --panel)"))
                continue
            if store is None or (who is None and not agent_given):
                items.append(DueItem(**base, due=True, reason="never run"))
                continue
            states = [s for s in assess(store, pact, who, now).states if s.clause.id in tested]
            missing = [s.clause.id for s in states if s.expires_at is None]
            expiring = sorted((s for s in states if s.expires_at is not None), key=lambda s: s.expires_at)
            stale = [s.clause.id for s in states if s.stale]
            soon = [s for s in expiring if s.expires_at <= limit]
            next_expiry = expiring[0].expires_at if expiring else None
            if missing and len(missing) == len(states):
                reason, due = "no evidence for this pact version", True
            elif missing:
                reason, due = f"no evidence for {', '.join(missing)}", True
            elif stale:
                reason = f"stale: {', '.join(stale)} (evidence {fmt_duration(max(s.age_s or 0 for s in states))} old)"
                due = True
            elif soon:
                reason = f"stale in {fmt_duration((soon[0].expires_at - now).total_seconds())}: {soon[0].clause.id}"
                due = True
            else:
                reason = (f"fresh for {fmt_duration((next_expiry - now).total_seconds())}" if next_expiry
                          else "fresh")
                due = False
            items.append(DueItem(**base, due=due, reason=reason, next_expiry=next_expiry,
                                 stale_clauses=stale + missing))
    return items


def _open_store(db: Path, write: bool) -> Any | None:
    from harness.store import Store

    if not write and not Path(db).exists():
        return None
    return Store(db, read_only=not write)


def cmd_due(args: argparse.Namespace) -> int:
    from harness.cli import db_path, emit_json
    from harness.clock import now
    from harness.commands import format_table

    root = args.suites_root or DEFAULT_SUITES_ROOT
    store = _open_store(db_path(args), write=False)
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


# ---------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    """`run`: one suite (harness.commands.cmd_run), or with --due every due suite under a root, one lock for all."""
    from harness.commands import cmd_run as run_one

    if args.quiet:
        args.no_progress = True
    if not args.due:
        return run_one(args)
    if args.resume:
        raise ConfigError("--due and --resume do not combine")
    if not args.target:
        raise ConfigError("run --due needs --target")
    from harness.cli import EXIT_ABORTED, EXIT_BREACH, EXIT_OK, db_path, emit_json
    from harness.clock import now
    from harness.commands import _target_options
    from harness.lock import run_lock
    from harness.target import make_target

    root = args.suite_dir or DEFAULT_SUITES_ROOT
    agent = args.agent or make_target(args.target, _target_options(args)).spec
    db = db_path(args)
    collected: list[dict[str, Any]] = []
    worst = EXIT_OK
    with run_lock(db, "run --due"):
        store = _open_store(db, write=True)
        try:
            items = [i for i in due_items(store, root, args.horizon, now(), agent, True, with_jury=bool(args.panel))
                     if i.due]
        finally:
            store.close()
        if not items and not args.quiet and not args.json:
            print(f"nothing due under {root} for {agent}", file=sys.stderr)
        for item in items:
            if not args.quiet and not args.json:
                print(f"due: {item.suite_dir} ({item.reason})", file=sys.stderr)
            one = copy.copy(args)
            one.due, one.suite_dir, one.collect = False, item.suite_dir, collected
            code = run_one(one)
            if code == EXIT_ABORTED:
                return code
            worst = max(worst, code)
    if args.json:
        emit_json(collected)
    if args.junit:
        from harness import junit

        junit.write(args.junit, collected)
    return EXIT_BREACH if worst == EXIT_BREACH else worst


def emit_run_summary(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    """Print a finished run's summary (text, JSON, or only breaches with --quiet), write --junit; exit status."""
    from harness.cli import EXIT_BREACH, EXIT_OK, emit_json
    from harness.commands import format_summary

    collect = getattr(args, "collect", None)
    if collect is not None:
        collect.append(summary)
    breached = [c for c in summary["clauses"] if c["status"] == "breached"]
    if getattr(args, "quiet", False):
        print_breaches(summary, breached)
    elif args.json:
        if collect is None:
            emit_json(summary)
    else:
        print(format_summary(summary))
    if getattr(args, "junit", None) and collect is None:
        from harness import junit

        junit.write(args.junit, [summary])
    return EXIT_BREACH if breached else EXIT_OK


def print_breaches(summary: dict[str, Any], breached: list[dict[str, Any]]) -> None:
    from harness.junit import evidence_line

    run = summary["run"]
    for c in breached:
        print(f"BREACHED {run['pact_id']}/{c['clause_id']} ({c['severity']}) in run {run['run_id']} "
              f"[{run.get('agent') or '-'}]: {evidence_line(c)}")
    if breached and summary.get("decision"):
        print(f"decision for run {run['run_id']}: {summary['decision']['decision'].upper()}")
