"""Tool-call checks: tool-called, tool-not-called, tool-args, tool-sequence and tool-calls-valid."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.checks.base import CheckContext, CheckDef, Outcome
from harness.checks.structured import NoPathParams, compile_regex, json_equal, show
from harness.types import ToolCall


def _names(calls: tuple[ToolCall, ...]) -> str:
    if not calls:
        return "no tools were called"
    names = [c.name for c in calls]
    listed = ", ".join(names[:8]) + (f", … (+{len(names) - 8})" if len(names) > 8 else "")
    return f"calls: [{listed}]"


# ---------------------------------------------------------------- tool-called / tool-not-called


class ToolCalledParams(NoPathParams):
    name: str = Field(min_length=1)
    min_times: int = Field(default=1, ge=0)
    max_times: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> ToolCalledParams:
        if self.max_times is not None and self.max_times < self.min_times:
            raise ValueError(f"max_times ({self.max_times}) is less than min_times ({self.min_times})")
        return self


def _times(n: int) -> str:
    return "1 time" if n == 1 else f"{n} times"


def _tool_called(ctx: CheckContext, p: ToolCalledParams) -> Outcome:
    calls = ctx.transcript.tool_calls
    n = sum(1 for c in calls if c.name == p.name)
    if n == 0:
        return Outcome(p.min_times == 0, f"{p.name} not called; {_names(calls)}")
    want = f">= {p.min_times}" + (f" and <= {p.max_times}" if p.max_times is not None else "")
    ok = n >= p.min_times and (p.max_times is None or n <= p.max_times)
    return Outcome(ok, f"{p.name} called {_times(n)} (expected {want})")


def _tool_not_called(ctx: CheckContext, p: ToolCalledParams) -> Outcome:
    # Exactly `tool-called` negated, registered under its own name so pacts read naturally.
    out = _tool_called(ctx, p)
    n = sum(1 for c in ctx.transcript.tool_calls if c.name == p.name)
    detail = out.detail if n == 0 else f"{p.name} called {_times(n)} (expected it not to be called)"
    return Outcome(not out.passed, detail)


# ---------------------------------------------------------------- tool-args


class ToolArgsParams(NoPathParams):
    name: str = Field(min_length=1)
    args: dict[str, Any] = Field(min_length=1)
    match: Literal["equals", "regex"] = "equals"

    @model_validator(mode="after")
    def _regexes_compile(self) -> ToolArgsParams:
        if self.match == "regex":
            for key, value in self.args.items():
                if not isinstance(value, str):
                    raise ValueError(f"args.{key}: with match: regex every value must be a regex string")
                compile_regex(value)
        return self


def _arg_mismatch(p: ToolArgsParams, arguments: dict[str, Any]) -> str | None:
    """The first listed argument this call lacks or has a different value for, or None if all match."""
    for key, want in p.args.items():
        if key not in arguments:
            return f"no argument {key!r}"
        got = arguments[key]
        ok = compile_regex(want).search(str(got)) is not None if p.match == "regex" else json_equal(got, want)
        if not ok:
            expected = f"/{want[:40]}/" if p.match == "regex" else show(want, 40)
            return f"{key}={show(got, 40)}, expected {expected}"
    return None


def _tool_args(ctx: CheckContext, p: ToolArgsParams) -> Outcome:
    calls = [c for c in ctx.transcript.tool_calls if c.name == p.name]
    if not calls:
        return Outcome(False, f"{p.name} not called; {_names(ctx.transcript.tool_calls)}")
    mismatches = []
    for i, call in enumerate(calls):
        why = _arg_mismatch(p, call.arguments)
        if why is None:
            which = f" (call {i + 1} of {len(calls)})" if len(calls) > 1 else ""
            return Outcome(True, f"{p.name} called with {show(p.args, 80)}{which}")
        mismatches.append(why)
    more = f" (and {len(calls) - 1} other call(s) differ)" if len(calls) > 1 else ""
    return Outcome(False, f"no {p.name} call matches: {mismatches[0]}{more}")


# ---------------------------------------------------------------- tool-sequence


class ToolSequenceParams(NoPathParams):
    names: list[str] = Field(min_length=1)
    mode: Literal["subsequence", "exact", "prefix"] = "subsequence"


def _tool_sequence(ctx: CheckContext, p: ToolSequenceParams) -> Outcome:
    called = [c.name for c in ctx.transcript.tool_calls]
    listed = _names(ctx.transcript.tool_calls)
    if p.mode == "exact":
        ok = called == p.names
        return Outcome(ok, f"{listed}" + ("" if ok else f"; expected exactly {show(p.names, 80)}"))
    if p.mode == "prefix":
        ok = called[: len(p.names)] == p.names
        return Outcome(ok, f"{listed}" + ("" if ok else f"; expected to start with {show(p.names, 80)}"))
    # Subsequence: in order, other calls allowed in between; greedy matching is optimal here.
    position = 0
    for name in p.names:
        try:
            position = called.index(name, position) + 1
        except ValueError:
            after = f" after {called[position - 1]!r} (call {position})" if position else ""
            return Outcome(False, f"{name!r} not called{after}; {listed}")
    return Outcome(True, f"{show(p.names, 80)} called in order; {listed}")


# ---------------------------------------------------------------- tool-calls-valid


class ToolCallsValidParams(NoPathParams):
    name: str | None = None  # only this tool's calls; default every call


def _offered(ctx: CheckContext) -> dict[str, dict[str, Any]]:
    """The tools the case offered the target (the suite's `tools:`), name -> its parameters schema."""
    out = {}
    for tool in ctx.case.tools:
        fn = tool.get("function") or {}
        out[fn.get("name", "")] = fn.get("parameters") or {"type": "object"}
    return out


def _argument_errors(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message[:120]}"


def _tool_calls_valid(ctx: CheckContext, p: ToolCallsValidParams) -> Outcome:
    offered = _offered(ctx)
    calls = [c for c in ctx.transcript.tool_calls if p.name is None or c.name == p.name]
    if not calls:
        return Outcome(
            True, f"no {p.name + ' ' if p.name else ''}tool calls to check; {_names(ctx.transcript.tool_calls)}"
        )
    for i, call in enumerate(calls):
        if call.name not in offered:
            known = ", ".join(sorted(offered)) or "none (the suite has no tools:)"
            return Outcome(False, f"call {i + 1} names {call.name!r}, not an offered tool (offered: {known})")
        why = _argument_errors(offered[call.name], call.arguments)
        if why is not None:
            return Outcome(False, f"call {i + 1} ({call.name}) arguments do not match its schema: {why}")
    return Outcome(True, f"{len(calls)} call(s) name offered tools with arguments valid against their schemas")


CHECKS: dict[str, CheckDef] = {
    "tool-called": CheckDef(ToolCalledParams, _tool_called, "the tool was called min_times..max_times times"),
    "tool-not-called": CheckDef(ToolCalledParams, _tool_not_called, "the tool was not called (tool-called negated)"),
    "tool-args": CheckDef(ToolArgsParams, _tool_args, "some call of the tool has these arguments"),
    "tool-sequence": CheckDef(ToolSequenceParams, _tool_sequence, "the tools were called in this order"),
    "tool-calls-valid": CheckDef(
        ToolCallsValidParams,
        _tool_calls_valid,
        "every tool call names an offered tool (suite tools:) with arguments valid against its schema",
    ),
}
