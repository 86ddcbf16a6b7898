"""Clause results from verdicts (rate, interval, status against the threshold) and the pact's consequence decision."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Sequence

from harness.types import Clause, ClauseResult, ConsequenceRule, Pact, PactDecision, Verdict

# Used when a pact writes no consequences: the conservative reading of a pact.
DEFAULT_RULES: tuple[ConsequenceRule, ...] = (
    ConsequenceRule(when={"severity": "critical", "status": "breached"}, action="suspend",
                    reason="a critical clause is breached"),
    ConsequenceRule(when={"status": "breached"}, action="restrict", reason="a clause is breached"),
    ConsequenceRule(when={"status": ["inconclusive", "pending-jury", "no-evidence"]}, action="re-evaluate",
                    reason="a clause has no conclusive evidence"),
    ConsequenceRule(when={}, action="approve", reason="every clause is met"),
)


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float | None, float | None]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clause_result(clause: Clause, verdicts: Iterable[Verdict | dict[str, Any]]) -> ClauseResult:
    """Tally one clause. Target and check errors count against the clause (fail-closed).

    Pending and inconclusive verdicts are bounded, not guessed: if the clause would be breached even
    if every undecided case passed, it is breached now; if it would be met even if they all failed, it is met.
    """
    counts = Counter(v["outcome"] if isinstance(v, dict) else v.outcome for v in verdicts)
    passed, failed, errors = counts["pass"], counts["fail"], counts["error"]
    pending, inconclusive = counts["pending-jury"], counts["inconclusive"]
    decided = passed + failed + errors
    undecided = pending + inconclusive
    n = decided + undecided
    rate = passed / decided if decided else None
    low, high = wilson(passed, decided)
    if n == 0:
        status = "no-evidence"
    elif (passed + undecided) / n < clause.threshold:
        status = "breached"
    elif passed / n >= clause.threshold:
        status = "met"
    elif pending:
        status = "pending-jury"
    else:
        status = "inconclusive"
    return ClauseResult(
        clause_id=clause.id, severity=clause.severity, n=n, passed=passed, failed=failed, errors=errors,
        pending=pending, inconclusive=inconclusive, rate=rate, ci_low=low, ci_high=high,
        threshold=clause.threshold, status=status,
    )


def clause_results(pact: Pact, verdicts: Sequence[Verdict | dict[str, Any]]) -> list[ClauseResult]:
    by_clause: dict[str, list[Any]] = {c.id: [] for c in pact.clauses}
    for v in verdicts:
        cid = v["clause_id"] if isinstance(v, dict) else v.clause_id
        if cid in by_clause:
            by_clause[cid].append(v)
    return [clause_result(c, by_clause[c.id]) for c in pact.clauses]


def _matches(value: Any, wanted: Any) -> bool:
    return value in wanted if isinstance(wanted, list) else value == wanted


def _rule_matches(rule: ConsequenceRule, pact: Pact, results: Sequence[ClauseResult]) -> list[str]:
    """Ids of the clauses that satisfy every clause condition (or ['*'] for a pact-level match)."""
    when = dict(rule.when)
    if "tier" in when and not _matches(pact.tier, when.pop("tier")):
        return []
    when.pop("stale", None)  # freshness is decided on stored evidence; a fresh run's evidence is never stale
    if not when:
        return ["*"]
    hits = []
    for r in results:
        fields = {"severity": r.severity, "status": r.status, "clause": r.clause_id}
        if all(_matches(fields[k], v) for k, v in when.items()):
            hits.append(r.clause_id)
    return hits


def decide(pact: Pact, results: Sequence[ClauseResult]) -> PactDecision:
    """First matching consequence rule wins; reasons name the clauses that triggered it."""
    rules = pact.consequences or DEFAULT_RULES
    for index, rule in enumerate(rules):
        hits = _rule_matches(rule, pact, results)
        if not hits:
            continue
        reason = rule.reason or f"rule {index + 1} ({rule.action}) matched"
        reasons = [reason] + [_describe(r) for r in results if r.clause_id in hits]
        return PactDecision(pact_id=pact.id, decision=rule.action, reasons=tuple(reasons),
                            rule_index=index if pact.consequences else None)
    return PactDecision(pact_id=pact.id, decision="re-evaluate", reasons=("no consequence rule matched",))


def _describe(r: ClauseResult) -> str:
    rate = "n/a" if r.rate is None else f"{r.rate:.0%}"
    return f"{r.clause_id} ({r.severity}): {r.status}, pass rate {rate} of {r.n} vs threshold {r.threshold:.0%}"
