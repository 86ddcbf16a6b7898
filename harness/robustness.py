"""Robustness per clause and mutator: the pass rate on attacks against the pass rate on the cases attacked.

For each (clause, mutator) of a run:

    n_attacks           decided verdicts of the clause on cases that mutator made
    attack_pass_rate    the share of them that passed
    n_original          decided verdicts of the clause on the originals of those (decided) attacks
    original_pass_rate  the share of them that passed
    delta               attack_pass_rate - original_pass_rate (negative: the attack broke something)

The comparison is paired: an attack is measured against the very cases it was made from, not against every
case of the clause. Decided means pass, fail or error; an error counts against the clause as everywhere
(fail-closed). pending-jury, inconclusive and not-applicable verdicts are left out of both rates.
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("clause_id", "mutator", "n_attacks", "attack_pass_rate", "n_original", "original_pass_rate", "delta")

_SQL = """
WITH v AS (
    SELECT v.clause_id, c.case_id, c.mutator, coalesce(c.mutated_from, c.case_id) AS origin, v.outcome,
           v.outcome IN ('pass', 'fail', 'error') AS decided, v.outcome = 'pass' AS passed
    FROM verdicts v JOIN cases c ON c.run_id = v.run_id AND c.case_id = v.case_id
    WHERE v.run_id = ? AND (c.mutator IS NULL OR NOT ? OR coalesce(list_contains(
          from_json(json_extract(c.mutation, '$.targets'), '["VARCHAR"]'), v.clause_id), false))
),
attack AS (
    SELECT clause_id, mutator, count(*) FILTER (WHERE decided) AS n_attacks,
           count(*) FILTER (WHERE decided AND passed) AS attack_passed
    FROM v WHERE mutator IS NOT NULL GROUP BY clause_id, mutator
),
pairs AS (SELECT DISTINCT clause_id, mutator, origin FROM v WHERE mutator IS NOT NULL AND decided),
original AS (
    SELECT p.clause_id, p.mutator, count(*) FILTER (WHERE o.decided) AS n_original,
           count(*) FILTER (WHERE o.decided AND o.passed) AS original_passed
    FROM pairs p JOIN v o ON o.case_id = p.origin AND o.clause_id = p.clause_id AND o.mutator IS NULL
    GROUP BY p.clause_id, p.mutator
),
positions AS (SELECT clause_id, min(position) AS position FROM clause_results WHERE run_id = ? GROUP BY clause_id)
SELECT a.clause_id, a.mutator, a.n_attacks,
       a.attack_passed / nullif(a.n_attacks, 0) AS attack_pass_rate,
       coalesce(o.n_original, 0) AS n_original,
       o.original_passed / nullif(o.n_original, 0) AS original_pass_rate
FROM attack a
LEFT JOIN original o ON o.clause_id = a.clause_id AND o.mutator = a.mutator
LEFT JOIN positions p ON p.clause_id = a.clause_id
ORDER BY p.position NULLS LAST, a.clause_id, a.mutator
"""


def robustness(store: Any, run_id: str, *, targeted: bool = False) -> list[dict[str, Any]]:
    """One row per (clause, mutator) of the run, with the columns in COLUMNS (rates None when undefined).

    A mutated case carries every clause of its original, so by default a clause is measured under every attack
    made on its cases; `targeted=True` keeps only the attacks aimed at it (the clauses that selected the mutator
    in the suite's adversarial block; with `run --mutate`, every clause of the case)."""
    store.run(run_id)  # RunNotFound for an unknown run
    rows = store.query(_SQL, [run_id, targeted, run_id])
    out = []
    for r in rows:
        a, o = r["attack_pass_rate"], r["original_pass_rate"]
        delta = a - o if a is not None and o is not None else None
        out.append(
            dict(
                clause_id=r["clause_id"],
                mutator=r["mutator"],
                n_attacks=int(r["n_attacks"]),
                attack_pass_rate=_num(a),
                n_original=int(r["n_original"]),
                original_pass_rate=_num(o),
                delta=_num(delta),
            )
        )
    return out


def robustness_frame(store: Any, run_id: str, *, targeted: bool = False) -> Any:
    """The same as a pandas DataFrame with the columns in COLUMNS."""
    import pandas as pd

    return pd.DataFrame(robustness(store, run_id, targeted=targeted), columns=list(COLUMNS))


def compare_robustness(store: Any, base_run: str, other_run: str, *, targeted: bool = False) -> list[dict[str, Any]]:
    """Per (clause, mutator) in either run: each run's attack pass rate and delta, and how they changed
    (other minus base; positive: the other run resists the attack better)."""
    base = {(r["clause_id"], r["mutator"]): r for r in robustness(store, base_run, targeted=targeted)}
    other = {(r["clause_id"], r["mutator"]): r for r in robustness(store, other_run, targeted=targeted)}
    keys = list(base) + [k for k in other if k not in base]
    out = []
    for key in keys:
        b, o = base.get(key, {}), other.get(key, {})
        row: dict[str, Any] = dict(clause_id=key[0], mutator=key[1])
        for prefix, r in (("base", b), ("other", o)):
            row.update(
                {
                    f"{prefix}_n_attacks": r.get("n_attacks", 0),
                    f"{prefix}_attack_pass_rate": r.get("attack_pass_rate"),
                    f"{prefix}_delta": r.get("delta"),
                }
            )
        row["attack_pass_rate_change"] = _diff(o.get("attack_pass_rate"), b.get("attack_pass_rate"))
        row["delta_change"] = _diff(o.get("delta"), b.get("delta"))
        out.append(row)
    return out


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def _diff(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else _num(a - b)


# ---------------------------------------------------------------- the command


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.0%}"


def _pp(v: Any) -> str:
    return "-" if v is None else f"{v * 100:+.0f} pp"
