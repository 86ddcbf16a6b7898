"""Read-only views of a run's jury: panel statistics, per-judge cost and reliability, and the disagreement list."""

from __future__ import annotations

import argparse
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


def panel_summary(store: Any, run_id: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * EXCLUDE (run_id, stats), stats FROM panel_stats WHERE run_id = ?", [run_id])
    if not rows:
        return None
    summary = rows[0]
    stats = json.loads(summary.pop("stats"))
    summary["cohen_kappa"] = stats.get("cohen_kappa", {})
    summary["judges"] = store.query("SELECT * EXCLUDE (run_id) FROM judge_stats WHERE run_id = ? ORDER BY judge",
                                    [run_id])
    summary["costs"] = store.query(_JUDGE_COSTS, [run_id])
    summary["clause_costs"] = store.query(_CLAUSE_COSTS, [run_id])
    calls = store.query("SELECT sum(calls_saved) AS saved, count(*) FILTER (WHERE NOT complete) AS stopped "
                        "FROM ballots WHERE run_id = ?", [run_id])[0]
    summary["calls_saved"], summary["n_stopped"] = calls["saved"] or 0, calls["stopped"] or 0
    return summary


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _cost(total: Any, unpriced: int) -> str:
    if total is None:
        return "unknown"
    return f"${total:.4f}" + (f" (+{unpriced} unpriced)" if unpriced else "")


_NO_STATS = {"n": 0, "pass_rate": None, "abstain_rate": None, "agreement_with_panel": None,
             "agreement_ci_low": None, "agreement_ci_high": None}


def judge_rows(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Each judge's statistics and calls, tokens and cost in one row, by name. A judge with no vote in the
    statistics (all its ballots stopped early, or it was excluded) still made calls: it gets a row with n 0."""
    costs = {c["judge"]: c for c in p["costs"]}
    stats = {j["judge"]: j for j in p["judges"]}
    return [{**costs.get(name, {}), **stats.get(name, _NO_STATS), "judge": name}
            for name in sorted(set(stats) | set(costs))]


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


def format_panel(p: dict[str, Any]) -> str:
    from harness.commands import format_table

    lines = [
        f"panel {p['panel_id']} ({p['panel_hash'][:12]}), method {p['method']}: {ballots_line(p)}",
        f"agreement: {_f(p['percent_agreement'], '{:.0%}')} pairwise; Fleiss kappa {_f(p['fleiss_kappa'])}; "
        f"Krippendorff alpha nominal {_f(p['alpha_nominal'])}, ordinal {_f(p['alpha_ordinal'])}, "
        f"interval {_f(p['alpha_interval'])}",
    ]
    rows = [[j["judge"], j.get("model", ""), j["n"], _f(j["pass_rate"], "{:.0%}"), _f(j["abstain_rate"], "{:.0%}"),
             _f(j["agreement_with_panel"], "{:.0%}")
             + (f" ({j['agreement_ci_low']:.0%}-{j['agreement_ci_high']:.0%})" if j["agreement_ci_low"] is not None else ""),
             j.get("calls", 0), j.get("cached", 0), f"{j.get('tokens_in') or 0}/{j.get('tokens_out') or 0}",
             _cost(j.get("cost_usd"), j.get("unpriced_calls", 0))] for j in judge_rows(p)]
    lines.append(format_table(["judge", "model", "votes", "pass", "abstain", "agrees w/ panel", "calls", "cached",
                               "tokens", "cost"], rows))
    total = [c["cost_usd"] for c in p["costs"] if c["cost_usd"] is not None]
    unpriced = sum(c["unpriced_calls"] for c in p["costs"])
    calls = sum(c["calls"] for c in p["costs"])
    lines.append(f"jury cost: {_cost(sum(total) if total else None, unpriced)} over {calls} calls "
                 f"({sum(c['cached'] for c in p['costs'])} votes answered from the cache); by clause: "
                 + ", ".join(f"{c['clause_id']} {_cost(c['cost_usd'], c['unpriced_calls'])}" for c in p["clause_costs"]))
    kappa = p.get("cohen_kappa") or {}
    names = sorted(kappa)
    if len(names) > 1:
        lines.append("pairwise Cohen's kappa:")
        lines.append(format_table([""] + names, [[a] + [_f((kappa.get(a) or {}).get(b)) if a != b else "1"
                                                        for b in names] for a in names]))
    return "\n".join(lines)


def disagreements(store: Any, run_id: str, clause: str | None = None, judge: str | None = None,
                  limit: int = 50) -> list[dict[str, Any]]:
    """Split and inconclusive panel verdicts with each judge's vote and rationale, most divided first."""
    store.run(run_id)  # a clear error for an unknown run
    rows = store.query(_DISAGREEMENTS, [run_id, clause, clause])
    votes: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in store.query("SELECT case_id, clause_id, judge, sample, label, score, rationale, abstain_reason, cached "
                         "FROM votes WHERE run_id = ? ORDER BY judge, sample", [run_id]):
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


def cmd_disagreements(args: argparse.Namespace) -> int:
    from harness.cli import db_path, emit_json
    from harness.store import Store

    with Store(db_path(args), read_only=True) as store:
        rows = disagreements(store, args.run_id, args.clause, args.judge, args.limit)
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("no split or inconclusive jury verdicts in this run")
    for r in rows:
        text = r["input"] if isinstance(r["input"], str) else " / ".join(m["content"] for m in r["input"])
        print(f"== {r['case_id']} / {r['clause_id']}: {r['outcome'].upper()} (split {r['split']}, "
              f"entropy {_f(r['entropy_bits'])})")
        print(f"   input:  {_clip(text)}")
        print(f"   output: {_clip(r['output'])}")
        for v in r["votes"]:
            label = v["label"].upper() + (f" {v['score']:g}" if v["score"] is not None else "")
            why = v["abstain_reason"] or v["rationale"]
            print(f"   - {v['judge']:<16} {label:<9} {_clip(why, 100)}" + (" [cached]" if v["cached"] else ""))
        print()
    return 0


def _clip(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
