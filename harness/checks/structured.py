"""JSON checks (json-valid, json-schema, json-path) and the parameter bases the other check modules share."""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator, model_validator

from harness.checks.base import CheckContext, CheckDef, CheckInputError, Outcome, Params
from harness.checks.jsonpath import compile_path, find

# ---------------------------------------------------------------- shared helpers


def show(value: Any, limit: int = 60) -> str:
    """A short printable form of a value for a detail line (details stay under ~200 chars)."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_equal(a: Any, b: Any) -> bool:
    """Structural JSON equality: 3 == 3.0, but True != 1 (Python's bool is an int, JSON's is not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@lru_cache(maxsize=512)
def compile_regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile once per (pattern, flags); raises ValueError naming the regex error, for param validators."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None


class PathParams(Params):
    """Parameters whose optional `path` must parse as a JSON path (so `validate` reports typos, not a run)."""

    @field_validator("path")
    @classmethod
    def _path_parses(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                compile_path(v)
            except Exception as exc:  # jsonpath-ng raises several unrelated exception types
                raise ValueError(f"invalid JSON path {v!r}: {exc}") from None
        return v


class NoPathParams(Params):
    """Parameters of checks that read the transcript's metadata, where a JSON path means nothing."""

    @field_validator("path")
    @classmethod
    def _no_path(cls, v: str | None) -> str | None:
        if v is not None:
            raise ValueError("this check does not read the output, so it takes no path")
        return v


# ---------------------------------------------------------------- json-valid


def _json_valid(ctx: CheckContext, p: PathParams) -> Outcome:
    if p.path is None:
        text, where = ctx.transcript.output, "output"
    else:
        value = ctx.value(p.path)
        if not isinstance(value, str):
            return Outcome(True, f"value at {p.path} is already JSON ({type(value).__name__})")
        text, where = value, f"value at {p.path}"
    if not text.strip():
        return Outcome(False, f"{where} is empty")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (wrapped in a ``` code fence)" if text.lstrip().startswith("```") else ""
        return Outcome(False, f"{where} is not valid JSON{hint}: {exc.msg} at char {exc.pos}")
    return Outcome(True, f"{where} is valid JSON ({_json_type(parsed)})")


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


# ---------------------------------------------------------------- json-schema


@lru_cache(maxsize=128)
def _validator(schema_json: str) -> Any:
    """A checked validator per distinct schema: suites bind the same schema once per case."""
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _schema_key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, default=str)


class JsonSchemaParams(PathParams):
    # Aliased: a field named `schema` would shadow BaseModel.schema; users still write `schema:`.
    schema_: dict[str, Any] = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema_is_valid(cls, v: dict[str, Any]) -> dict[str, Any]:
        from jsonschema.exceptions import SchemaError

        try:
            _validator(_schema_key(v))
        except SchemaError as exc:
            where = "/".join(str(x) for x in exc.path) or "(root)"
            raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None
        return v


def _json_schema(ctx: CheckContext, p: JsonSchemaParams) -> Outcome:
    from jsonschema.exceptions import best_match

    instance = ctx.output_json if p.path is None else ctx.value(p.path)
    errors = list(_validator(_schema_key(p.schema_)).iter_errors(instance))
    if not errors:
        return Outcome(True, "matches the schema")
    first = best_match(errors)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return Outcome(False, f"schema violation at {_instance_path(first.absolute_path)}: {first.message[:120]}{more}")


def _instance_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# ---------------------------------------------------------------- json-path

# One assertion per check keeps a failing detail unambiguous; min/max and count_min/count_max pair up.
_ASSERTIONS: dict[str, tuple[str, ...]] = {
    "equals": ("equals",),
    "one_of": ("one_of",),
    "matches": ("matches",),
    "range": ("min", "max"),
    "exists": ("exists",),
    "contains": ("contains",),
    "count": ("count_min", "count_max"),
}


class JsonPathParams(PathParams):
    path: str
    equals: Any = None
    one_of: list[Any] | None = Field(default=None, min_length=1)
    matches: str | None = None
    min: float | None = None
    max: float | None = None
    exists: bool | None = None
    contains: list[Any] | None = Field(default=None, min_length=1)
    count_min: int | None = Field(default=None, ge=0)
    count_max: int | None = Field(default=None, ge=0)

    @field_validator("matches")
    @classmethod
    def _regex_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            compile_regex(v)
        return v

    @model_validator(mode="after")
    def _one_assertion(self) -> JsonPathParams:
        kinds = [k for k, fields in _ASSERTIONS.items() if any(self._given(f) for f in fields)]
        if len(kinds) != 1:
            names = "equals, one_of, matches, min/max, exists, contains, count_min/count_max"
            found = f" (got {', '.join(kinds)})" if kinds else ""
            raise ValueError(f"json-path needs exactly one assertion among {names}{found}")
        for lo, hi in (("min", "max"), ("count_min", "count_max")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a > b:
                raise ValueError(f"{lo} ({a}) is greater than {hi} ({b})")
        return self

    def _given(self, name: str) -> bool:
        # `equals: null` is a real assertion, so "given" means written, not non-None.
        if name == "equals":
            return name in self.model_fields_set
        return getattr(self, name) is not None

    def assertion(self) -> str:
        return next(k for k, fields in _ASSERTIONS.items() if any(self._given(f) for f in fields))


def _json_path(ctx: CheckContext, p: JsonPathParams) -> Outcome:
    found = find(p.path, ctx.output_json)
    kind = p.assertion()
    if kind == "exists":
        n = len(found)
        detail = f"{p.path} matched {n} value(s)" if n else f"{p.path} matched nothing"
        return Outcome((n > 0) == p.exists, detail)
    if kind == "count":
        return _count(p, len(found))
    if not found:
        raise CheckInputError(f"JSON path {p.path} matched nothing in the output")
    if kind == "contains":
        return _contains(p, found)
    if kind == "equals" and len(found) > 1 and isinstance(p.equals, list):
        # A wildcard path compared with a list compares the whole collection, in order.
        ok = json_equal(found, p.equals)
        return Outcome(ok, f"{p.path} is {show(found)}" + ("" if ok else f", expected {show(p.equals)}"))
    for value in found:
        bad = _violation(p, kind, value)
        if bad:
            which = f" (1 of {len(found)} matches)" if len(found) > 1 else ""
            return Outcome(False, f"{p.path}{which}: {bad}")
    shown = show(found[0]) if len(found) == 1 else f"all {len(found)} matches"
    return Outcome(True, f"{p.path} = {shown} satisfies {_describe(p, kind)}")


def _violation(p: JsonPathParams, kind: str, value: Any) -> str | None:
    """Why one matched value breaks the assertion, or None when it holds."""
    if kind == "equals":
        return None if json_equal(value, p.equals) else f"got {show(value)}, expected {show(p.equals)}"
    if kind == "one_of":
        ok = any(json_equal(value, v) for v in p.one_of or ())
        return None if ok else f"got {show(value)}, expected one of {show(p.one_of)}"
    if kind == "matches":
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        ok = compile_regex(p.matches or "").search(text) is not None
        return None if ok else f"{show(value)} does not match /{(p.matches or '')[:40]}/"
    if not is_number(value):  # range
        return f"{show(value)} is not a number"
    if p.min is not None and value < p.min:
        return f"{value} < min {p.min:g}"
    if p.max is not None and value > p.max:
        return f"{value} > max {p.max:g}"
    return None


def _describe(p: JsonPathParams, kind: str) -> str:
    if kind == "range":
        return " and ".join(f"{k} {getattr(p, k):g}" for k in ("min", "max") if getattr(p, k) is not None)
    return f"{kind} {show(getattr(p, kind), 40)}"


def _count(p: JsonPathParams, n: int) -> Outcome:
    lo, hi = p.count_min, p.count_max
    ok = (lo is None or n >= lo) and (hi is None or n <= hi)
    bounds = " and ".join(s for s in (f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else "") if s)
    return Outcome(ok, f"{p.path} matched {n} value(s), expected {bounds}")


def _contains(p: JsonPathParams, found: list[Any]) -> Outcome:
    # `$.tags` matching one array means the array's items, the same as `$.tags[*]`.
    pool = found[0] if len(found) == 1 and isinstance(found[0], list) else found
    missing = [item for item in p.contains or () if not any(json_equal(item, v) for v in pool)]
    if missing:
        return Outcome(False, f"{p.path} lacks {show(missing)}; found {show(pool)}")
    return Outcome(True, f"{p.path} contains all of {show(p.contains)}")


CHECKS: dict[str, CheckDef] = {
    "json-valid": CheckDef(PathParams, _json_valid, "the output (or the string at path) parses as JSON"),
    "json-schema": CheckDef(JsonSchemaParams, _json_schema, "the output validates against a JSON Schema"),
    "json-path": CheckDef(JsonPathParams, _json_path, "the value(s) at a JSON path satisfy one assertion"),
}
