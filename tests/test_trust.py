"""Clause tallies, bounded statuses with undecided cases, Wilson intervals and the consequence rules."""

from __future__ import annotations

import pytest

from harness.trust import clause_result, decide, wilson
from harness.types import Clause, ClauseResult, ConsequenceRule, Pact


def clause(threshold=0.8, severity="major", cid="c1"):
    return Clause(id=cid, claim="x", verify="deterministic", threshold=threshold, severity=severity,
                  checks=({"check": "json-valid"},))


def verdicts(**counts):
    names = {"passed": "pass", "failed": "fail", "errors": "error", "pending": "pending-jury", "na": "not-applicable",
             "inconclusive": "inconclusive"}
    return [{"clause_id": "c1", "outcome": names[k]} for k, n in counts.items() for _ in range(n)]


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 -> 0.2553 to 0.3662 (method 3, Wilson)
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-4) and high == pytest.approx(0.3662, abs=5e-4)
    # Same table: 15/148 -> 0.0624 to 0.1605
    low, high = wilson(15, 148)
    assert low == pytest.approx(0.0624, abs=5e-4) and high == pytest.approx(0.1605, abs=5e-4)
    assert wilson(0, 0) == (None, None)


def test_met_and_breached():
    assert clause_result(clause(0.8), verdicts(passed=9, failed=1)).status == "met"
    r = clause_result(clause(0.8), verdicts(passed=7, failed=3))
    assert r.status == "breached" and r.rate == pytest.approx(0.7) and r.n == 10


def test_errors_count_against_the_clause():
    r = clause_result(clause(0.8), verdicts(passed=8, errors=2))
    assert r.errors == 2 and r.rate == pytest.approx(0.8) and r.status == "met"
    assert clause_result(clause(0.9), verdicts(passed=8, errors=2)).status == "breached"


def test_pending_is_bounded_not_guessed():
    # 6 pass, 1 fail, 3 pending: best case 9/10, worst 6/10 -> cannot tell yet at 0.8
    assert clause_result(clause(0.8), verdicts(passed=6, failed=1, pending=3)).status == "pending-jury"
    # 5 fail already: even if all pending pass, 5/10 < 0.8 -> breached now
    assert clause_result(clause(0.8), verdicts(passed=2, failed=5, pending=3)).status == "breached"
    # worst case 9/10 >= 0.8 -> met regardless of the pending one
    assert clause_result(clause(0.8), verdicts(passed=9, pending=1)).status == "met"


def test_not_applicable_is_excluded_and_no_evidence():
    r = clause_result(clause(0.8), verdicts(passed=4, na=6))
    assert r.n == 4 and r.status == "met"
    assert clause_result(clause(0.8), verdicts(na=2)).status == "no-evidence"


def _result(cid, status, severity="major"):
    return ClauseResult(clause_id=cid, severity=severity, n=10, passed=5, failed=5, errors=0, pending=0,
                        inconclusive=0, rate=0.5, threshold=0.9, status=status)


def _pact(rules):
    return Pact(id="p", version="1", hash="h", tier="high", owner="o", freshness_s=60,
                clauses=(clause(cid="a"), clause(cid="b")), consequences=tuple(ConsequenceRule(**r) for r in rules))


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
