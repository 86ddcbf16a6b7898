"""Consequence rules condition by condition, the trust score formula, and evidence freshness with an injected clock."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from decisionhelpers import det_suite, jury_pact, jury_run, jury_suite, run_suite

from harness.standing import assess_agent as assess
from harness.store import Store
from harness.suite import load_plan
from harness.trust import DEFAULT_RULES, ClauseFacts, compliance, decay, decide, restate, trust_score
from harness.types import Clause, ClauseResult, ConsequenceRule, Pact

DAY = 86400.0


def _clause(cid, severity="major", freshness_s=None):
    return Clause(
        id=cid,
        claim="x",
        verify="deterministic",
        threshold=0.9,
        severity=severity,
        checks=({"check": "json-valid"},),
        freshness_s=freshness_s,
    )


def _res(cid, status, severity="major"):
    return ClauseResult(
        clause_id=cid,
        severity=severity,
        n=10,
        passed=9,
        failed=1,
        errors=0,
        pending=0,
        inconclusive=0,
        rate=0.9,
        ci_low=0.6,
        ci_high=0.98,
        threshold=0.9,
        status=status,
    )


def _pact(rules, tier="high"):
    return Pact(
        id="p",
        version="1",
        hash="h",
        tier=tier,
        owner="o",
        freshness_s=int(7 * DAY),
        clauses=(_clause("a", "critical"), _clause("b"), _clause("c", "minor")),
        consequences=tuple(ConsequenceRule(**r) for r in rules),
    )


TABLE = [
    {"when": {"severity": "critical", "status": "breached"}, "action": "suspend", "reason": "critical breach"},
    {"when": {"human_failures": True, "severity": ["critical", "major"]}, "action": "withhold-settlement"},
    {"when": {"status": "breached"}, "action": "restrict"},
    {"when": {"clause": "c", "status": "inconclusive"}, "action": "escalate"},
    {"when": {"stale": True}, "action": "re-evaluate", "reason": "evidence is stale"},
    {"when": {"tier": "low"}, "action": "escalate", "reason": "low tier pacts go to a human"},
    {"action": "approve"},
]
MET = {"a": "met", "b": "met", "c": "met"}


def _decide(statuses=MET, facts=None, tier="high", rules=TABLE):
    results = [_res(cid, st, {"a": "critical", "b": "major", "c": "minor"}[cid]) for cid, st in statuses.items()]
    return decide(_pact(rules, tier), results, facts)


@pytest.mark.parametrize(
    "statuses,facts,tier,action,index",
    [
        # rule 0: severity and status together; a critical breach outranks everything below it
        (
            {**MET, "a": "breached"},
            {"b": ClauseFacts(human_failures=2), "c": ClauseFacts(stale=True)},
            "high",
            "suspend",
            0,
        ),
        # rule 1: an open human-confirmed failure on a critical/major clause, even when the clause is met
        (MET, {"b": ClauseFacts(human_failures=1)}, "high", "withhold-settlement", 1),
        # ... but not on a minor clause (severity narrows the condition): falls through to approve
        (MET, {"c": ClauseFacts(human_failures=1)}, "high", "approve", 6),
        # rule 2: any breach
        ({**MET, "c": "breached"}, None, "high", "restrict", 2),
        # rule 3: a clause condition by id
        ({**MET, "c": "inconclusive"}, None, "high", "escalate", 3),
        ({**MET, "b": "inconclusive"}, None, "high", "approve", 6),  # b is not named by rule 3
        # rule 4: stale evidence on any clause
        (MET, {"a": ClauseFacts(stale=True, age_s=8 * DAY, window_s=int(7 * DAY))}, "high", "re-evaluate", 4),
        # rule 5: pact-level tier condition
        (MET, None, "low", "escalate", 5),
        # rule 6: no `when` always matches
        (MET, {"a": ClauseFacts(stale=False)}, "high", "approve", 6),
    ],
)
def test_decision_table_rule_by_rule(statuses, facts, tier, action, index):
    d = _decide(statuses, facts, tier)
    assert (d.decision, d.rule_index) == (action, index)


def test_reasons_name_the_matching_clauses_with_their_facts():
    d = _decide(
        MET,
        {
            "a": ClauseFacts(stale=True, age_s=9 * DAY, window_s=int(7 * DAY)),
            "b": ClauseFacts(stale=False, age_s=DAY, window_s=int(7 * DAY)),
        },
    )
    assert d.reasons[0] == "evidence is stale"
    assert (
        len(d.reasons) == 2 and d.reasons[1].startswith("a (critical)") and "stale (9d old, window 7d)" in d.reasons[1]
    )
    d = _decide(MET, {"a": ClauseFacts(human_failures=3)})
    assert "3 open human-confirmed failure(s)" in d.reasons[1]


def test_stale_false_and_human_failures_false_match_the_opposite():
    rules = [
        {"when": {"stale": False, "clause": "a"}, "action": "approve"},
        {"when": {"human_failures": False, "clause": "b"}, "action": "restrict"},
        {"action": "suspend"},
    ]
    assert _decide(MET, {"a": ClauseFacts(stale=True)}, rules=rules).decision == "restrict"
    assert (
        _decide(MET, {"a": ClauseFacts(stale=True), "b": ClauseFacts(human_failures=1)}, rules=rules).decision
        == "suspend"
    )
    assert _decide(MET, None, rules=rules).decision == "approve"


def test_default_rules_include_stale():
    stale = {"b": ClauseFacts(stale=True, age_s=10 * DAY, window_s=int(7 * DAY))}
    assert _decide(MET, stale, rules=[]).decision == "re-evaluate"
    assert _decide(MET, None, rules=[]).decision == "approve"
    assert any(r.when == {"stale": True} for r in DEFAULT_RULES)


def test_pact_files_accept_the_new_conditions(tmp_path):
    import yaml
    from suitefiles import BASIC_PACT

    from harness.errors import ConfigError
    from harness.pact import load_pact

    pact = copy.deepcopy(BASIC_PACT)
    pact["consequences"] = [
        {"when": {"human_failures": True}, "action": "escalate"},
        {"when": {"stale": True}, "action": "re-evaluate"},
        {"action": "approve"},
    ]
    (tmp_path / "pact.yaml").write_text(yaml.safe_dump(pact))
    assert load_pact(tmp_path / "pact.yaml").consequences[0].when == {"human_failures": True}
    pact["consequences"][0]["when"] = {"human_failures": "yes"}
    (tmp_path / "pact.yaml").write_text(yaml.safe_dump(pact))
    with pytest.raises(ConfigError, match="human_failures must be true or false"):
        load_pact(tmp_path / "pact.yaml")


# ---------------------------------------------------------------- trust score


def test_trust_score_formula():
    # 100 * sum(w * min(1, ci_low / threshold) * 0.5 ** (age / window)) / sum(w), w = 3/2/1
    assert trust_score([("critical", 0.95, 0.9, 0.0, 7 * DAY)]) == 100.0  # capped at 1
    assert trust_score([("major", 0.45, 0.9, 0.0, 7 * DAY)]) == 50.0
    assert trust_score([("major", 0.9, 0.9, 7 * DAY, 7 * DAY)]) == 50.0  # one half-life old
    assert trust_score([("minor", 0.9, 0.9, 14 * DAY, 7 * DAY)]) == 25.0
    # weights: critical fully compliant and fresh (3), major without evidence (0 of 2), minor at half (0.5 of 1)
    assert trust_score(
        [("critical", 0.99, 0.9, 0.0, DAY), ("major", None, 0.9, None, DAY), ("minor", 0.4, 0.8, 0.0, DAY)]
    ) == pytest.approx(100 * 3.5 / 6, abs=0.05)
    assert compliance(None, 0.9) == 0.0 and compliance(0.3, 0.0) == 1.0
    assert decay(None, DAY) == 0.0 and decay(-5.0, DAY) == 1.0
    assert trust_score([]) is None


# ---------------------------------------------------------------- freshness, injected clock


def test_freshness_with_an_injected_clock_and_evidence_from_several_runs(tmp_path):
    from suitefiles import BASIC_PACT

    clauses = copy.deepcopy(BASIC_PACT["clauses"])
    clauses[1]["freshness"] = "2d"  # label-right has its own, shorter window
    pact = {
        "clauses": clauses,
        "consequences": [
            {"when": {"stale": True}, "action": "re-evaluate"},
            {"when": {"status": "breached"}, "action": "restrict"},
            {"action": "approve"},
        ],
    }
    both = det_suite(tmp_path / "both", pact, n=6)
    hello_only = det_suite(tmp_path / "hello", pact, n=6, clauses=("says-hello",))
    db = tmp_path / "f.duckdb"
    first = run_suite(db, both)
    second = run_suite(db, hello_only)
    with Store(db) as store:
        plan_pact = load_plan(both).pact
        finished = {r["run_id"]: r["finished_at"] for r in store.runs()}
        t0 = finished[second]

        a = assess(store, plan_pact, "bot", t0 + timedelta(hours=1))
        by = {s.clause.id: s for s in a.states}
        # says-hello's latest evidence is the second run, label-right's the first: the decision draws on both
        assert by["says-hello"].run_id == second and by["label-right"].run_id == first
        assert a.run_ids == sorted([first, second])
        assert by["says-hello"].age_s == pytest.approx(3600, abs=1)
        assert by["label-right"].age_s == pytest.approx(3600 + (t0 - finished[first]).total_seconds(), abs=1)
        assert by["label-right"].window_s == 2 * DAY and by["says-hello"].window_s == 7 * DAY
        assert by["tone"].age_s is None and not by["tone"].stale  # tested by no case: no evidence, nothing to age
        assert by["tone"].result.status == "no-evidence" and by["tone"].expires_at is None
        assert not by["says-hello"].stale and not by["label-right"].stale

        # three days on, label-right (2d window) is stale, says-hello (7d) is not
        later = assess(store, plan_pact, "bot", t0 + timedelta(days=3))
        by = {s.clause.id: s for s in later.states}
        assert by["label-right"].stale and not by["says-hello"].stale
        assert later.decision.decision == "re-evaluate"
        assert any(r.startswith("label-right") and "stale" in r for r in later.decision.reasons)
        # the score decays with age: label-right (major) half-decayed after one window
        assert later.score < a.score
        expected = trust_score(
            [(s.clause.severity, s.result.ci_low, s.clause.threshold, s.age_s, s.window_s) for s in later.states]
        )
        assert later.score == expected
        # another agent has no evidence at all
        other = assess(store, plan_pact, "someone-else", t0)
        assert all(s.age_s is None and s.run_id is None for s in other.states) and other.score == 0.0
        assert other.decision.decision == "approve"  # this pact has no rule for no-evidence: its rules, its call
        # a changed pact version does not inherit the old version's evidence
        changed = plan_pact.model_copy(update={"hash": "f" * 64})
        assert all(s.run_id is None for s in assess(store, changed, "bot", t0).states)
        # each finished run recorded the agent's standing decision, its evidence rows and the score history
        hist = store.trust_history("bot", plan_pact.id)
        assert len(hist) == 2 and hist[0]["trigger"] == "run"
        ev = store.query(
            "SELECT clause_id, run_id FROM agent_decision_evidence e JOIN agent_decisions d "
            "USING (decision_id) WHERE d.trigger_ref = ? ORDER BY clause_id",
            [second],
        )
        assert {r["clause_id"]: r["run_id"] for r in ev} == {"label-right": first, "says-hello": second, "tone": None}


def test_human_failures_stay_open_until_a_later_run_passes_the_case(tmp_path):
    consequences = [
        {"when": {"human_failures": True}, "action": "escalate", "reason": "a human confirmed a failure"},
        {"when": {"status": "breached"}, "action": "restrict"},
        {"action": "approve"},
    ]
    root = jury_suite(tmp_path / "s", jury_pact(threshold=0.3, consequences=consequences))
    db = tmp_path / "h.duckdb"
    first = jury_run(db, root)
    with Store(db) as store:
        store.add_labels(
            [
                dict(
                    import_id="t",
                    seq=0,
                    run_id=first,
                    case_id="case-006",
                    clause_id="tone",
                    label="fail",
                    reviewer="ann",
                    note=None,
                    source="test",
                    source_row=1,
                )
            ]
        )
        assert [h["case_id"] for h in store.open_human_failures("bot", "demo-pact", store.run(first)["pact_hash"])] == [
            "case-006"
        ]
    # a later run where case-006 fails again keeps it open: the run decision escalates
    again = jury_run(db, root, votes=[(6, "fail", "fail", "fail", "fail")])
    with Store(db) as store:
        assert store.decision(again)["decision"] == "escalate"
    # a later run where every case passes closes it
    fixed = jury_run(db, root, votes=[])
    with Store(db) as store:
        pact_hash = store.run(fixed)["pact_hash"]
        assert store.open_human_failures("bot", "demo-pact", pact_hash) == []
        assert store.decision(fixed)["decision"] == "approve"


def test_restate_rejudges_stored_counts_at_another_confidence():
    r = restate("c", "major", 0.75, 18, 2, 0, 0, 0, 0.95)
    assert r.status == "inconclusive"
    assert restate("c", "major", 0.75, 18, 2, 0, 0, 0, 0.8).status == "met"
