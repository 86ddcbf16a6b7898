"""CSV and JSONL datasets into a suite: one case a row, named columns for the input, the expected answer and the id."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, LoadError
from harness.importers import Imported, skeleton_pact, slug, unique_ids

MATCHES = ("icontains", "contains", "equals", "starts-with", "regex", "jury")
CLAUSE_ID = "matches-expected"
_PARAM = {"icontains": "value", "contains": "value", "equals": "value", "starts-with": "value", "regex": "pattern"}
_CLAIMS = {
    "icontains": "The response contains the expected answer (case ignored).",
    "contains": "The response contains the expected answer.",
    "equals": "The response is exactly the expected answer.",
    "starts-with": "The response starts with the expected answer.",
    "regex": "The response matches the expected pattern.",
    "jury": "The response agrees with the reference answer in the test's notes (expected.answer): it may add "
    "detail, but must not contradict or omit it.",
}


def _rows(kind: str, path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) for each row: `FILE:LINE` so an error names the line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LoadError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read ({exc})", where=str(path)) from None
    if kind == "csv":
        reader = csv.DictReader(text.splitlines())
        return [(f"{path}:{reader.line_num}", dict(row)) for row in reader]
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON ({exc.msg})", where=f"{path}:{n}") from None
        if not isinstance(row, dict):
            raise ConfigError("each line must be a JSON object", where=f"{path}:{n}")
        rows.append((f"{path}:{n}", row))
    return rows


def _input(value: Any, where: str, column: str) -> Any:
    if isinstance(value, list) and all(isinstance(m, dict) and {"role", "content"} <= set(m) for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]  # a chat transcript, as-is
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"column {column!r} is empty", where=where)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def import_rows(
    kind: str,
    path: Path,
    name: str,
    *,
    input_col: str = "input",
    expected_col: str | None = None,
    id_col: str | None = None,
    context_col: str | None = None,
    match: str = "icontains",
    **_: Any,
) -> Imported:
    """One case a row. The expected column (default `expected`, when present) becomes one clause checked by `match`."""
    if match not in MATCHES:
        raise ConfigError(f"unknown --match {match!r}; valid: {', '.join(MATCHES)}")
    rows = _rows(kind, path)
    if not rows:
        raise ConfigError("no rows to import", where=str(path))
    columns = list(dict.fromkeys(k for _, row in rows for k in row))
    for flag, col in (
        ("--input-col", input_col),
        ("--expected-col", expected_col),
        ("--id-col", id_col),
        ("--context-col", context_col),
    ):
        if col is not None and col not in columns:
            raise ConfigError(f"{flag} {col}: no such column; columns: {', '.join(map(str, columns))}", where=str(path))
    expected_col = expected_col or ("expected" if "expected" in columns else None)
    id_col = id_col or ("id" if "id" in columns else None)
    ids = unique_ids(
        [
            slug(str(row.get(id_col) or ""), f"row-{i + 1:04d}") if id_col else f"row-{i + 1:04d}"
            for i, (_, row) in enumerate(rows)
        ]
    )
    clause_ids = [CLAUSE_ID] if expected_col else ["answers"]
    cases = []
    for case_id, (where, row) in zip(ids, rows):
        case: dict[str, Any] = {
            "id": case_id,
            "clauses": clause_ids,
            "input": _input(row.get(input_col), where, input_col),
        }
        if context_col and row.get(context_col):
            case["context"] = [{"id": "doc-1", "text": str(row[context_col])}]
        if expected_col:
            value = row.get(expected_col)
            if value is None or value == "":
                raise ConfigError(
                    f"column {expected_col!r} is empty (every case needs its expected answer)", where=where
                )
            case["expected"] = {"answer": value if match in ("equals", "jury") else str(value)}
        cases.append(case)
    used = {input_col, expected_col, id_col, context_col}
    unmapped = tuple(
        f"column {c!r}: not imported (name it with --input-col, --expected-col, --id-col or --context-col)"
        for c in columns
        if c not in used
    )
    if expected_col:
        clause = _clause(match)
    else:  # nothing to compare against: a jury clause the user rewrites
        clause = {
            "id": "answers",
            "claim": "TODO: what a good response to these inputs does.",
            "verify": "jury",
            "threshold": 0.8,
            "severity": "major",
        }
    pact = skeleton_pact(name, [clause], f"Imported from {path.name} ({len(cases)} rows).")
    return Imported(
        source=path, kind=kind, pact=pact, suite={"id": name, "pact": "pact.yaml", "cases": cases}, unmapped=unmapped
    )


def _clause(match: str) -> dict[str, Any]:
    clause: dict[str, Any] = {
        "id": CLAUSE_ID,
        "claim": _CLAIMS[match],
        "threshold": 1.0 if match != "jury" else 0.8,
        "severity": "major",
    }
    if match == "jury":
        return {**clause, "verify": "jury"}
    return {**clause, "verify": "deterministic", "checks": [{"check": match, _PARAM[match]: {"expected": "answer"}}]}
