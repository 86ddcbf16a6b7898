"""Paired comparison of two runs: the same cases under two agent versions, clause by clause.

Cases are paired by case id. A verdict of pass counts 1; fail and error count 0 (errors count against the
clause, as in clause results); pending-jury, inconclusive and not-applicable verdicts are left out of the
pairs, and counted. Per clause: both pass rates over the paired cases, their difference (B - A) with
Newcombe's (1998) method-10 score interval for paired proportions, the exact McNemar test on the discordant
pairs, and the cases that regressed (pass in A, fail in B) and improved (fail in A, pass in B).

Every clause with enough pairs is a test, so the McNemar p-values are Holm-adjusted across those clauses: a
change is reported only where the adjusted p is below alpha (and the interval excludes 0), which keeps the
chance of reporting any change between two identical agents at or below alpha, however many clauses there are.
Unadjusted, 20 clauses with no true difference report a change in about a third of comparisons
(tests/test_compare_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.errors import ConfigError, RunNotFound
from harness.stats.intervals import holm, newcombe_paired

MIN_PAIRS = 10
ALPHA = 0.05
INTERVAL = "Newcombe (1998) method 10, paired score interval"
CORRECTION = "Holm"

_DECIDED = {"pass": 1, "fail": 0, "error": 0}


# ---------------------------------------------------------------- statistics


def mcnemar_exact(both_pass: int, regressed: int, improved: int, both_fail: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of the discordant pairs against p = 1/2."""
    n = regressed + improved
    if n == 0:
        return 1.0
    low = min(regressed, improved)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2.0**n
    return min(1.0, 2 * tail)


def paired_diff_ci(both_pass: int, regressed: int, improved: int, both_fail: int) -> tuple[float, float] | None:
    """95% interval of rate(B) - rate(A) from the paired table (Newcombe's method 10); None without pairs."""
    return newcombe_paired(both_pass, regressed, improved, both_fail)


def conclusion(
    n: int,
    diff: float | None,
    ci: tuple[float, float],
    p: float,
    *,
    min_pairs: int = MIN_PAIRS,
    alpha: float = ALPHA,
    p_adjusted: float | None = None,
    family: int = 1,
) -> tuple[str, str]:
    """(code, plain sentence) for one clause: too-small, no-difference, regressed, improved or unclear.

    `p_adjusted` is the Holm-adjusted p over the `family` clauses tested (the raw p when None)."""
    if n == 0:
        return "no-pairs", "no paired cases with a decided verdict in both runs"
    if n < min_pairs:
        return "too-small", (
            f"too small to tell: only {n} paired case{'s' if n != 1 else ''} (at least {min_pairs} are needed)"
        )
    adjusted = p if p_adjusted is None else p_adjusted
    spans_zero = ci[0] <= 0 <= ci[1]
    stats = f"95% CI {ci[0] * 100:+.0f} to {ci[1] * 100:+.0f} pp; exact McNemar p = {p:.3g}"
    if family > 1:
        stats += f", Holm-adjusted over {family} clauses {adjusted:.3g}"
    if spans_zero and adjusted >= alpha:
        return "no-difference", f"no detectable difference with {n} paired cases ({stats})"
    if not spans_zero and adjusted < alpha:
        direction = "regressed" if (diff or 0) < 0 else "improved"
        return direction, f"B {direction} by {abs(diff or 0) * 100:.0f} pp with {n} paired cases ({stats})"
    return "unclear", f"unclear with {n} paired cases: the interval and the test disagree ({stats})"


def conclude_family(
    clauses: list[dict[str, Any]], *, min_pairs: int = MIN_PAIRS, alpha: float = ALPHA
) -> list[dict[str, Any]]:
    """Holm-adjust the McNemar p-values of the clauses with at least `min_pairs` pairs and conclude each clause."""
    tested = [c["mcnemar_p"] if c["n_pairs"] >= min_pairs else None for c in clauses]
    adjusted = holm(tested)
    family = sum(p is not None for p in tested)
    out = []
    for c, p_adj in zip(clauses, adjusted):
        ci = (c["ci_low"], c["ci_high"])
        code, sentence = conclusion(
            c["n_pairs"],
            c["diff"],
            ci,
            c["mcnemar_p"] if c["mcnemar_p"] is not None else 1.0,
            min_pairs=min_pairs,
            alpha=alpha,
            p_adjusted=p_adj,
            family=family,
        )
        out.append(dict(c, mcnemar_p_adjusted=p_adj, conclusion=code, summary=sentence))
    return out


# ---------------------------------------------------------------- runs and pairs


def latest_completed_run(store: Any, pact: str, version: str, agent: str | None = None) -> str:
    rows = store.query(
        "SELECT r.run_id, r.agent FROM runs r JOIN v_run_status s ON s.run_id = r.run_id "
        "WHERE r.pact_id = ? AND r.agent_version = ? AND (? IS NULL OR r.agent = ?) AND s.status = 'completed' "
        "ORDER BY r.started_at DESC",
        [pact, version, agent, agent],
    )
    if not rows:
        who = f" of agent {agent}" if agent else ""
        raise RunNotFound(f"{store.path}: no completed run of pact {pact}{who} at version {version!r}")
    agents = sorted({r["agent"] or "" for r in rows})
    if agent is None and len(agents) > 1:
        raise ConfigError(
            f"version {version!r} of pact {pact} was run by several agents ({', '.join(agents)}); name one with --agent"
        )
    return rows[0]["run_id"]


def resolve_runs(
    store: Any,
    run_a: str | None,
    run_b: str | None,
    pact: str | None,
    agent: str | None,
    versions: Sequence[str] | None,
) -> tuple[str, str]:
    if versions:
        if run_a or run_b:
            raise ConfigError("compare takes RUN_A RUN_B or --pact P --versions V1 V2, not both")
        if not pact:
            raise ConfigError("--versions needs --pact")
        return (
            latest_completed_run(store, pact, versions[0], agent),
            latest_completed_run(store, pact, versions[1], agent),
        )
    if not (run_a and run_b):
        raise ConfigError("compare needs RUN_A RUN_B, or --pact P [--agent A] --versions V1 V2")
    return run_a, run_b


_PAIRS_SQL = """
SELECT coalesce(a.case_id, b.case_id) AS case_id, coalesce(a.clause_id, b.clause_id) AS clause_id,
       a.outcome AS outcome_a, b.outcome AS outcome_b
FROM (SELECT case_id, clause_id, outcome FROM verdicts WHERE run_id = ?) a
FULL OUTER JOIN (SELECT case_id, clause_id, outcome FROM verdicts WHERE run_id = ?) b
  ON a.case_id = b.case_id AND a.clause_id = b.clause_id
ORDER BY clause_id, case_id
"""

_HASHES_SQL = """
SELECT a.case_id FROM cases a JOIN cases b ON a.case_id = b.case_id
WHERE a.run_id = ? AND b.run_id = ? AND a.case_hash <> b.case_hash ORDER BY a.case_id
"""

_RUN_FIELDS = (
    "run_id",
    "started_at",
    "status",
    "pact_id",
    "pact_version",
    "pact_hash",
    "suite_id",
    "suite_hash",
    "agent",
    "agent_version",
    "panel_id",
    "n_cases",
    "n_done",
)


def compare_runs(
    store: Any, run_a: str, run_b: str, *, min_pairs: int = MIN_PAIRS, alpha: float = ALPHA
) -> dict[str, Any]:
    """The paired comparison of run B against run A, as plain data (what `compare --json` prints)."""
    ra, rb = store.run(run_a), store.run(run_b)
    warnings = []
    if ra["pact_id"] != rb["pact_id"]:
        warnings.append(
            f"the runs are of different pacts ({ra['pact_id']} and {rb['pact_id']}): only clause ids "
            "they share are compared"
        )
    elif ra["pact_hash"] != rb["pact_hash"]:
        warnings.append(
            f"the pact changed between the runs (v{ra['pact_version']} {ra['pact_hash'][:12]} -> "
            f"v{rb['pact_version']} {rb['pact_hash'][:12]}): thresholds or checks may differ"
        )
    for r in (ra, rb):
        if r["status"] != "completed":
            warnings.append(f"run {r['run_id']} is {r['status']}, not completed: its pending cases are not paired")
    changed = [r["case_id"] for r in store.query(_HASHES_SQL, [run_a, run_b])]
    if changed:
        warnings.append(
            f"{len(changed)} paired case(s) changed content between the runs (different case hash): "
            + ", ".join(changed[:10])
            + (" ..." if len(changed) > 10 else "")
        )
    rows = store.query(_PAIRS_SQL, [run_a, run_b])
    by_clause: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_clause.setdefault(r["clause_id"], []).append(r)
    order = {c["clause_id"]: i for i, c in enumerate(store.clause_results(run_b) or store.clause_results(run_a))}
    clauses = conclude_family(
        [
            _compare_clause(cid, by_clause[cid])
            for cid in sorted(by_clause, key=lambda c: (order.get(c, len(order)), c))
        ],
        min_pairs=min_pairs,
        alpha=alpha,
    )
    from harness.robustness import compare_robustness

    # attacks tied to clauses: how each version's pass rate under each mutator moved (empty without attacks)
    robust = [
        r
        for r in compare_robustness(store, run_a, run_b)
        if r.get("base_attack_pass_rate") is not None or r.get("other_attack_pass_rate") is not None
    ]
    return dict(
        run_a={k: ra.get(k) for k in _RUN_FIELDS},
        run_b={k: rb.get(k) for k in _RUN_FIELDS},
        changed_cases=changed,
        warnings=warnings,
        min_pairs=min_pairs,
        alpha=alpha,
        interval=INTERVAL,
        correction=CORRECTION,
        family_size=sum(c["mcnemar_p_adjusted"] is not None for c in clauses),
        clauses=clauses,
        robustness=robust,
    )


def _compare_clause(clause_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One clause's pairs, rates, interval and raw McNemar p (conclusions need the family: conclude_family)."""
    a, b, case_ids = [], [], []
    only_a = only_b = undecided = 0
    for r in rows:
        oa, ob = r["outcome_a"], r["outcome_b"]
        if oa is None:
            only_b += 1
        elif ob is None:
            only_a += 1
        elif oa in _DECIDED and ob in _DECIDED:
            a.append(_DECIDED[oa])
            b.append(_DECIDED[ob])
            case_ids.append(r["case_id"])
        else:
            undecided += 1
    n = len(a)
    regressed = [c for c, x, y in zip(case_ids, a, b) if x == 1 and y == 0]
    improved = [c for c, x, y in zip(case_ids, a, b) if x == 0 and y == 1]
    both_pass = sum(1 for x, y in zip(a, b) if x == y == 1)
    both_fail = n - both_pass - len(regressed) - len(improved)
    rate_a = sum(a) / n if n else None
    rate_b = sum(b) / n if n else None
    diff = (sum(b) - sum(a)) / n if n else None
    ci = paired_diff_ci(both_pass, len(regressed), len(improved), both_fail) or (None, None)
    p = mcnemar_exact(both_pass, len(regressed), len(improved), both_fail) if n else None
    return dict(
        clause_id=clause_id,
        n_pairs=n,
        rate_a=rate_a,
        rate_b=rate_b,
        diff=diff,
        ci_low=ci[0],
        ci_high=ci[1],
        mcnemar_p=p,
        both_pass=both_pass,
        both_fail=both_fail,
        n_regressed=len(regressed),
        n_improved=len(improved),
        regressed=regressed,
        improved=improved,
        undecided=undecided,
        only_in_a=only_a,
        only_in_b=only_b,
    )


# ---------------------------------------------------------------- the command
