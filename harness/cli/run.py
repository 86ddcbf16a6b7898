"""`pactjury run`: one suite, a resumed run, or every due suite (--due); the run's printed summary."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.cli import selecting
from harness.cli.common import (
    EXIT_ABORTED,
    EXIT_BREACH,
    EXIT_FAILED,
    EXIT_OK,
    emit_json,
    warn,
)
from harness.cli.run_args import RunRequest
from harness.cli.run_args import add_parsers as _add_parsers
from harness.errors import ConfigError


def add_parsers(sub: Any) -> None:
    _add_parsers(sub, handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """`run`: one suite, or with --due every due suite under a root, one lock for all."""
    req = RunRequest.from_args(args)
    if getattr(args, "no_fast_lane", False):
        from harness.llm import fast_lane

        with fast_lane(False):
            return run_due(req) if req.due else run_one(req)
    return run_due(req) if req.due else run_one(req)


def _executor(req: RunRequest, execute: Any) -> Any:
    """pipeline.execute (in this process), or the same run sharded over workers (harness/executors). A Ray cluster
    is joined here, before anything is written: one that cannot be reached is an error, not a half-started run."""
    if req.executor == "local" and req.workers == 1:
        return execute
    from harness.executors import Executor

    runner = Executor(
        kind=req.executor,
        workers=req.workers,
        ray_address=req.ray_address,
        target_ref=str(req.target),
        target_options=_target_options(req),
    )
    runner.connect()
    return runner


def _target_options(req: RunRequest) -> Any:
    from harness.target import TargetOptions

    system = _read_text(req.target_system, "--target-system") if req.target_system else None
    schema = None
    if req.target_schema:
        try:
            schema = json.loads(_read_text(req.target_schema, "--target-schema"))
        except ValueError as exc:
            raise ConfigError(f"not valid JSON: {exc}", where=str(req.target_schema)) from None
    response_format = (
        {"type": "json_schema", "json_schema": {"name": "agent_reply", "schema": schema, "strict": True}}
        if schema is not None
        else None
    )
    return TargetOptions(
        base_url=req.target_base_url,
        api_key_env=req.target_api_key_env,
        timeout_s=req.timeout,
        temperature=req.temperature,
        max_tokens=req.max_tokens,
        seed=req.seed,
        retries=req.retries,
        system=system,
        response_format=response_format,
    )


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_text(path: Path, flag: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read file ({exc.strerror})", where=str(path)) from None


def _recorded_options(req: RunRequest) -> dict[str, Any]:
    from harness.clock import marker as clock_marker
    from harness.secrets import redact_url

    return dict(
        target_base_url=redact_url(req.target_base_url) if req.target_base_url else None,
        target_api_key_env=req.target_api_key_env,
        timeout_s=req.timeout,
        retries=req.retries,
        no_adversarial=req.no_adversarial,
        target_system=str(req.target_system) if req.target_system else None,
        target_system_sha256=_sha256_file(req.target_system) if req.target_system else None,
        target_schema=str(req.target_schema) if req.target_schema else None,
        temperature=req.temperature,
        max_tokens=req.max_tokens,
        seed=req.seed,
        concurrency=req.concurrency,
        workers=req.workers,
        executor=req.executor,
        confidence=req.confidence or 0.95,
        # where the panel file is, so that `run --resume RUN_ID` needs nothing else
        panel_file=str(_panel_file(req.panel)) if req.panel else None,
        **selecting.recorded_options(req.selection),
        **clock_marker(),
        **({"mutate": list(req.mutate), "mutate_seed": req.mutate_seed} if req.mutate else {}),
    )


def run_one(req: RunRequest, collect: list[dict[str, Any]] | None = None) -> int:
    from harness.lock import run_lock
    from harness.pipeline import RunSettings, execute, start_run
    from harness.store import Store
    from harness.suite import load_plan
    from harness.target import make_target

    if req.resume:
        return _resume(req)
    if req.suite_dir is None or not req.target:
        raise ConfigError("run needs SUITE_DIR and --target (or --resume RUN_ID)")
    plan = load_plan(req.suite_dir, adversarial=not req.no_adversarial)
    if req.mutate:  # --mutate: attacks made on the fly, recorded in the run's options
        from harness.adversarial import mutate_plan

        plan = mutate_plan(plan, list(req.mutate), req.mutate_seed)
    plan = selecting.apply(plan, req.selection, req.db_path)  # --case, --tag, ...: before the store is written
    for w in plan.warnings if not req.quiet else ():
        warn(w)
    target = make_target(req.target, _target_options(req))
    execute = _executor(req, execute)  # --workers, --executor
    settings = RunSettings(
        agent=req.agent or target.spec,
        agent_version=req.agent_version,
        concurrency=req.concurrency,
        options=_recorded_options(req),
        progress=req.progress,
        jury=_jury(req, target),
        confidence=req.confidence or 0.95,
        deadline_s=req.deadline,
        fail_fast=req.fail_fast,
    )
    # Everything that can be wrong with the input is checked above, before the store is touched.
    with run_lock(req.db_path), Store(req.db_path) as store:
        run_id = start_run(store, plan, target, settings)
        _announce(req, f"run {run_id}: {len(plan.suite.cases)} cases of {plan.suite.id} against {target.spec}")
        return _execute(req, store, plan, target, run_id, settings, execute, collect)


def _jury(req: RunRequest, target: Any, run: Mapping[str, Any] | None = None) -> Any:
    from harness.jury.panel import Jury, load_panel

    ref = req.panel or (run or {}).get("options", {}).get("panel_file") or (run or {}).get("panel_id")
    if not ref:
        return None
    spec, rubrics = load_panel(ref)
    if run is not None and run.get("panel_hash") and run["panel_hash"] != spec.hash:
        raise ConfigError(
            f"panel {spec.id} changed since run {run['run_id']} started ({run['panel_hash'][:12]} -> "
            f"{spec.hash[:12]}); a changed panel is a new version: start a new run"
        )
    return Jury(panel=spec, rubrics=rubrics, target_model=getattr(target, "model", None), use_cache=not req.no_cache)


def _resume(req: RunRequest) -> int:
    from harness.lock import run_lock
    from harness.pipeline import RunSettings, execute
    from harness.store import Store
    from harness.suite import load_plan
    from harness.target import make_target

    run_id = str(req.resume)
    with run_lock(req.db_path), Store(req.db_path) as store:
        run = store.run(run_id)
        if run["status"] == "completed":
            raise ConfigError(f"run {run_id} is already completed; nothing to resume")
        if run["status"] == "failed":
            raise ConfigError(f"run {run_id} failed ({run['status_detail']}); fix that and start a new run")
        recorded = run["options"]
        plan = load_plan(Path(run["suite_path"]), adversarial=not recorded.get("no_adversarial"))
        if recorded.get("mutate"):  # the run's --mutate attacks, made again from the recorded seed
            from harness.adversarial import mutate_plan

            plan = mutate_plan(plan, recorded["mutate"], recorded.get("mutate_seed") or 0)
        for what, then, now in (
            ("pact", run["pact_hash"], plan.pact.hash),
            ("suite", run["suite_hash"], plan.suite.hash),
        ):
            if then != now:
                raise ConfigError(
                    f"the {what} changed since run {run_id} started ({then[:12]} -> "
                    f"{now[:12]}); a changed {what} is a new version: start a new run"
                )
        plan = selecting.replay(plan, req.selection, run, store)  # the run's own case selection, made again
        # what the command line leaves out comes from what the run recorded
        req = replace(
            req,
            target=req.target or run["target_spec"].split(" @ ")[0],
            target_base_url=req.target_base_url or recorded.get("target_base_url"),
            target_api_key_env=req.target_api_key_env or recorded.get("target_api_key_env"),
            target_system=req.target_system or _path(recorded.get("target_system")),
            target_schema=req.target_schema or _path(recorded.get("target_schema")),
            confidence=req.confidence or recorded.get("confidence"),
        )
        target = make_target(str(req.target), _target_options(req))
        if target.spec != run["target_spec"]:
            raise ConfigError(f"--target {target.spec!r} differs from the run's target {run['target_spec']!r}")
        settings = RunSettings(
            agent=run["agent"],
            agent_version=run["agent_version"],
            concurrency=req.concurrency,
            progress=req.progress,
            jury=_jury(req, target, run),
            confidence=req.confidence or 0.95,
            deadline_s=req.deadline,
            fail_fast=req.fail_fast,
        )
        _announce(req, f"resuming run {run_id}: {run['n_done']} of {run['n_cases']} cases already stored")
        return _execute(req, store, plan, target, run_id, settings, _executor(req, execute))


def _panel_file(ref: str) -> Path:
    from harness.jury.panel import panel_path

    return panel_path(ref).resolve()


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _announce(req: RunRequest, line: str) -> None:
    if not req.json and not req.quiet:
        print(line, file=sys.stderr)


def _execute(
    req: RunRequest,
    store: Any,
    plan: Any,
    target: Any,
    run_id: str,
    settings: Any,
    execute: Any,
    collect: list[dict[str, Any]] | None = None,
) -> int:
    import asyncio

    # an Executor preloads where the calls are made: in its workers, or here when it runs the cases in-process
    if (settings.jury is not None or hasattr(target, "model")) and not getattr(execute, "preloads", False):
        from harness.executors import preload_llm

        preload_llm(target, settings.jury)  # litellm's import (if needed) must not be billed to the first case
    import signal

    # SIGTERM (a scheduler or container stopping us) ends a run as Ctrl-C does: asyncio.run turns the SIGINT into
    # a cancellation, so what finished is stored, an `aborted` event is recorded and the run can be resumed.
    previous = signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        outcome = asyncio.run(execute(store, plan, target, run_id, settings))
    except KeyboardInterrupt:
        return _aborted(req, store, plan, run_id, "aborted")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if outcome.aborted:
        return _aborted(req, store, plan, run_id, outcome.abort_reason or "aborted")
    if outcome.failed is not None:
        print(
            f"pactjury: run {run_id} failed: {outcome.failed}; recorded as failed, not as evidence about "
            "the agent (see `pactjury show`)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    from harness.summary import run_summary

    summary = run_summary(store, run_id)
    if req.report:
        summary["report"] = run_report(store, run_id, quiet=req.quiet)  # "report: PATH" on stderr unless --quiet
    return emit_run_summary(req, summary, collect)  # text, JSON or --quiet; --junit; 1 if a clause is breached


def _aborted(req: RunRequest, store: Any, plan: Any, run_id: str, why: str) -> int:
    done = len(store.done_case_ids(run_id))
    print(
        f"\npactjury: {why}; {done} of {len(plan.suite.cases)} cases stored. "
        f"Resume with: pactjury run --resume {run_id}" + (f" --db {req.db}" if req.db else ""),
        file=sys.stderr,
    )
    return EXIT_ABORTED


def run_due(req: RunRequest) -> int:
    from harness.cli.due_runs import run_due as run_due_suites

    return run_due_suites(req, run_one, _target_options)  # each due suite against what its schedule.yaml binds


def emit_run_summary(req: RunRequest, summary: dict[str, Any], collect: list[dict[str, Any]] | None = None) -> int:
    """Print a finished run's summary (text, JSON, or only breaches with --quiet), write --junit; exit status.
    Runs of `run --due` are collected instead, to print and write together at the end."""
    from harness.report.text import format_summary

    if collect is not None:
        collect.append(summary)
    breached = [c for c in summary["clauses"] if c["status"] == "breached"]
    if req.quiet:
        print_breaches(summary, breached)
    elif req.json:
        if collect is None:
            emit_json(summary)
    else:
        print(format_summary(summary))
    if req.junit and collect is None:
        from harness.report import junit

        junit.write(req.junit, [summary])
    return EXIT_BREACH if breached else EXIT_OK


def print_breaches(summary: dict[str, Any], breached: list[dict[str, Any]]) -> None:
    from harness.report.junit import evidence_line

    run = summary["run"]
    for c in breached:
        print(
            f"BREACHED {run['pact_id']}/{c['clause_id']} ({c['severity']}) in run {run['run_id']} "
            f"[{run.get('agent') or '-'}]: {evidence_line(c)}"
        )
    if breached and summary.get("decision"):
        print(f"decision for run {run['run_id']}: {summary['decision']['decision'].upper()}")


def run_report(store: Any, run_id: str, quiet: bool = False) -> str | None:
    """The report `pactjury run` writes at the end, beside the database. A failure to write it is a warning:
    the run's evidence is already stored, and `pactjury report` can write it again."""
    from harness.report import report_path, write_report

    path = report_path(store.path, run_id)
    try:
        write_report(store, run_id, path)
    except Exception as exc:  # noqa: BLE001 (the run itself succeeded)
        warn(f"report not written: {exc}")
        return None
    if not quiet:  # --quiet prints nothing but breaches
        print(f"report: {path}", file=sys.stderr)
    return str(path)
