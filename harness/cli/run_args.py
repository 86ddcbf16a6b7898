"""`pactjury run`'s arguments: the parser, and the frozen RunRequest built from them once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cli import selecting
from harness.cli.common import (
    DB_HELP,
    confidence,
    db_path,
    duration,
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from harness.errors import ConfigError


def add_parsers(sub: Any, handler: Any) -> None:
    run = sub.add_parser("run", help="run a suite against a target agent and store the evidence")
    run.add_argument("suite_dir", nargs="?", type=Path, help="suite directory (suite.yaml + pact.yaml) or a suite file")
    run.add_argument("--target", help="litellm model (openai/gpt-4o-mini, ...), python:module:function or cmd:COMMAND")
    run.add_argument("--target-base-url", help="base URL of an OpenAI-compatible server for a model target")
    run.add_argument("--target-api-key-env", metavar="VAR", help="name of the environment variable holding the key")
    run.add_argument(
        "--target-system",
        type=Path,
        metavar="FILE",
        help="model targets: a text file replacing each case's system prompt (e.g. few-shot examples)",
    )
    run.add_argument(
        "--target-schema",
        type=Path,
        metavar="FILE",
        help="model targets: a JSON Schema file; the model is asked for (or constrained to) that JSON",
    )
    run.add_argument("--agent", help="agent name recorded with the run (default: the target spec)")
    run.add_argument("--agent-version", help="agent version recorded with the run")
    run.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        help="model calls in flight at once (target and judge calls together; as many cases in progress), "
        "in all: shared out among the workers (default 8)",
    )
    run.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N",
        help="worker processes (or Ray tasks) the cases are sharded over, each with its own event loop "
        "(default: one per core, for suites of 250+ cases a worker; 1: all in this process)",
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: worker processes on this machine; ray: Ray tasks (pip install 'pactjury[ray]')",
    )
    run.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="with --executor ray: the cluster to join (auto, ray://HOST:10001, HOST:6379; default: start a local one)",
    )
    run.add_argument("--timeout", type=positive_float, default=60.0, help="per-call timeout in seconds (default 60)")
    run.add_argument(
        "--deadline",
        type=duration,
        metavar="DURATION",
        help="for the whole run (e.g. 30m): when it passes the run is aborted, resumable (exit 3)",
    )
    run.add_argument(
        "--no-fast-lane",
        action="store_true",
        help="send every model call through litellm, also the OpenAI-compatible ones (openai/..., "
        "hosted_vllm/..., an api_base) that the built-in client takes by default",
    )
    run.add_argument(
        "--no-fail-fast",
        action="store_true",
        help="keep going when most calls fail the same way (by default such a run stops as failed, exit 4)",
    )
    run.add_argument("--retries", type=non_negative_int, default=0, help="retries of a failed model call (default 0)")
    run.add_argument("--temperature", type=finite_float, default=0.0, help="model target temperature (default 0)")
    run.add_argument("--max-tokens", type=positive_int, help="model target max tokens")
    run.add_argument("--seed", type=int, help="model target seed")
    run.add_argument(
        "--no-adversarial",
        action="store_true",
        help="leave out the cases the suite's adversarial: block adds (run the originals only)",
    )
    run.add_argument(
        "--mutate",
        metavar="NAME,...",
        help="also run every case attacked by these comma-separated mutators (the originals run too; "
        "an unknown name lists the valid ones)",
    )
    run.add_argument("--mutate-seed", type=int, default=None, help="seed of the --mutate attacks (default 0)")
    run.add_argument(
        "--panel",
        help="judge panel: an id in judges/panels/ or a panel file (default: none; "
        "clauses that need judges stay pending-jury)",
    )
    run.add_argument("--no-cache", action="store_true", help="call every judge even if the store has the same call")
    run.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run; nothing stored is redone")
    run.add_argument(
        "--confidence",
        type=confidence,
        help="confidence of the Wilson intervals that decide clause statuses (default 0.95)",
    )
    run.add_argument(
        "--due",
        action="store_true",
        help="run every suite under SUITE_DIR (default suites/) whose evidence is due for this agent",
    )
    run.add_argument(
        "--horizon",
        type=duration,
        default=0.0,
        help="with --due: also run suites whose evidence goes stale within this time (e.g. 1d)",
    )
    run.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing unless a clause is breached (for cron); errors still go to stderr",
    )
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write the clause results as JUnit XML")
    run.add_argument("--db", type=Path, help=DB_HELP)
    run.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    run.add_argument("--no-report", action="store_true", help="do not write the HTML report beside the database")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")
    selecting.add_arguments(run)  # --case, --tag, --clause, --rerun-failed, --sample, --limit
    run.set_defaults(handler=handler)


@dataclass(frozen=True)
class RunRequest:
    """What `pactjury run` was asked, built once from the arguments; a resumed or due run is a changed copy."""

    suite_dir: Path | None
    target: str | None
    target_base_url: str | None
    target_api_key_env: str | None
    target_system: Path | None
    target_schema: Path | None
    agent: str | None
    agent_version: str | None
    concurrency: int
    timeout: float
    deadline: float | None
    fail_fast: bool
    retries: int
    temperature: float
    max_tokens: int | None
    seed: int | None
    no_adversarial: bool
    mutate: tuple[str, ...]
    mutate_seed: int
    panel: str | None
    no_cache: bool
    resume: str | None
    confidence: float | None
    due: bool
    horizon: float
    quiet: bool
    junit: Path | None
    db: Path | None
    progress: bool
    report: bool
    json: bool
    selection: Any = None  # harness.selection.CaseSelection
    workers: int | None = None  # None: by default (harness/executors)
    executor: str = "local"
    ray_address: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunRequest:
        mutate: tuple[str, ...] = ()
        if args.mutate:  # an unknown mutator fails here, before anything runs
            from harness.adversarial import parse_mutate_option

            mutate = tuple(parse_mutate_option(args.mutate))
        return cls(
            suite_dir=args.suite_dir,
            target=args.target,
            target_base_url=args.target_base_url,
            target_api_key_env=args.target_api_key_env,
            target_system=args.target_system,
            target_schema=args.target_schema,
            agent=args.agent,
            agent_version=args.agent_version,
            concurrency=args.concurrency,
            timeout=args.timeout,
            deadline=args.deadline or None,
            fail_fast=not args.no_fail_fast,
            retries=args.retries,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
            no_adversarial=args.no_adversarial,
            mutate=mutate,
            mutate_seed=args.mutate_seed or 0,
            panel=args.panel,
            no_cache=args.no_cache,
            resume=args.resume,
            confidence=args.confidence,
            due=args.due,
            horizon=args.horizon,
            quiet=args.quiet,
            junit=args.junit,
            db=args.db,
            # --quiet is for cron: no progress either
            progress=not (args.no_progress or args.quiet or args.json),
            report=not args.no_report,
            json=args.json,
            selection=selecting.from_args(args),
            workers=args.workers,
            executor=args.executor,
            ray_address=_ray_address(args),
        )

    @property
    def db_path(self) -> Path:
        return db_path(self)


def _workers(text: str) -> int | None:
    return None if text == "auto" else positive_int(text)


def _ray_address(args: argparse.Namespace) -> str | None:
    """--ray-address, checked with --executor before anything runs."""
    if args.ray_address and args.executor != "ray":
        raise ConfigError("--ray-address needs --executor ray")
    if args.executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError("--executor ray needs Ray: pip install 'pactjury[ray]'")
    return str(args.ray_address) if args.ray_address else None
