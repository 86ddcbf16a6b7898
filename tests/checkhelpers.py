"""Helpers for the check tests: build a CheckContext from an output, and run one check as a pact would."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.checks import CheckContext, bind, evaluate
from harness.types import Case, CheckResult, CheckSpec, ContextDoc, ToolCall, Transcript

SPEC_KEYS = {"check", "negate", "when", "unless"}


def make_case(
    expected: dict[str, Any] | None = None, context: Iterable[tuple[str, str | None, str]] = (), case_id: str = "case-1"
) -> Case:
    return Case(
        id=case_id,
        suite_id="suite-1",
        clause_ids=("clause-1",),
        input="the user's request",
        expected=expected or {},
        context=tuple(ContextDoc(id=i, title=t, text=x) for i, t, x in context),
    )


def make_ctx(
    output: str = "",
    tool_calls: Iterable[tuple[str, Any] | ToolCall] = (),
    expected: dict[str, Any] | None = None,
    latency_ms: float = 120.0,
    tokens_in: int | None = 10,
    tokens_out: int | None = 20,
    cost_usd: float | None = 0.001,
    context: Iterable[tuple[str, str | None, str]] = (),
) -> CheckContext:
    calls = tuple(c if isinstance(c, ToolCall) else ToolCall(name=c[0], arguments=c[1]) for c in tool_calls)
    transcript = Transcript(
        run_id="run-1",
        case_id="case-1",
        output=output,
        tool_calls=calls,
        latency_ms=latency_ms,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost_usd,
    )
    return CheckContext(case=make_case(expected, context), transcript=transcript)


def spec(check: str, **entry: Any) -> CheckSpec:
    """A CheckSpec from a flat entry as written in a pact (`spec("contains", value="x", negate=True)`)."""
    return CheckSpec(
        check=check,
        **{k: v for k, v in entry.items() if k in SPEC_KEYS},
        params={k: v for k, v in entry.items() if k not in SPEC_KEYS},
    )


def run(ctx: CheckContext, check: str, **entry: Any) -> CheckResult:
    """Bind against the context's case (resolving {expected: key}) and evaluate, as the pipeline does."""
    s = spec(check, **entry)
    return evaluate(s, bind(s, ctx.case), 0, "clause-1", ctx)


def outcome(output: str, check: str, **entry: Any) -> str:
    """Shorthand for the outcome of one check on a plain output."""
    return run(make_ctx(output), check, **entry).outcome
