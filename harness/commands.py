"""The bodies of the CLI subcommands: load, run or read, then print tables or JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from harness.cli import EXIT_ABORTED, EXIT_BREACH, EXIT_OK, EXIT_USAGE, db_path, emit_json
from harness.errors import ConfigError
from harness.suite import Plan, load_plan


# ---------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.panel import PANELS_DIR, load_panel

    reports, warnings = [], []
    for suite_dir in args.suite_dirs:
        plan = load_plan(suite_dir)
        warnings.extend(plan.warnings)
        reports.append(_plan_summary(plan))
    panel_files = sorted(PANELS_DIR.glob("*.yaml")) if PANELS_DIR.is_dir() else []
    panels = []
    for ref in [*panel_files, *args.panel]:
        spec, _ = load_panel(ref)  # renders every rubric once
        panels.append(dict(panel_id=spec.id, panel_hash=spec.hash, judges=[j.name for j in spec.judges],
                           method=spec.method))
    if args.json:
        emit_json({"ok": not (args.strict and warnings), "suites": reports, "panels": panels, "warnings": warnings})
    else:
        for r in reports:
            print(f"ok  {r['suite_dir']}: pact {r['pact_id']} v{r['pact_version']} ({r['pact_hash'][:12]}), "
                  f"{r['clauses']} clauses; suite {r['suite_id']}: {r['cases']} cases"
                  + (f" ({r['adversarial']} adversarial)" if r["adversarial"] else "") + f", {r['checks']} bound checks")
        for p in panels:
            print(f"ok  panel {p['panel_id']} ({p['panel_hash'][:12]}): {p['method']} over {', '.join(p['judges'])}")
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    if args.strict and warnings:
        return EXIT_USAGE
    return EXIT_OK


def _plan_summary(plan: Plan) -> dict[str, Any]:
    return dict(suite_dir=str(plan.suite_dir), pact_id=plan.pact.id, pact_version=plan.pact.version,
                pact_hash=plan.pact.hash, clauses=len(plan.pact.clauses), suite_id=plan.suite.id,
                suite_hash=plan.suite.hash, cases=len(plan.suite.cases),
                adversarial=sum(1 for c in plan.suite.cases if c.mutator),
                checks=sum(len(v) for v in plan.checks.values()))


# ---------------------------------------------------------------- run


def _target_options(args: argparse.Namespace) -> Any:
    from harness.target import TargetOptions

    system = _read_text(args.target_system, "--target-system") if args.target_system else None
    schema = None
    if args.target_schema:
        try:
            schema = json.loads(_read_text(args.target_schema, "--target-schema"))
        except ValueError as exc:
            raise ConfigError(f"not valid JSON: {exc}", where=str(args.target_schema)) from None
    response_format = ({"type": "json_schema", "json_schema": {"name": "agent_reply", "schema": schema, "strict": True}}
                       if schema is not None else None)
    return TargetOptions(base_url=args.target_base_url, api_key_env=args.target_api_key_env, timeout_s=args.timeout,
                         temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed, retries=args.retries,
                         system=system, response_format=response_format)


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_text(path: Path, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read file ({exc.strerror})", where=str(path)) from None


def _recorded_options(args: argparse.Namespace) -> dict[str, Any]:
    from harness.secrets import redact_url

    return dict(target_base_url=redact_url(args.target_base_url) if args.target_base_url else None,
                target_api_key_env=args.target_api_key_env, timeout_s=args.timeout, retries=args.retries,
                no_adversarial=args.no_adversarial,
                target_system=str(args.target_system) if args.target_system else None,
                target_system_sha256=_sha256_file(args.target_system) if args.target_system else None,
                target_schema=str(args.target_schema) if args.target_schema else None,
                temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed,
                concurrency=args.concurrency, confidence=getattr(args, "confidence", None) or 0.95,
                **({"mutate": list(args.mutate_names), "mutate_seed": args.mutate_seed}
                   if getattr(args, "mutate_names", None) else {}))


def cmd_run(args: argparse.Namespace) -> int:
    from harness.pipeline import RunSettings, execute, start_run
    from harness.store import Store
    from harness.target import make_target

    if args.resume:
        return _resume(args)
    if args.suite_dir is None or not args.target:
        raise ConfigError("run needs SUITE_DIR and --target (or --resume RUN_ID)")
    plan = load_plan(args.suite_dir, adversarial=not args.no_adversarial)
    if getattr(args, "mutate", None):  # --mutate: attacks made on the fly, recorded in the run's options
        from harness.adversarial import mutate_plan, parse_mutate_option

        args.mutate_names, args.mutate_seed = parse_mutate_option(args.mutate), args.mutate_seed or 0
        plan = mutate_plan(plan, args.mutate_names, args.mutate_seed)
    for w in plan.warnings if not getattr(args, "quiet", False) else ():
        print(f"warning: {w}", file=sys.stderr)
    target = make_target(args.target, _target_options(args))
    settings = RunSettings(agent=args.agent or target.spec, agent_version=args.agent_version,
                           concurrency=args.concurrency, options=_recorded_options(args),
                           progress=not args.no_progress and not args.json, jury=_jury(args, target),
                           confidence=getattr(args, "confidence", None) or 0.95)
    # Everything that can be wrong with the input is checked above, before the store is touched.
    from harness.lock import run_lock

    with run_lock(db_path(args)), Store(db_path(args)) as store:
        run_id = start_run(store, plan, target, settings)
        _announce(args, f"run {run_id}: {len(plan.suite.cases)} cases of {plan.suite.id} against {target.spec}")
        return _execute(args, store, plan, target, run_id, settings, execute)


def _jury(args: argparse.Namespace, target: Any, run: dict[str, Any] | None = None) -> Any:
    from harness.panel import Jury, load_panel

    ref = args.panel or (run or {}).get("panel_id")
    if not ref:
        return None
    spec, rubrics = load_panel(ref)
    if run is not None and run.get("panel_hash") and run["panel_hash"] != spec.hash:
        raise ConfigError(f"panel {spec.id} changed since run {run['run_id']} started ({run['panel_hash'][:12]} -> "
                          f"{spec.hash[:12]}); a changed panel is a new version: start a new run")
    return Jury(panel=spec, rubrics=rubrics, target_model=getattr(target, "model", None),
                use_cache=not args.no_cache)


def _resume(args: argparse.Namespace) -> int:
    from harness.pipeline import RunSettings, execute
    from harness.store import Store
    from harness.target import make_target

    from harness.lock import run_lock

    with run_lock(db_path(args)), Store(db_path(args)) as store:
        run = store.run(args.resume)
        if run["status"] == "completed":
            raise ConfigError(f"run {args.resume} is already completed; nothing to resume")
        plan = load_plan(Path(run["suite_path"]), adversarial=not run["options"].get("no_adversarial"))
        if run["options"].get("mutate"):  # the run's --mutate attacks, made again from the recorded seed
            from harness.adversarial import mutate_plan

            plan = mutate_plan(plan, run["options"]["mutate"], run["options"].get("mutate_seed") or 0)
        for field, now in (("pact_hash", plan.pact.hash), ("suite_hash", plan.suite.hash)):
            if run[field] != now:
                what = field.split("_")[0]
                raise ConfigError(f"the {what} changed since run {args.resume} started ({run[field][:12]} -> "
                                  f"{now[:12]}); a changed {what} is a new version: start a new run")
        recorded = run["options"]
        spec = args.target or run["target_spec"].split(" @ ")[0]
        args.target_base_url = args.target_base_url or recorded.get("target_base_url")
        args.target_api_key_env = args.target_api_key_env or recorded.get("target_api_key_env")
        args.target_system = args.target_system or recorded.get("target_system")
        args.target_schema = args.target_schema or recorded.get("target_schema")
        target = make_target(spec, _target_options(args))
        if target.spec != run["target_spec"]:
            raise ConfigError(f"--target {target.spec!r} differs from the run's target {run['target_spec']!r}")
        settings = RunSettings(agent=run["agent"], agent_version=run["agent_version"],
                               concurrency=args.concurrency, progress=not args.no_progress and not args.json,
                               jury=_jury(args, target, run),
                               confidence=getattr(args, "confidence", None) or recorded.get("confidence") or 0.95)
        _announce(args, f"resuming run {args.resume}: {run['n_done']} of {run['n_cases']} cases already stored")
        return _execute(args, store, plan, target, args.resume, settings, execute)


def _announce(args: argparse.Namespace, line: str) -> None:
    if not args.json and not getattr(args, "quiet", False):
        print(line, file=sys.stderr)


def _execute(args: argparse.Namespace, store: Any, plan: Plan, target: Any, run_id: str, settings: Any,
             execute: Any) -> int:
    if settings.jury is not None or hasattr(target, "model"):
        from harness.llm import preload

        preload()  # litellm's import must not be billed to the first case's latency
    try:
        asyncio.run(execute(store, plan, target, run_id, settings))
    except KeyboardInterrupt:
        done = len(store.done_case_ids(run_id))
        print(f"\npactjury: aborted; {done} of {len(plan.suite.cases)} cases stored. "
              f"Resume with: pactjury run --resume {run_id}" + (f" --db {args.db}" if args.db else ""),
              file=sys.stderr)
        return EXIT_ABORTED
    summary = _summary(store, run_id)
    if not getattr(args, "no_report", False):
        from harness.report import run_report

        summary["report"] = run_report(store, run_id)  # prints "report: PATH" on stderr
    from harness.schedule import emit_run_summary

    return emit_run_summary(args, summary)  # text, JSON or --quiet; --junit; 1 if a clause is breached


# ---------------------------------------------------------------- read commands


def _summary(store: Any, run_id: str, confidence: float | None = None) -> dict[str, Any]:
    from harness.jury_views import panel_summary
    from harness.review import enrich_summary

    run = store.run(run_id)
    summary = dict(run=run, clauses=store.clause_results(run_id), decision=store.decision(run_id),
                   totals=store.run_totals(run_id), panel=panel_summary(store, run_id))
    return enrich_summary(store, summary, confidence)  # latest human-review revision, failing cases, calibration


def cmd_runs(args: argparse.Namespace) -> int:
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        rows = store.runs(args.limit)
    if args.json:
        emit_json(rows)
        return EXIT_OK
    headers = ["run", "started", "status", "pact", "suite", "agent", "cases"]
    table = [[r["run_id"], f"{r['started_at']:%Y-%m-%d %H:%M}", r["status"], f"{r['pact_id']} v{r['pact_version']}",
              r["suite_id"], _agent(r), f"{r['n_done']}/{r['n_cases']}"] for r in rows]
    print(format_table(headers, table) if rows else "no runs yet")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        summary = _summary(store, args.run_id, getattr(args, "confidence", None))
    if args.json:
        emit_json(summary)
    else:
        print(format_summary(summary))
    if getattr(args, "junit", None):
        from harness import junit

        junit.write(args.junit, [summary])
    return EXIT_BREACH if any(c["status"] == "breached" for c in summary["clauses"]) else EXIT_OK


def _agent(run: dict[str, Any]) -> str:
    return f"{run['agent']}" + (f" {run['agent_version']}" if run.get("agent_version") else "")


def _pct(value: Any) -> str:
    return "-" if value is None else f"{value:.0%}"


def format_summary(s: dict[str, Any]) -> str:
    run, totals = s["run"], s["totals"]
    lines = [
        f"run {run['run_id']}  [{run['status']}]  pact {run['pact_id']} v{run['pact_version']} "
        f"({run['pact_hash'][:12]})  suite {run['suite_id']}",
        f"agent {_agent(run)}  target {run['target_spec']}",
        f"cases {run['n_done']}/{run['n_cases']}  target errors {totals['target_errors']}  "
        f"tokens {totals['tokens_in'] or 0}/{totals['tokens_out'] or 0}  cost "
        + (f"${totals['cost_usd']:.4f}" if totals["priced"] else "unknown"),
        "",
    ]
    headers = ["clause", "severity", "n", "pass", "fail", "err", "pending", "inconcl.", "rate",
               f"{s.get('confidence') or 0.95:.0%} CI", "threshold", "status", "more cases"]
    rows = [[c["clause_id"], c["severity"], c["n"], c["passed"], c["failed"], c["errors"],
             c["pending"], c["inconclusive"], _pct(c["rate"]),
             "-" if c["ci_low"] is None else f"{c['ci_low']:.0%}-{c['ci_high']:.0%}", _pct(c["threshold"]),
             c["status"].upper() if c["status"] == "breached" else c["status"],
             "-" if c.get("cases_needed") is None else c["cases_needed"]] for c in s["clauses"]]
    lines.append(format_table(headers, rows) if rows else "(no clause results: the run did not finish)")
    if s.get("panel"):
        from harness.jury_views import format_panel

        lines += ["", format_panel(s["panel"])]
    d = s["decision"]
    from harness.review import summary_extra_lines

    lines += summary_extra_lines(s)  # human-review revision, judges against human labels
    if d:
        lines += ["", f"decision: {d['decision'].upper()}"] + [f"  - {r}" for r in d["reasons"]]
    return "\n".join(lines)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
