"""Read-only views of a run's jury: panel statistics, per-judge cost and reliability, and the disagreement list."""

from __future__ import annotations

import json
from typing import Any

# Votes all answered from the cache cost nothing: $0, not unknown. Calls that litellm could not price stay NULL.
_NOTHING_SPENT = "CASE WHEN count(*) FILTER (WHERE NOT cached) = 0 THEN 0 END"

_JUDGE_COSTS = f"""
SELECT judge, any_value(model) AS model, count(*) AS votes, count(*) FILTER (WHERE NOT cached) AS calls,
       count(*) FILTER (WHERE cached) AS cached, count(*) FILTER (WHERE label = 'abstain') AS abstains,
       sum(tokens_in) FILTER (WHERE NOT cached) AS tokens_in, sum(tokens_out) FILTER (WHERE NOT cached) AS tokens_out,
       coalesce(sum(cost_usd) FILTER (WHERE NOT cached), {_NOTHING_SPENT}) AS cost_usd,
       count(*) FILTER (WHERE NOT cached AND cost_usd IS NULL) AS unpriced_calls,
       median(latency_ms) FILTER (WHERE NOT cached) AS p50_latency_ms
FROM votes WHERE run_id = ? GROUP BY judge ORDER BY judge
"""

_CLAUSE_COSTS = f"""
SELECT clause_id, count(*) AS votes, sum(tokens_in + tokens_out) FILTER (WHERE NOT cached) AS tokens,
       coalesce(sum(cost_usd) FILTER (WHERE NOT cached), {_NOTHING_SPENT}) AS cost_usd,
       count(*) FILTER (WHERE NOT cached AND cost_usd IS NULL) AS unpriced_calls
FROM votes WHERE run_id = ? GROUP BY clause_id ORDER BY clause_id
"""

_DISAGREEMENTS = """
SELECT v.case_id, v.clause_id, v.outcome, v.split, v.entropy_bits, v.panel_score, v.detail,
       c.input, c.expected, t.output, t.tool_calls
FROM verdicts v
JOIN cases c USING (run_id, case_id)
JOIN transcripts t USING (run_id, case_id)
WHERE v.run_id = ? AND v.decided_by = 'panel' AND (v.outcome = 'inconclusive' OR NOT coalesce(v.unanimous, false))
  AND (? IS NULL OR v.clause_id = ?)
ORDER BY (v.outcome = 'inconclusive') DESC, v.entropy_bits DESC NULLS LAST, v.case_id, v.clause_id
"""


STATS_FIELDS = (
    "percent_agreement_items",
    "fleiss_items",
    "alpha_items",
    "score_items",
    "min_items",
    "fleiss_ci",
    "fleiss_se0",
    "alpha_nominal_ci",
    "gwet_ac1",
    "gwet_ac1_ci",
    "pabak",
    "pabak_ci",
    "bootstrap_resamples",
    "bootstrap_seed",
    "pairs",
    "small_sample",
    "dawid_skene",
)


def panel_summary(store: Any, run_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * EXCLUDE (run_id, stats), stats FROM panel_stats WHERE run_id = ?", [run_id])
    if not rows:
        return None
    summary = rows[0]
    stats = json.loads(summary.pop("stats"))
    summary["cohen_kappa"] = stats.get("cohen_kappa", {})
    # n, intervals, AC1/PABAK and Dawid-Skene convergence live in the JSON; runs recorded before they existed
    # lack them, and show them as missing.
    for key in STATS_FIELDS:
        summary[key] = stats.get(key)
    summary["agreement_reference"] = stats.get("agreement_reference", "full panel (recorded before leave-one-out)")
    summary["judges"] = store.query(
        "SELECT * EXCLUDE (run_id) FROM judge_stats WHERE run_id = ? ORDER BY judge", [run_id]
    )
    extra = {j["judge"]: j for j in stats.get("judges", [])}
    for j in summary["judges"]:
        more = extra.get(j["judge"], {})
        j.update(
            n_compared=more.get("n_compared"),
            agreement_full_panel=more.get("agreement_full_panel"),
            agreement_small_sample=more.get("small_sample"),
        )
    summary["costs"] = store.query(_JUDGE_COSTS, [run_id])
    summary["clause_costs"] = store.query(_CLAUSE_COSTS, [run_id])
    calls = store.query(
        "SELECT sum(calls_saved) AS saved, count(*) FILTER (WHERE NOT complete) AS stopped "
        "FROM ballots WHERE run_id = ?",
        [run_id],
    )[0]
    summary["calls_saved"], summary["n_stopped"] = calls["saved"] or 0, calls["stopped"] or 0
    return summary


_NO_STATS = {
    "n": 0,
    "pass_rate": None,
    "abstain_rate": None,
    "agreement_with_panel": None,
    "agreement_ci_low": None,
    "agreement_ci_high": None,
    "n_compared": None,
    "agreement_full_panel": None,
    "agreement_small_sample": None,
}


def judge_rows(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Each judge's statistics and calls, tokens and cost in one row, by name. A judge with no vote in the
    statistics (all its ballots stopped early, or it was excluded) still made calls: it gets a row with n 0."""
    costs = {c["judge"]: c for c in p["costs"]}
    stats = {j["judge"]: j for j in p["judges"]}
    return [
        {**costs.get(name, {}), **stats.get(name, _NO_STATS), "judge": name} for name in sorted(set(stats) | set(costs))
    ]


def ballots_line(p: dict[str, Any]) -> str:
    """How many ballots the agreement statistics rest on, and why the others are left out."""
    n, out, stopped = p["n_ballots"], p["n_incomplete"], p["n_stopped"]
    text = f"{n} ballot{'s' if n != 1 else ''} in the agreement statistics"
    if not out:
        return text
    why = [f"{stopped} stopped early by the adaptive jury, {p['calls_saved']} calls saved"] if stopped else []
    if out > stopped:
        why.append(f"{out - stopped} completed outside the audit sample")
    return f"{text}, {out} left out ({'; '.join(why)})"


def disagreements(
    store: Any, run_id: str, clause: str | None = None, judge: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Split and inconclusive panel verdicts with each judge's vote and rationale, most divided first."""
    store.run(run_id)  # a clear error for an unknown run
    rows = store.query(_DISAGREEMENTS, [run_id, clause, clause])
    votes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in store.query(
        "SELECT case_id, clause_id, judge, sample, label, score, rationale, abstain_reason, cached "
        "FROM votes WHERE run_id = ? ORDER BY judge, sample",
        [run_id],
    ):
        votes.setdefault((v["case_id"], v["clause_id"]), []).append(v)
    out = []
    for r in rows:
        r["votes"] = votes.get((r["case_id"], r["clause_id"]), [])
        r["input"], r["expected"] = json.loads(r["input"]), json.loads(r["expected"])
        r["tool_calls"] = json.loads(r["tool_calls"])
        if judge and not any(v["judge"] == judge and v["label"] != r["outcome"] for v in r["votes"]):
            continue
        out.append(r)
    return out[:limit]
