"""What every command shares: exit codes, argument types, JSON output, the store's path, warnings."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_BREACH, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
EXIT_FAILED = 4  # the run failed (most calls failed one way): no evidence was recorded about the agent

DB_HELP = "DuckDB file (default: $PACTJURY_DB or results/pactjury.duckdb)"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not math.isfinite(value):  # NaN and inf would be stored in the run's options, which must stay valid JSON
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def confidence(text: str) -> float:
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid confidence {text!r}: use e.g. 0.95 or 95%") from None
    if not 0.5 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be at least 0.5 and below 1 (e.g. 0.95)")
    return value


def duration(text: str) -> float:
    from harness.pact import parse_duration

    try:
        value = parse_duration(text.strip() if not text.strip().isdigit() else int(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return float(value)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def db_path(args: Any) -> Path:
    """The store named by `--db` (on parsed arguments or a RunRequest), else the default."""
    from harness.store import default_db

    return Path(args.db) if getattr(args, "db", None) else default_db()


def warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def open_store(db: Path, write: bool) -> Any | None:
    """The store, or None where a read finds no database file yet."""
    from harness.store import Store

    if not write and not Path(db).exists():
        return None
    return Store(db, read_only=not write)
