"""From verdicts to decisions: clause results with Wilson intervals, the consequence rules, and the trust score.

Everything here is pure (no store, no clock): callers pass ages and human-review facts in.

Clause status at confidence c (z = the two-sided normal quantile of c):
  - the rate and interval count only decided cases: pass, fail and error (errors count against the clause);
    cases the jury left `inconclusive` count as neither and are reported; `not-applicable` is excluded;
  - met when the Wilson lower bound is at or above the threshold, breached when the upper bound is below it,
    inconclusive otherwise (with `cases_needed`, see below);
  - a clause with cases still awaiting judges (`pending-jury`) is bounded: met if it would be met with every
    pending case failing, breached if it would be breached with every pending case passing, else pending-jury;
  - a threshold of 1 (zero tolerance) cannot be cleared by a lower bound from a finite sample, so it is met
    when every decided case passed (any failure puts the upper bound below 1: breached).

Cases needed: the Wilson interval is the set of rates t with (p - t)^2 <= z^2 t (1 - t) / N (it inverts
the score test), so if the observed rate p held, N cases decide the clause exactly when
N (p - t)^2 >= z^2 t (1 - t) (strictly > for a breach). The smallest such N, minus the cases already decided,
is `cases_needed`; it is checked against the interval itself. None when p equals the threshold (the
interval never leaves it), when nothing is decided yet, or for a zero-tolerance clause.

That figure decides the clause only about half the time: the next cases' rate is as likely to fall short of
the observed one as to beat it. `cases_needed_power` is the figure to plan with: the further cases after which
the clause is decided with probability 80% (exact binomial, the observed rate taken as the true one).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from harness.stats.intervals import Z95, wilson_bounds
from harness.stats.intervals import wilson as _wilson
from harness.types import Clause, ClauseResult, ConsequenceRule, Pact, PactDecision, Verdict

DEFAULT_CONFIDENCE = 0.95
SEVERITY_WEIGHT = {"critical": 3, "major": 2, "minor": 1}

# Used when a pact writes no consequences: the conservative reading of a pact.
DEFAULT_RULES: tuple[ConsequenceRule, ...] = (
    ConsequenceRule(
        when={"severity": "critical", "status": "breached"}, action="suspend", reason="a critical clause is breached"
    ),
    ConsequenceRule(when={"status": "breached"}, action="restrict", reason="a clause is breached"),
    ConsequenceRule(
        when={"status": ["inconclusive", "pending-jury", "no-evidence"]},
        action="re-evaluate",
        reason="a clause has no conclusive evidence",
    ),
    ConsequenceRule(when={"stale": True}, action="re-evaluate", reason="a clause's evidence is stale"),
    ConsequenceRule(when={}, action="approve", reason="every clause is met"),
)


def z_for(confidence: float) -> float:
    """Two-sided normal quantile: 0.95 -> 1.95996..."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _wilson_p(p: float, n: float, z: float) -> tuple[float, float]:
    return wilson_bounds(p, n, z)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion (95% by default); (None, None) when n is 0."""
    return _wilson(successes, n, z) or (None, None)


def _verdict_of(passed: int, n: int, threshold: float, z: float) -> str | None:
    """met / breached / None (undecided) for `passed` of `n` decided cases."""
    if n == 0:
        return None
    low, high = _wilson_p(passed / n, n, z)
    if threshold >= 1.0:
        return "met" if passed == n else "breached"
    if low >= threshold:
        return "met"
    if high < threshold:
        return "breached"
    return None


def cases_needed(passed: int, decided: int, threshold: float, z: float) -> int | None:
    """Further cases that would decide the clause if the observed rate held (see the module docstring)."""
    if decided == 0 or threshold >= 1.0 or threshold <= 0.0:
        return None
    p = passed / decided
    gap = (p - threshold) ** 2
    if gap == 0.0:
        return None
    bound = z * z * threshold * (1 - threshold) / gap
    n = max(1, math.ceil(bound) if p > threshold else math.floor(bound) + 1)

    def decides(size: int) -> bool:
        low, high = _wilson_p(p, size, z)
        return low >= threshold if p > threshold else high < threshold

    while not decides(n):  # guard against rounding at the boundary
        n += 1
    while n > 1 and decides(n - 1):
        n -= 1
    return max(0, n - decided)


POWER = 0.8  # the probability `cases_needed_power` asks for
_MAX_CASES = 10_000_000
_EXACT_UP_TO = 20_000


def _decisive_counts(sizes: Any, threshold: float, z: float, met: bool) -> Any:
    """Per total size N, the least passes that make the clause met (or the most that make it breached)."""
    import numpy as np

    # From the score-test form of the interval: met iff k >= N t + z sqrt(N t (1 - t)); breached iff strictly below
    # N t - z sqrt(N t (1 - t)). The 1e-9 keeps a count sitting on the boundary on the side the interval puts it.
    spread = z * np.sqrt(sizes * threshold * (1 - threshold))
    if met:
        return np.ceil(sizes * threshold + spread - 1e-9)
    return np.ceil(sizes * threshold - spread - 1e-9) - 1


def cases_needed_power(passed: int, decided: int, threshold: float, z: float, power: float = POWER) -> int | None:
    """Further cases after which the clause is decided with probability `power` if its true rate is the observed one.

    Exact binomial: for each total N, the chance that Bin(N, p) lands where the Wilson interval excludes the
    threshold on the observed side. That chance saw-tooths with N (the counts are whole), so this is the
    smallest N from which on it stays at or above `power` (beyond 20,000 cases the normal approximation, where
    the saw-tooth is negligible). None where `cases_needed` is None, or beyond ten million cases.
    """
    if decided == 0 or threshold >= 1.0 or threshold <= 0.0 or passed / decided == threshold:
        return None
    import numpy as np

    from harness.stats.binomial import upper_tails

    p = passed / decided
    z_power = NormalDist().inv_cdf(power)
    # The normal approximation: sqrt(N) |p - t| = z sqrt(t (1 - t)) + z_power sqrt(p (1 - p)).
    approx = ((z * math.sqrt(threshold * (1 - threshold)) + z_power * math.sqrt(p * (1 - p))) / abs(p - threshold)) ** 2
    if approx > _EXACT_UP_TO:  # so large that the saw-tooth is negligible, and the exact sum slow
        return max(0, math.ceil(approx) - decided) if approx <= _MAX_CASES else None
    sizes = np.arange(1, int(2 * approx) + 200, dtype=float)
    met = p > threshold
    k = _decisive_counts(sizes, threshold, z, met)
    if met:  # P(X >= k)
        chance = np.array(upper_tails(k.astype(int).tolist(), p))
    else:  # P(X <= k) = 1 - P(X >= k + 1)
        chance = 1.0 - np.array(upper_tails((k + 1).astype(int).tolist(), p))
    ok = np.minimum.accumulate((chance >= power - 1e-12)[::-1])[::-1]  # True from the first N that stays there
    if not ok[-1]:
        return None
    return max(0, int(np.argmax(ok)) + 1 - decided)


def add_power_figures(rows: Sequence[dict[str, Any]]) -> None:
    """Set `cases_needed_power` on clause-result rows (dicts) that have a `cases_needed`; None on the others."""
    for r in rows:
        r["cases_needed_power"] = None
        if r.get("cases_needed") is not None:
            r["cases_needed_power"] = cases_needed_power(
                r["passed"],
                r["passed"] + r["failed"] + r["errors"],
                r["threshold"],
                z_for(r.get("confidence") or DEFAULT_CONFIDENCE),
            )


def tally(
    clause: Clause, verdicts: Iterable[Verdict | Mapping[str, Any]], confidence: float = DEFAULT_CONFIDENCE
) -> ClauseResult:
    counts = Counter(v["outcome"] if isinstance(v, Mapping) else v.outcome for v in verdicts)
    return restate(
        clause.id,
        clause.severity,
        clause.threshold,
        counts["pass"],
        counts["fail"],
        counts["error"],
        counts["pending-jury"],
        counts["inconclusive"],
        confidence,
    )


def restate(
    clause_id: str,
    severity: str,
    threshold: float,
    passed: int,
    failed: int,
    errors: int,
    pending: int,
    inconclusive: int,
    confidence: float = DEFAULT_CONFIDENCE,
) -> ClauseResult:
    """The clause result for these counts at this confidence (also used to re-judge stored counts)."""
    z = z_for(confidence)
    decided = passed + failed + errors
    n = decided + pending + inconclusive
    rate = passed / decided if decided else None
    low, high = wilson(passed, decided, z)
    needed = None
    if n == 0:
        status = "no-evidence"
    elif pending:
        worst = _verdict_of(passed, decided + pending, threshold, z)
        best = _verdict_of(passed + pending, decided + pending, threshold, z)
        status = "met" if worst == "met" else "breached" if best == "breached" else "pending-jury"
    elif decided == 0:
        status = "inconclusive"  # every case was left inconclusive by the jury
    else:
        status = _verdict_of(passed, decided, threshold, z) or "inconclusive"
        if status == "inconclusive":
            needed = cases_needed(passed, decided, threshold, z)
    return ClauseResult(
        clause_id=clause_id,
        severity=severity,
        n=n,
        passed=passed,
        failed=failed,
        errors=errors,
        pending=pending,
        inconclusive=inconclusive,
        rate=rate,
        ci_low=low,
        ci_high=high,
        threshold=threshold,
        status=status,
        confidence=confidence,
        cases_needed=needed,
    )


def clause_result(
    clause: Clause, verdicts: Iterable[Verdict | Mapping[str, Any]], confidence: float = DEFAULT_CONFIDENCE
) -> ClauseResult:
    return tally(clause, verdicts, confidence)


def clause_results(
    pact: Pact, verdicts: Sequence[Verdict | Mapping[str, Any]], confidence: float = DEFAULT_CONFIDENCE
) -> list[ClauseResult]:
    by_clause: dict[str, list[Any]] = {c.id: [] for c in pact.clauses}
    for v in verdicts:
        cid = v["clause_id"] if isinstance(v, Mapping) else v.clause_id
        if cid in by_clause:
            by_clause[cid].append(v)
    return [tally(c, by_clause[c.id], confidence) for c in pact.clauses]


# ---------------------------------------------------------------- consequences


@dataclass(frozen=True)
class ClauseFacts:
    """What the rules may ask of a clause beyond its result: evidence age and open human-confirmed failures."""

    stale: bool = False  # evidence older than its freshness window (a clause without evidence is not stale)
    age_s: float | None = None  # None: no evidence at all
    window_s: int | None = None
    human_failures: int = 0


def _matches(value: Any, wanted: Any) -> bool:
    return value in wanted if isinstance(wanted, list) else value == wanted


def _rule_matches(
    rule: ConsequenceRule, pact: Pact, results: Sequence[ClauseResult], facts: Mapping[str, ClauseFacts]
) -> list[str]:
    """Ids of the clauses that satisfy every clause condition (or ['*'] for a pact-level match)."""
    when = dict(rule.when)
    if "tier" in when and not _matches(pact.tier, when.pop("tier")):
        return []
    if not when:
        return ["*"]
    hits = []
    for r in results:
        f = facts.get(r.clause_id, ClauseFacts())
        fields = {
            "severity": r.severity,
            "status": r.status,
            "clause": r.clause_id,
            "stale": f.stale,
            "human_failures": f.human_failures > 0,
        }
        if all(_matches(fields[k], v) for k, v in when.items()):
            hits.append(r.clause_id)
    return hits


def decide(pact: Pact, results: Sequence[ClauseResult], facts: Mapping[str, ClauseFacts] | None = None) -> PactDecision:
    """First matching consequence rule wins; reasons name the clauses that triggered it.

    `facts` gives each clause's staleness and open human-confirmed failures; a clause without facts is fresh
    and has none.
    """
    facts = facts or {}
    rules = pact.consequences or DEFAULT_RULES
    for index, rule in enumerate(rules):
        hits = _rule_matches(rule, pact, results, facts)
        if not hits:
            continue
        reason = rule.reason or f"rule {index + 1} ({rule.action}) matched"
        reasons = [reason] + [describe(r, facts.get(r.clause_id)) for r in results if r.clause_id in hits]
        return PactDecision(
            pact_id=pact.id,
            decision=rule.action,
            reasons=tuple(reasons),
            rule_index=index if pact.consequences else None,
        )
    return PactDecision(pact_id=pact.id, decision="re-evaluate", reasons=("no consequence rule matched",))


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            whole = seconds / size
            return f"{whole:.1f}{unit}".replace(".0", "") if whole < 10 else f"{whole:.0f}{unit}"
    return f"{seconds:.0f}s"


def describe(r: ClauseResult, f: ClauseFacts | None = None) -> str:
    rate = "n/a" if r.rate is None else f"{r.rate:.0%}"
    ci = "" if r.ci_low is None else f" ({r.confidence:.0%} CI {r.ci_low:.0%}-{r.ci_high:.0%})"
    text = (
        f"{r.clause_id} ({r.severity}): {r.status}, pass rate {rate}{ci} of {r.passed + r.failed + r.errors} "
        f"decided vs threshold {r.threshold:.0%}"
    )
    if r.inconclusive:
        text += f", {r.inconclusive} inconclusive"
    if r.pending:
        text += f", {r.pending} awaiting judges"
    if r.cases_needed is not None:
        text += f", about {r.cases_needed} more cases to decide"
        more = cases_needed_power(r.passed, r.passed + r.failed + r.errors, r.threshold, z_for(r.confidence))
        if more is not None:
            text += f" ({more} for an {POWER:.0%} chance)"
    if f is not None and f.stale:
        text += f", evidence stale ({fmt_duration(f.age_s)} old, window {fmt_duration(f.window_s)})"
    if f is not None and f.human_failures:
        text += f", {f.human_failures} open human-confirmed failure(s)"
    return text


# ---------------------------------------------------------------- trust score


def compliance(ci_low: float | None, threshold: float) -> float:
    """min(1, lower bound / threshold); 0 without decided evidence; 1 for a threshold of 0."""
    if ci_low is None:
        return 0.0
    if threshold <= 0.0:
        return 1.0
    return min(1.0, ci_low / threshold)


def decay(age_s: float | None, half_life_s: float) -> float:
    """0.5 ** (age / half-life); 0 without evidence; a negative age (clock skew) counts as 0."""
    if age_s is None:
        return 0.0
    return 0.5 ** (max(0.0, age_s) / half_life_s)


def trust_score(items: Iterable[tuple[str, float | None, float, float | None, float]]) -> float | None:
    """100 * sum(w * compliance * decay) / sum(w) over (severity, ci_low, threshold, age_s, window_s) per clause."""
    num = den = 0.0
    for severity, ci_low, threshold, age_s, window_s in items:
        w = SEVERITY_WEIGHT[severity]
        num += w * compliance(ci_low, threshold) * decay(age_s, window_s)
        den += w
    return None if den == 0 else round(100.0 * num / den, 1)
