"""The `pactjury` command: thin subcommands over pipeline.py and the store (argparse keeps --help fast)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from harness import __version__
from harness.errors import PactjuryError

EXIT_OK, EXIT_BREACH, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pactjury",
        description="Turn an AI agent's behavioral pact into stored, queryable evidence.",
        epilog="Exit status: 0 completed with no clause breached, 1 a clause breached, 2 bad input or usage "
               "(or another run holds the store's lock), 3 aborted.",
    )
    p.add_argument("--version", action="version", version=f"pactjury {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db_help = "DuckDB file (default: $PACTJURY_DB or results/pactjury.duckdb)"

    run = sub.add_parser("run", help="run a suite against a target agent and store the evidence")
    run.add_argument("suite_dir", nargs="?", type=Path, help="suite directory (suite.yaml + pact.yaml) or a suite file")
    run.add_argument("--target", help="litellm model (openai/gpt-4o-mini, ...), python:module:function or cmd:COMMAND")
    run.add_argument("--target-base-url", help="base URL of an OpenAI-compatible server for a model target")
    run.add_argument("--target-api-key-env", metavar="VAR", help="name of the environment variable holding the key")
    run.add_argument("--target-system", type=Path, metavar="FILE",
                     help="model targets: a text file replacing each case's system prompt (e.g. few-shot examples)")
    run.add_argument("--target-schema", type=Path, metavar="FILE",
                     help="model targets: a JSON Schema file; the model is asked for (or constrained to) that JSON")
    run.add_argument("--agent", help="agent name recorded with the run (default: the target spec)")
    run.add_argument("--agent-version", help="agent version recorded with the run")
    run.add_argument("--concurrency", type=_positive_int, default=8, help="cases in flight at once (default 8)")
    run.add_argument("--timeout", type=_positive_float, default=60.0, help="per-call timeout in seconds (default 60)")
    run.add_argument("--retries", type=_non_negative_int, default=0, help="retries of a failed model call (default 0)")
    run.add_argument("--temperature", type=float, default=0.0, help="model target temperature (default 0)")
    run.add_argument("--max-tokens", type=_positive_int, help="model target max tokens")
    run.add_argument("--seed", type=int, help="model target seed")
    run.add_argument("--no-adversarial", action="store_true",
                     help="leave out the cases the suite's adversarial: block adds (run the originals only)")
    run.add_argument("--panel", help="judge panel: an id in judges/panels/ or a panel file (default: none; "
                     "clauses that need judges stay pending-jury)")
    run.add_argument("--no-cache", action="store_true", help="call every judge even if the store has the same call")
    run.add_argument("--resume", metavar="RUN_ID", help="finish an interrupted run; nothing stored is redone")
    run.add_argument("--db", type=Path, help=db_help)
    run.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    run.add_argument("--no-report", action="store_true", help="do not write the HTML report beside the database")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON")

    val = sub.add_parser("validate", help="check pact, suite and panel files without running anything")
    val.add_argument("suite_dirs", nargs="+", type=Path, metavar="SUITE_DIR")
    val.add_argument("--strict", action="store_true", help="treat warnings (e.g. an untested clause) as errors")
    val.add_argument("--panel", action="append", default=[],
                     help="also validate this panel (every panel in judges/panels/ is validated anyway)")
    val.add_argument("--json", action="store_true")

    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--limit", type=_positive_int, default=50)
    runs.add_argument("--db", type=Path, help=db_help)
    runs.add_argument("--json", action="store_true")

    show = sub.add_parser("show", help="per-clause results and decision of one run")
    show.add_argument("run_id")
    show.add_argument("--db", type=Path, help=db_help)
    show.add_argument("--json", action="store_true")
    dis = sub.add_parser("disagreements", help="split and inconclusive jury cases of a run, most divided first")
    dis.add_argument("run_id")
    dis.add_argument("--clause", help="only this clause")
    dis.add_argument("--judge", help="only ballots where this judge disagreed with the verdict")
    dis.add_argument("--limit", type=_positive_int, default=50)
    dis.add_argument("--db", type=Path, help=db_help)
    dis.add_argument("--json", action="store_true")

    srv = sub.add_parser("serve-model", help="serve the embedded local model as an OpenAI-compatible endpoint")
    srv.add_argument("model", help="the local model, local/gemma-3-270m")
    srv.add_argument("--port", type=_non_negative_int, default=0, help="port (default 0: any free port, printed)")
    srv.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")

    from harness.views_cli import add_parsers

    add_parsers(sub, db_help)  # trends, compare, export, report

    from harness.status_cli import add_parsers as add_decision_parsers

    add_decision_parsers(sub, run, show, db_help)  # status, due, review; run/show --confidence, --junit, ...

    from harness.adversarial_cli import add_parsers as add_adversarial_parsers

    add_adversarial_parsers(sub, run, db_help)  # derive, robustness; run --mutate
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from harness.schedule import cmd_run as handler  # --due and --quiet around commands.cmd_run
        elif args.command == "validate":
            from harness.commands import cmd_validate as handler
        elif args.command == "runs":
            from harness.commands import cmd_runs as handler
        elif args.command == "disagreements":
            from harness.jury_views import cmd_disagreements as handler
        elif args.command == "serve-model":
            from harness.serve import cmd_serve_model as handler
        elif args.command in ("trends", "compare", "export", "report"):
            from harness.views_cli import handler as view_handler

            handler = view_handler(args.command)
        elif args.command in ("status", "due", "review"):
            from harness.status_cli import dispatch as handler
        elif args.command in ("derive", "robustness"):
            from harness.adversarial_cli import handler as adversarial_handler

            handler = adversarial_handler(args.command)
        else:
            from harness.commands import cmd_show as handler
        return handler(args)
    except PactjuryError as exc:
        print(f"pactjury: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pactjury: aborted", file=sys.stderr)
        return EXIT_ABORTED
    except BrokenPipeError:
        return EXIT_OK


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def db_path(args: argparse.Namespace) -> Path:
    from harness.store import default_db

    return args.db if getattr(args, "db", None) else default_db()


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
