"""Clause tallies, bounded statuses with undecided cases, Wilson intervals and the consequence rules."""

from __future__ import annotations

import pytest

from harness.trust import cases_needed, clause_result, decide, wilson, z_for
from harness.types import Clause, ClauseResult, ConsequenceRule, Pact


def clause(threshold=0.8, severity="major", cid="c1"):
    return Clause(
        id=cid,
        claim="x",
        verify="deterministic",
        threshold=threshold,
        severity=severity,
        checks=({"check": "json-valid"},),
    )


def verdicts(**counts):
    names = {
        "passed": "pass",
        "failed": "fail",
        "errors": "error",
        "pending": "pending-jury",
        "na": "not-applicable",
        "inconclusive": "inconclusive",
    }
    return [{"clause_id": "c1", "outcome": names[k]} for k, n in counts.items() for _ in range(n)]


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 -> 0.2553 to 0.3662 (method 3, Wilson)
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-4) and high == pytest.approx(0.3662, abs=5e-4)
    # Same table: 15/148 -> 0.0624 to 0.1605
    low, high = wilson(15, 148)
    assert low == pytest.approx(0.0624, abs=5e-4) and high == pytest.approx(0.1605, abs=5e-4)
    assert wilson(0, 0) == (None, None)


def test_met_and_breached_by_the_interval_not_the_point_rate():
    # 9/10 is above 0.8, but its 95% interval (0.60-0.98) straddles it: not yet shown either way
    r = clause_result(clause(0.8), verdicts(passed=9, failed=1))
    assert r.status == "inconclusive" and r.rate == pytest.approx(0.9) and r.cases_needed is not None
    assert clause_result(clause(0.8), verdicts(passed=95, failed=5)).status == "met"  # lower bound 0.888
    r = clause_result(clause(0.8), verdicts(passed=10, failed=20))
    assert r.status == "breached" and r.ci_high < 0.8 and r.n == 30 and r.cases_needed is None
    # a threshold of 0 is met by any decided evidence: every lower bound is at least 0
    assert clause_result(clause(0.0), verdicts(failed=3)).status == "met"


def test_confidence_is_configurable():
    # 18/20 at 0.75: 95% interval 0.70-0.97 straddles it, the 80% interval 0.77-0.95 clears it
    assert clause_result(clause(0.75), verdicts(passed=18, failed=2)).status == "inconclusive"
    r = clause_result(clause(0.75), verdicts(passed=18, failed=2), confidence=0.8)
    assert r.status == "met" and r.confidence == 0.8
    low, high = wilson(18, 20, z_for(0.8))
    assert r.ci_low == pytest.approx(low) and low > 0.75


def test_errors_count_against_the_clause():
    r = clause_result(clause(0.8), verdicts(passed=40, errors=10))
    assert r.errors == 10 and r.rate == pytest.approx(0.8) and r.status == "inconclusive"
    assert clause_result(clause(0.9), verdicts(passed=40, errors=20)).status == "breached"


def test_pending_is_bounded_not_guessed():
    # 60 pass, 1 fail, 3 pending at 0.8: even if all pending fail, 60/64 has a lower bound of 0.85 -> met
    assert clause_result(clause(0.8), verdicts(passed=60, failed=1, pending=3)).status == "met"
    # even if the 3 pending pass, 5/30 has an upper bound below 0.8 -> breached now
    assert clause_result(clause(0.8), verdicts(passed=2, failed=25, pending=3)).status == "breached"
    # in between: awaiting judges, never guessed
    r = clause_result(clause(0.8), verdicts(passed=6, failed=1, pending=3))
    assert r.status == "pending-jury" and r.pending == 3 and r.cases_needed is None


def test_inconclusive_cases_count_as_neither_and_are_reported():
    r = clause_result(clause(0.8), verdicts(passed=95, failed=5, inconclusive=7))
    assert (r.n, r.inconclusive, r.rate) == (107, 7, pytest.approx(0.95)) and r.status == "met"
    r = clause_result(clause(0.8), verdicts(inconclusive=4))
    assert r.status == "inconclusive" and r.rate is None and r.cases_needed is None


def test_zero_tolerance_threshold():
    # a lower bound never reaches 1: a threshold of 1 is met when every decided case passed, breached by one failure
    assert clause_result(clause(1.0), verdicts(passed=20)).status == "met"
    assert clause_result(clause(1.0), verdicts(passed=99, failed=1)).status == "breached"


def test_not_applicable_is_excluded_and_no_evidence():
    r = clause_result(clause(0.5), verdicts(passed=8, na=6))
    assert r.n == 8 and r.status == "met"
    assert clause_result(clause(0.8), verdicts(na=2)).status == "no-evidence"


@pytest.mark.parametrize(
    "passed,decided,threshold,confidence",
    [
        (9, 10, 0.8, 0.95),
        (7, 10, 0.8, 0.95),
        (6, 6, 0.8, 0.95),
        (24, 27, 0.85, 0.95),
        (3, 6, 0.8, 0.9),
        (45, 50, 0.95, 0.99),
        (1, 3, 0.5, 0.95),
    ],
)
def test_cases_needed_is_the_smallest_n_that_decides_at_the_observed_rate(passed, decided, threshold, confidence):
    z = z_for(confidence)
    p = passed / decided
    needed = cases_needed(passed, decided, threshold, z)

    def decides(n):
        low, high = _interval(p, n, z)
        return low >= threshold if p > threshold else high < threshold

    total = decided + needed
    assert decides(total)
    if needed == 0:  # already decided at this confidence (3/6 is below 0.8 at 90%)
        return
    assert not any(decides(n) for n in range(decided, total))  # brute force: no smaller sample decides


def _interval(p, n, z):
    from harness.trust import _wilson_p

    return _wilson_p(p, n, z)


def test_cases_needed_closed_form_and_undefined_cases():
    z = z_for(0.95)
    # p = 1 against 0.8: N >= z^2 * 0.8 * 0.2 / 0.04 = 15.37 -> 16 cases, 10 more than 6
    assert cases_needed(6, 6, 0.8, z) == 10
    assert wilson(16, 16)[0] >= 0.8 > wilson(15, 15)[0]
    assert cases_needed(8, 10, 0.8, z) is None  # the observed rate is the threshold: no sample size decides
    assert cases_needed(0, 0, 0.8, z) is None


def _result(cid, status, severity="major"):
    return ClauseResult(
        clause_id=cid,
        severity=severity,
        n=10,
        passed=5,
        failed=5,
        errors=0,
        pending=0,
        inconclusive=0,
        rate=0.5,
        threshold=0.9,
        status=status,
    )


def _pact(rules):
    return Pact(
        id="p",
        version="1",
        hash="h",
        tier="high",
        owner="o",
        freshness_s=60,
        clauses=(clause(cid="a"), clause(cid="b")),
        consequences=tuple(ConsequenceRule(**r) for r in rules),
    )


RULES = [
    {"when": {"severity": "critical", "status": "breached"}, "action": "suspend", "reason": "critical breach"},
    {"when": {"status": "breached"}, "action": "restrict"},
    {"when": {"tier": "low"}, "action": "escalate"},
    {"action": "approve"},
]


def test_first_matching_rule_wins_and_names_clauses():
    d = decide(_pact(RULES), [_result("a", "breached", "critical"), _result("b", "breached")])
    assert d.decision == "suspend" and d.rule_index == 0
    assert d.reasons[0] == "critical breach" and any(r.startswith("a (critical)") for r in d.reasons)
    assert not any(r.startswith("b ") for r in d.reasons)


def test_rule_order_matters():
    d = decide(_pact(RULES), [_result("a", "met", "critical"), _result("b", "breached")])
    assert d.decision == "restrict" and d.rule_index == 1
    d = decide(_pact(RULES), [_result("a", "met"), _result("b", "met")])
    assert d.decision == "approve" and d.rule_index == 3  # tier is high, so the tier rule does not match


def test_no_rule_matches_and_default_rules():
    d = decide(_pact(RULES[:1]), [_result("a", "met")])
    assert d.decision == "re-evaluate" and d.reasons == ("no consequence rule matched",)
    d = decide(_pact([]), [_result("a", "pending-jury"), _result("b", "met")])
    assert d.decision == "re-evaluate" and d.rule_index is None


# ---------------------------------------------------------------- cases needed for 80% power


def _chance_decided(passed: int, decided: int, total: int, threshold: float, z: float) -> float:
    """Exact P(the Wilson interval at `total` cases excludes the threshold on the observed side), the true rate
    being the observed one: the sum over every pass count k of Bin(total, p) at k, brute force."""
    from scipy.stats import binom

    p = passed / decided
    hits = 0.0
    for k in range(total + 1):
        low, high = wilson(k, total, z)
        if (low >= threshold) if p > threshold else (high < threshold):
            hits += binom.pmf(k, total, p)
    return hits


@pytest.mark.parametrize("passed,decided,threshold", [(18, 20, 0.8), (9, 10, 0.7), (27, 30, 0.8), (6, 20, 0.5)])
def test_cases_needed_decides_about_half_the_time_and_the_power_figure_80_percent(passed, decided, threshold):
    """The issue's point: `cases_needed` assumes the observed rate holds, so its sample decides the clause only
    about half the time; `cases_needed_power` is where the chance reaches 80% and stays there."""
    from harness.trust import cases_needed_power

    z = z_for(0.95)
    plain = decided + cases_needed(passed, decided, threshold, z)
    powered = decided + cases_needed_power(passed, decided, threshold, z)
    assert 0.3 <= _chance_decided(passed, decided, plain, threshold, z) <= 0.7
    assert all(_chance_decided(passed, decided, n, threshold, z) >= 0.8 for n in range(powered, powered + 15))
    assert _chance_decided(passed, decided, powered - 1, threshold, z) < 0.8 or powered - 1 == decided
    assert powered > plain


def test_power_figure_undefined_and_large_cases():
    from harness.trust import cases_needed_power

    z = z_for(0.95)
    assert cases_needed_power(8, 10, 0.8, z) is None and cases_needed_power(0, 0, 0.8, z) is None
    assert cases_needed_power(5, 5, 1.0, z) is None
    assert cases_needed_power(6, 6, 0.8, z) == cases_needed(6, 6, 0.8, z)  # all passed: every next case passes too
    big = cases_needed_power(899, 1000, 0.9, z)  # the normal approximation beyond 20,000 cases
    assert 650_000 < big < 750_000


@pytest.mark.parametrize("p", [0.0, 0.001, 0.3, 0.5, 0.93, 1.0])
@pytest.mark.parametrize("threshold,side", [(0.05, 1), (0.8, 1), (0.8, -1), (0.99, -1)])
def test_binomial_tails_match_scipy(p, threshold, side):
    """The power figures' binomial tails (harness/stats/binomial.py, NumPy-free recurrence) are scipy's to 1e-9
    along 1..20,000 trials with a Wilson-shaped threshold count, the shape cases_needed_power asks about."""
    import numpy as np
    from scipy.stats import binom

    from harness.stats.binomial import upper_tails

    n = np.arange(1, 20_000, dtype=float)
    k = np.ceil(n * threshold + side * 1.96 * np.sqrt(n * threshold * (1 - threshold)) - 1e-9)
    ours = np.array(upper_tails(k.astype(int).tolist(), p))
    assert np.abs(ours - binom.sf(k - 1, n, p)).max() < 1e-9
