"""Terminal text of the statistics: a panel's agreement and judges, paired comparisons, robustness under attack."""

from __future__ import annotations

from typing import Any

from harness.jury.views import ballots_line, judge_rows
from harness.report.cells import _cost, fmt_num, fmt_stat, format_table, pct, pp


def agreement_lines(p: dict[str, Any]) -> list[str]:
    """The panel's agreement statistics with n, intervals and the small-sample flag (older runs: points only)."""
    low = p.get("min_items")
    items = p.get("alpha_items")
    lines = [
        f"agreement: {fmt_num(p['percent_agreement'], '{:.0%}')} pairwise"
        + (f" (n {p['percent_agreement_items']})" if p.get("percent_agreement_items") is not None else "")
        + f"; PABAK {fmt_stat(p.get('pabak'), p.get('pabak_ci'))}; Gwet's AC1 {fmt_stat(p.get('gwet_ac1'), p.get('gwet_ac1_ci'))}",
        f"  Fleiss kappa {fmt_stat(p['fleiss_kappa'], p.get('fleiss_ci'), p.get('fleiss_items'), low)}; "
        f"Krippendorff alpha nominal {fmt_stat(p['alpha_nominal'], p.get('alpha_nominal_ci'), items, low)}, "
        f"ordinal {fmt_num(p['alpha_ordinal'])}, interval {fmt_num(p['alpha_interval'])}"
        + (f" (n {p['score_items']} scored)" if p.get("score_items") else ""),
    ]
    if low is not None:
        lines.append(
            f"  95% intervals: percentile bootstrap over items ({p['bootstrap_resamples']} resamples, seed "
            f"{p['bootstrap_seed']}); Cohen's kappa: asymptotic standard error; (few items) = fewer than "
            f"{low} items, not to be trusted"
        )
    lines.append(f"  agreement with the panel: {p.get('agreement_reference') or 'full panel'}")
    ds = p.get("dawid_skene")
    if ds:
        lines.append("  " + dawid_skene_line(ds))
    return lines


def dawid_skene_line(ds: dict[str, Any]) -> str:
    state = (
        f"converged in {ds['iterations']} iterations"
        if ds["converged"]
        else f"NOT converged after {ds['max_iter']} iterations"
    )
    return (
        f"Dawid-Skene: {state} (tolerance {ds['tol']:g}); kept the {ds['best_start']} start of {ds['starts']} "
        f"({ds['starts_converged']} converged, {ds['starts_at_best']} reached its optimum"
        + ("" if ds.get("objective") is None else f", log-posterior {ds['objective']:.2f}")
        + (
            ""
            if ds.get("best_objective") is None or ds["best_objective"] - ds["objective"] <= 1e-6
            else f"; best of any start {ds['best_objective']:.2f}"
        )
        + ")"
    )


def _agrees(j: dict[str, Any]) -> str:
    if j["agreement_with_panel"] is None:
        return "-"
    text = f"{j['agreement_with_panel']:.0%}"
    if j["agreement_ci_low"] is not None:
        text += f" ({j['agreement_ci_low']:.0%}-{j['agreement_ci_high']:.0%})"
    if j.get("n_compared") is not None:
        text += f" n {j['n_compared']}" + (" (few items)" if j.get("agreement_small_sample") else "")
    return text


def pair_table(p: dict[str, Any]) -> str:
    low = p.get("min_items")
    rows = [
        [
            f"{q['a']} / {q['b']}",
            q["n"],
            fmt_num(q["percent"], "{:.0%}"),
            fmt_stat(q["kappa"], q["kappa_ci"], None) + (" (few items)" if q["small_sample"] else ""),
            fmt_num(q["ac1"]),
            fmt_num(q["pabak"]),
        ]
        for q in p["pairs"]
    ]
    return format_table(["pair", "n", "agree", "Cohen's kappa (95% CI)", "AC1", "PABAK"], rows) + (
        f"\n(few items: fewer than {low} shared items)" if any(q["small_sample"] for q in p["pairs"]) else ""
    )


def format_panel(p: dict[str, Any]) -> str:

    lines = [
        f"panel {p['panel_id']} ({p['panel_hash'][:12]}), method {p['method']}: {ballots_line(p)}",
        *agreement_lines(p),
    ]
    rows = [
        [
            j["judge"],
            j.get("model", ""),
            j["n"],
            fmt_num(j["pass_rate"], "{:.0%}"),
            fmt_num(j["abstain_rate"], "{:.0%}"),
            _agrees(j),
            j.get("calls", 0),
            j.get("cached", 0),
            f"{j.get('tokens_in') or 0}/{j.get('tokens_out') or 0}",
            _cost(j.get("cost_usd"), j.get("unpriced_calls", 0)),
        ]
        for j in judge_rows(p)
    ]
    lines.append(
        format_table(
            ["judge", "model", "votes", "pass", "abstain", "agrees w/ others", "calls", "cached", "tokens", "cost"],
            rows,
        )
    )
    total = [c["cost_usd"] for c in p["costs"] if c["cost_usd"] is not None]
    unpriced = sum(c["unpriced_calls"] for c in p["costs"])
    calls = sum(c["calls"] for c in p["costs"])
    lines.append(
        f"jury cost: {_cost(sum(total) if total else None, unpriced)} over {calls} calls "
        f"({sum(c['cached'] for c in p['costs'])} votes answered from the cache); by clause: "
        + ", ".join(f"{c['clause_id']} {_cost(c['cost_usd'], c['unpriced_calls'])}" for c in p["clause_costs"])
    )
    if p.get("pairs"):
        lines += ["pairwise Cohen's kappa, AC1 and PABAK:", pair_table(p)]
        return "\n".join(lines)
    kappa = p.get("cohen_kappa") or {}
    names = sorted(kappa)
    if len(names) > 1:
        lines.append("pairwise Cohen's kappa:")
        lines.append(
            format_table(
                [""] + names,
                [[a] + [fmt_num((kappa.get(a) or {}).get(b)) if a != b else "1" for b in names] for a in names],
            )
        )
    return "\n".join(lines)


def _run_line(label: str, r: dict[str, Any]) -> str:
    version = f" {r['agent_version']}" if r.get("agent_version") else ""
    return (
        f"{label}: run {r['run_id']}  {r['agent']}{version}  pact {r['pact_id']} v{r['pact_version']}  "
        f"{r['started_at']:%Y-%m-%d %H:%M}  [{r['status']}]"
    )


def format_comparison(c: dict[str, Any]) -> str:

    lines = [_run_line("A", c["run_a"]), _run_line("B", c["run_b"]), ""]
    rows = [
        [
            k["clause_id"],
            k["n_pairs"],
            pct(k["rate_a"]),
            pct(k["rate_b"]),
            pp(k["diff"]),
            "-" if k["ci_low"] is None else f"{k['ci_low'] * 100:+.0f} to {k['ci_high'] * 100:+.0f} pp",
            "-" if k["mcnemar_p"] is None else f"{k['mcnemar_p']:.3g}",
            "-" if k.get("mcnemar_p_adjusted") is None else f"{k['mcnemar_p_adjusted']:.3g}",
            k["n_regressed"],
            k["n_improved"],
            k["conclusion"],
        ]
        for k in c["clauses"]
    ]
    lines.append(
        format_table(
            [
                "clause",
                "pairs",
                "A",
                "B",
                "B-A",
                "95% CI (Newcombe)",
                "McNemar p",
                f"{c.get('correction', 'Holm')} p",
                "regressed",
                "improved",
                "conclusion",
            ],
            rows,
        )
        if rows
        else "no clause verdicts to compare"
    )
    for k in c["clauses"]:
        lines += ["", f"{k['clause_id']}: {k['summary']}"]
        if k["regressed"]:
            lines.append(f"  regressed (pass in A, fail in B): {', '.join(k['regressed'])}")
        if k["improved"]:
            lines.append(f"  improved (fail in A, pass in B): {', '.join(k['improved'])}")
        left = [
            f"{k['undecided']} undecided in a run" if k["undecided"] else "",
            f"{k['only_in_a']} only in A" if k["only_in_a"] else "",
            f"{k['only_in_b']} only in B" if k["only_in_b"] else "",
        ]
        if any(left):
            lines.append("  not paired: " + ", ".join(x for x in left if x))
    if c.get("robustness"):
        lines += ["", format_compare(c["robustness"], c["run_a"]["run_id"], c["run_b"]["run_id"])]
    lines += [
        "",
        f"(interval: {c['interval']}; exact McNemar p-values {c['correction']}-adjusted across the "
        f"{c['family_size']} clause(s) with at least {c['min_pairs']} pairs, a change reported where the "
        f"adjusted p < {c['alpha']:g}; pass = 1, fail and error = 0)",
    ]
    return "\n".join(lines)


def format_robustness(rows: list[dict[str, Any]], run_id: str) -> str:

    shown = [r for r in rows if r["n_attacks"] or r["n_original"]]
    table = [
        [
            r["clause_id"],
            r["mutator"],
            r["n_attacks"],
            pct(r["attack_pass_rate"]),
            r["n_original"],
            pct(r["original_pass_rate"]),
            pp(r["delta"]),
        ]
        for r in shown
    ]
    worst = min((r for r in rows if r["delta"] is not None), key=lambda r: r["delta"], default=None)
    lines = [
        f"robustness of run {run_id}: pass rate under attack vs on the same cases unattacked",
        "",
        format_table(["clause", "mutator", "attacks", "pass", "originals", "pass", "delta"], table),
        "",
    ]
    idle = sorted({r["clause_id"] for r in rows} - {r["clause_id"] for r in shown})
    if idle:
        lines.append(f"no decided verdicts under attack (pending-jury?): {', '.join(idle)}")
    if worst is not None and worst["delta"] < 0:
        lines.append(f"largest drop: {worst['clause_id']} under {worst['mutator']} ({pp(worst['delta'])})")
    lines.append(
        "decided verdicts only (errors count as fails); pending-jury, inconclusive and not-applicable are left out"
    )
    return "\n".join(lines)


def format_compare(rows: list[dict[str, Any]], base: str, other: str) -> str:

    table = [
        [
            r["clause_id"],
            r["mutator"],
            pct(r["base_attack_pass_rate"]),
            pct(r["other_attack_pass_rate"]),
            pp(r["attack_pass_rate_change"]),
            pp(r["base_delta"]),
            pp(r["other_delta"]),
        ]
        for r in rows
    ]
    return "\n".join(
        [
            f"robustness: {base} (base) vs {other} (other)",
            "",
            format_table(
                ["clause", "mutator", "base pass", "other pass", "change", "base delta", "other delta"], table
            ),
        ]
    )
