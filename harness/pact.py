"""Parse and validate a pact file; its canonical content hash is the pact version's identity."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.checks import bind
from harness.errors import ConfigError
from harness.types import Pact
from harness.yamlio import Loc, YamlDoc, load_yaml

CHECK_KEYS = {"check", "negate", "when", "unless"}
RULE_CONDITIONS = {"severity", "status", "clause", "stale", "human_failures", "tier"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def content_hash(data: Any) -> str:
    """sha256 of canonical JSON: formatting and comments do not change identity, content does."""
    canon = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def parse_duration(value: Any) -> Any:
    """'7d', '12h', '90m', '2w', '30s' or plain seconds -> seconds; anything else is left for pydantic to reject."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(float(m.group(1)) * _UNIT_S[m.group(2)])
        raise ValueError(f"invalid duration {value!r}: use a number and a unit s, m, h, d or w (e.g. 7d)")
    return value


def _flatten_check(entry: Any) -> Any:
    """Users write checks flat ({check: regex, pattern: ...}); the record keeps params apart."""
    if not isinstance(entry, dict):
        return entry
    out = {k: v for k, v in entry.items() if k in CHECK_KEYS}
    out["params"] = {k: v for k, v in entry.items() if k not in CHECK_KEYS}
    return out


def _normalise(doc: YamlDoc) -> dict[str, Any]:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a pact must be a mapping with id, version, tier, owner, freshness, clauses")
    data = dict(data)
    data.setdefault("consequences", [])
    for key in ("freshness",):
        if key in data:
            try:
                data["freshness_s"] = parse_duration(data.pop(key))
            except ValueError as exc:
                raise doc.error((key,), str(exc)) from None
    clauses = data.get("clauses")
    if isinstance(clauses, list):
        data["clauses"] = [_normalise_clause(doc, i, c) for i, c in enumerate(clauses)]
    data["hash"] = content_hash(doc.data)
    return data


def _normalise_clause(doc: YamlDoc, i: int, clause: Any) -> Any:
    if not isinstance(clause, dict):
        return clause
    clause = dict(clause)
    if "freshness" in clause:
        try:
            clause["freshness_s"] = parse_duration(clause.pop("freshness"))
        except ValueError as exc:
            raise doc.error(("clauses", i, "freshness"), str(exc)) from None
    if isinstance(clause.get("checks"), list):
        clause["checks"] = [_flatten_check(c) for c in clause["checks"]]
    return clause


_RENAMED = {"freshness_s": "freshness", "clause_ids": "clauses"}
# union branches pydantic names in locations; the user wrote a field, not a branch
_BRANCH_LABELS = {"str", "tuple[Message, ...]"}


def _source_loc(loc: tuple[Any, ...]) -> Loc:
    """Map a pydantic error location on a record back to the field as written in the file."""
    out: list[Any] = []
    for i, part in enumerate(loc):
        if part == "params" and i >= 2 and loc[i - 2] == "checks":
            continue
        if part in _BRANCH_LABELS:
            continue
        out.append(_RENAMED.get(part, part) if isinstance(part, str) else part)
    return tuple(out)


def pydantic_error(doc: YamlDoc, exc: ValidationError, prefix: Loc = ()) -> ConfigError:
    """The most telling validation error as one line naming file, line and field.

    An unknown field is reported before a missing one: `treshold` is the cause, a missing `threshold`
    the symptom, so the message says "unknown field 'treshold' (did you mean 'threshold'?)".
    """
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = prefix + _source_loc(tuple(err["loc"]))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        missing = [
            str(_source_loc(tuple(e["loc"]))[-1])
            for e in errors
            if e["type"] == "missing" and tuple(e["loc"])[:-1] == tuple(err["loc"])[:-1]
        ]
        close = difflib.get_close_matches(str(loc[-1]), missing, n=1)
        msg = f"unknown field {loc[-1]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif err["type"] == "missing":
        msg = f"missing required field {loc[-1]!r}"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    return doc.error(loc, msg)


def parse_pact(doc: YamlDoc) -> Pact:
    data = _normalise(doc)
    try:
        pact = Pact.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    _check_semantics(doc, pact)
    return pact


def _check_semantics(doc: YamlDoc, pact: Pact) -> None:
    if not pact.clauses:
        raise doc.error(("clauses",), "a pact needs at least one clause")
    seen: set[str] = set()
    for i, clause in enumerate(pact.clauses):
        if clause.id in seen:
            raise doc.error(("clauses", i, "id"), f"duplicate clause id {clause.id!r}")
        seen.add(clause.id)
        if clause.verify in ("deterministic", "hybrid") and not clause.checks:
            raise doc.error(("clauses", i, "checks"), f"verify: {clause.verify} needs at least one check")
        if clause.verify == "jury" and clause.checks:
            raise doc.error(
                ("clauses", i, "checks"), "verify: jury takes no checks; use verify: hybrid for checks then judges"
            )
        for j, spec in enumerate(clause.checks):
            try:
                bind(spec)
            except ConfigError as exc:
                raise doc.error(("clauses", i, "checks", j), str(exc)) from None
    for i, rule in enumerate(pact.consequences):
        _check_rule(doc, i, rule.when, seen)


def _check_rule(doc: YamlDoc, i: int, when: dict[str, Any], clause_ids: set[str]) -> None:
    allowed_values = {
        "severity": {"critical", "major", "minor"},
        "status": {"met", "breached", "inconclusive", "pending-jury", "no-evidence"},
        "tier": {"low", "medium", "high", "critical"},
        "clause": clause_ids,
    }
    for key, value in when.items():
        loc = ("consequences", i, "when", key)
        if key not in RULE_CONDITIONS:
            raise doc.error(loc, f"unknown condition {key!r}; valid conditions: {', '.join(sorted(RULE_CONDITIONS))}")
        if key in ("stale", "human_failures"):
            if not isinstance(value, bool):
                raise doc.error(loc, f"{key} must be true or false")
            continue
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if not isinstance(v, str) or v not in allowed_values[key]]  # a map is no name
        if bad:
            raise doc.error(loc, f"invalid {key} {bad[0]!r}; valid: {', '.join(sorted(allowed_values[key]))}")


def load_pact(path: Path) -> Pact:
    return parse_pact(load_yaml(path))
