"""Runtime checks on a transcript's measurements: latency-max, cost-max and tokens-max."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.checks.base import CheckContext, CheckDef, Outcome
from harness.checks.structured import NoPathParams


class LatencyParams(NoPathParams):
    ms: float = Field(gt=0)


def _latency_max(ctx: CheckContext, p: LatencyParams) -> Outcome:
    got = ctx.transcript.latency_ms
    ok = got <= p.ms
    return Outcome(ok, f"latency {got:.0f} ms {'<=' if ok else '>'} {p.ms:g} ms")


class CostParams(NoPathParams):
    usd: float = Field(ge=0)
    allow_unknown: bool = False


def _cost_max(ctx: CheckContext, p: CostParams) -> Outcome:
    got = ctx.transcript.cost_usd
    if got is None:
        # An unpriced call is not a free one: unknown fails unless the pact says it may pass.
        return Outcome(p.allow_unknown, "cost unknown" + (" (allowed)" if p.allow_unknown else ""))
    ok = got <= p.usd
    return Outcome(ok, f"cost ${got:.6g} {'<=' if ok else '>'} ${p.usd:g}")


class TokensParams(NoPathParams):
    max: int = Field(gt=0)
    which: Literal["total", "in", "out"] = "total"


def _tokens_max(ctx: CheckContext, p: TokensParams) -> Outcome:
    t = ctx.transcript
    parts = {"in": t.tokens_in, "out": t.tokens_out}
    needed = ("in", "out") if p.which == "total" else (p.which,)
    unknown = [f"tokens_{k}" for k in needed if parts[k] is None]
    if unknown:
        return Outcome(False, f"{p.which} tokens unknown ({', '.join(unknown)} not reported)")
    got = sum(parts[k] or 0 for k in needed)
    ok = got <= p.max
    return Outcome(ok, f"{p.which} tokens {got} {'<=' if ok else '>'} {p.max}")


CHECKS: dict[str, CheckDef] = {
    "latency-max": CheckDef(LatencyParams, _latency_max, "the target answered within ms milliseconds"),
    "cost-max": CheckDef(CostParams, _cost_max, "the call cost at most usd dollars"),
    "tokens-max": CheckDef(TokensParams, _tokens_max, "token use (total, in or out) is at most max"),
}
