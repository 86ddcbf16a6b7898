"""Plain-text rendering for the terminal: tables, numbers, run summaries, panel and comparison views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.jury_views import ballots_line, judge_rows
from harness.trust import fmt_duration


def agent_label(run: dict[str, Any]) -> str:
    return f"{run['agent']}" + (f" {run['agent_version']}" if run.get("agent_version") else "")


def pct(value: Any) -> str:
    return "-" if value is None else f"{value:.0%}"


def pp(value: Any) -> str:
    """A difference of rates in percentage points."""
    return "-" if value is None else f"{value * 100:+.0f} pp"


def format_summary(s: dict[str, Any]) -> str:
    run, totals = s["run"], s["totals"]
    lines = [
        f"run {run['run_id']}  [{run['status']}]  pact {run['pact_id']} v{run['pact_version']} "
        f"({run['pact_hash'][:12]})  suite {run['suite_id']}",
        f"agent {agent_label(run)}  target {run['target_spec']}",
        f"cases {run['n_done']}/{run['n_cases']}  target errors {totals['target_errors']}  "
        f"tokens {totals['tokens_in'] or 0}/{totals['tokens_out'] or 0}  cost "
        + (f"${totals['cost_usd']:.4f}" if totals["priced"] else "unknown"),
        "",
    ]
    headers = ["clause", "severity", "n", "pass", "fail", "err", "pending", "inconcl.", "rate",
               f"{s.get('confidence') or 0.95:.0%} CI", "threshold", "status", "more cases"]
    rows = [[c["clause_id"], c["severity"], c["n"], c["passed"], c["failed"], c["errors"],
             c["pending"], c["inconclusive"], pct(c["rate"]),
             "-" if c["ci_low"] is None else f"{c['ci_low']:.0%}-{c['ci_high']:.0%}", pct(c["threshold"]),
             c["status"].upper() if c["status"] == "breached" else c["status"],
             "-" if c.get("cases_needed") is None else c["cases_needed"]] for c in s["clauses"]]
    lines.append(format_table(headers, rows) if rows else "(no clause results: the run did not finish)")
    if s.get("panel"):

        lines += ["", format_panel(s["panel"])]
        bad = s.get("unparseable") or {}
        if bad.get("votes"):
            lines.append(f"unreadable judge replies: {bad['votes']} vote(s) abstained; {bad['inconclusive']} "
                         "verdict(s) inconclusive with such a vote")
    d = s["decision"]
    lines += summary_extra_lines(s)  # human-review revision, judges against human labels
    if d:
        lines += ["", f"decision: {d['decision'].upper()}"] + [f"  - {r}" for r in d["reasons"]]
    return "\n".join(lines)


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def fmt_num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _cost(total: Any, unpriced: int) -> str:
    if total is None:
        return "unknown"
    return f"${total:.4f}" + (f" (+{unpriced} unpriced)" if unpriced else "")


def format_panel(p: dict[str, Any]) -> str:

    lines = [
        f"panel {p['panel_id']} ({p['panel_hash'][:12]}), method {p['method']}: {ballots_line(p)}",
        f"agreement: {fmt_num(p['percent_agreement'], '{:.0%}')} pairwise; Fleiss kappa {fmt_num(p['fleiss_kappa'])}; "
        f"Krippendorff alpha nominal {fmt_num(p['alpha_nominal'])}, ordinal {fmt_num(p['alpha_ordinal'])}, "
        f"interval {fmt_num(p['alpha_interval'])}",
    ]
    rows = [[j["judge"], j.get("model", ""), j["n"], fmt_num(j["pass_rate"], "{:.0%}"), fmt_num(j["abstain_rate"], "{:.0%}"),
             fmt_num(j["agreement_with_panel"], "{:.0%}")
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
        lines.append(format_table([""] + names, [[a] + [fmt_num((kappa.get(a) or {}).get(b)) if a != b else "1"
                                                        for b in names] for a in names]))
    return "\n".join(lines)


def clip(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _run_line(label: str, r: dict[str, Any]) -> str:
    version = f" {r['agent_version']}" if r.get("agent_version") else ""
    return (f"{label}: run {r['run_id']}  {r['agent']}{version}  pact {r['pact_id']} v{r['pact_version']}  "
            f"{r['started_at']:%Y-%m-%d %H:%M}  [{r['status']}]")


def format_comparison(c: dict[str, Any]) -> str:

    lines = [_run_line("A", c["run_a"]), _run_line("B", c["run_b"]), ""]
    rows = [[k["clause_id"], k["n_pairs"], pct(k["rate_a"]), pct(k["rate_b"]), pp(k["diff"]),
             "-" if k["ci_low"] is None else f"{k['ci_low'] * 100:+.0f} to {k['ci_high'] * 100:+.0f} pp",
             "-" if k["mcnemar_p"] is None else f"{k['mcnemar_p']:.3g}", k["n_regressed"], k["n_improved"],
             k["conclusion"]] for k in c["clauses"]]
    lines.append(format_table(["clause", "pairs", "A", "B", "B-A", "95% CI (bootstrap)", "McNemar p", "regressed",
                               "improved", "conclusion"], rows) if rows else "no clause verdicts to compare")
    for k in c["clauses"]:
        lines += ["", f"{k['clause_id']}: {k['summary']}"]
        if k["regressed"]:
            lines.append(f"  regressed (pass in A, fail in B): {', '.join(k['regressed'])}")
        if k["improved"]:
            lines.append(f"  improved (fail in A, pass in B): {', '.join(k['improved'])}")
        left = [f"{k['undecided']} undecided in a run" if k["undecided"] else "",
                f"{k['only_in_a']} only in A" if k["only_in_a"] else "",
                f"{k['only_in_b']} only in B" if k["only_in_b"] else ""]
        if any(left):
            lines.append("  not paired: " + ", ".join(x for x in left if x))
    if c.get("robustness"):
        lines += ["", format_compare(c["robustness"], c["run_a"]["run_id"], c["run_b"]["run_id"])]
    lines += ["", f"(paired bootstrap: {c['resamples']} resamples, seed {c['seed']}; "
                  "pass = 1, fail and error = 0)"]
    return "\n".join(lines)


def format_robustness(rows: list[dict[str, Any]], run_id: str) -> str:

    shown = [r for r in rows if r["n_attacks"] or r["n_original"]]
    table = [[r["clause_id"], r["mutator"], r["n_attacks"], pct(r["attack_pass_rate"]), r["n_original"],
              pct(r["original_pass_rate"]), pp(r["delta"])] for r in shown]
    worst = min((r for r in rows if r["delta"] is not None), key=lambda r: r["delta"], default=None)
    lines = [f"robustness of run {run_id}: pass rate under attack vs on the same cases unattacked", "",
             format_table(["clause", "mutator", "attacks", "pass", "originals", "pass", "delta"], table), ""]
    idle = sorted({r["clause_id"] for r in rows} - {r["clause_id"] for r in shown})
    if idle:
        lines.append(f"no decided verdicts under attack (pending-jury?): {', '.join(idle)}")
    if worst is not None and worst["delta"] < 0:
        lines.append(f"largest drop: {worst['clause_id']} under {worst['mutator']} ({pp(worst['delta'])})")
    lines.append("decided verdicts only (errors count as fails); pending-jury, inconclusive and not-applicable "
                 "are left out")
    return "\n".join(lines)


def format_compare(rows: list[dict[str, Any]], base: str, other: str) -> str:

    table = [[r["clause_id"], r["mutator"], pct(r["base_attack_pass_rate"]), pct(r["other_attack_pass_rate"]),
              pp(r["attack_pass_rate_change"]), pp(r["base_delta"]), pp(r["other_delta"])] for r in rows]
    return "\n".join([f"robustness: {base} (base) vs {other} (other)", "",
                      format_table(["clause", "mutator", "base pass", "other pass", "change", "base delta",
                                    "other delta"], table)])


def format_calibration(stats: Sequence[dict[str, Any]]) -> str:

    def f(x: Any, fmt: str = "{:.0%}") -> str:
        return "-" if x is None else fmt.format(x)

    rows = [[s["judge"], s["n"], s["not_counted"], f"{f(s['accuracy'])}" + (
        f" ({s['accuracy_ci_low']:.0%}-{s['accuracy_ci_high']:.0%})" if s["accuracy_ci_low"] is not None else ""),
             f(s["kappa"], "{:.2f}"), f(s["sensitivity"]), f(s["specificity"])] for s in stats]
    return format_table(["judge", "compared", "not compared", "agrees with humans (95% CI)", "Cohen's kappa",
                         "sensitivity", "specificity"], rows)


def summary_extra_lines(s: dict[str, Any]) -> list[str]:
    """Lines `format_summary` appends: review revision and judge calibration."""
    lines = []
    if s.get("revision"):
        labelled = sum(c.get("human_labels", 0) for c in s["clauses"])
        lines += ["", f"human review: revision {s['revision']}, {labelled} verdict(s) set by reviewers "
                      "(the jury's original results are kept)"]
    if s.get("calibration") and any(c["labelled"] for c in s["calibration"]):
        lines += ["", "judges against human labels (not compared: abstained, or the panel was inconclusive):",
                  format_calibration(s["calibration"])]
    return lines


def freshness_text(a: Any) -> str:
    with_evidence = [s for s in a.states if s.age_s is not None]
    missing = len(a.states) - len(with_evidence)
    tail = f", {missing} without evidence" if missing else ""
    if not with_evidence:
        return "no evidence"
    stale = [s for s in with_evidence if s.stale]
    oldest = max(with_evidence, key=lambda s: s.age_s)
    if stale:
        return f"STALE {len(stale)}/{len(a.states)} clauses (oldest {fmt_duration(oldest.age_s)}){tail}"
    left = (a.next_expiry - a.now).total_seconds() if a.next_expiry else None
    return f"fresh (oldest {fmt_duration(oldest.age_s)}, stale in {fmt_duration(left)}){tail}"
