"""Plain-text rendering for the terminal: tables, numbers, run summaries, panel and comparison views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.jury_views import ballots_line, judge_rows
from harness.trust import fmt_duration


def selection_lines(options: dict[str, Any]) -> list[str]:
    """What a run recorded about which cases it ran and at what clock (harness/selection.py, harness/clock.py)."""
    out = []
    if options.get("selection"):
        from harness.selection import CaseSelection

        out.append(f"selection: {CaseSelection.model_validate(options['selection']).describe()}")
    if options.get("clock"):
        out.append(f"clock: fixed by {options['clock']} (stored times are that clock's, not the real time)")
    return out


def agent_label(run: Mapping[str, Any]) -> str:
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
    if run["status"] in ("failed", "aborted") and run.get("status_detail"):
        lines[-1:-1] = [f"{run['status']}: {run['status_detail']}"]  # why, where the reader looks first
    lines[-1:-1] = selection_lines(run.get("options") or {})
    headers = ["clause", "severity", "n", "pass", "fail", "err", "pending", "inconcl.", "rate",
               f"{s.get('confidence') or 0.95:.0%} CI", "threshold", "status", "more cases (80%)"]
    rows = [[c["clause_id"], c["severity"], c["n"], c["passed"], c["failed"], c["errors"],
             c["pending"], c["inconclusive"], pct(c["rate"]),
             "-" if c["ci_low"] is None else f"{c['ci_low']:.0%}-{c['ci_high']:.0%}", pct(c["threshold"]),
             c["status"].upper() if c["status"] == "breached" else c["status"],
             more_cases(c)] for c in s["clauses"]]
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


def more_cases(c: dict[str, Any]) -> str:
    """'12 (31)': cases that decide the clause if the observed rate holds, and those for an 80% chance of it."""
    if c.get("cases_needed") is None:
        return "-"
    power = c.get("cases_needed_power")
    return f"{c['cases_needed']}" + ("" if power is None else f" ({power})")


def format_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text table (rich measures the cells, so wide characters line up): no colour, no markup, no wrapping,
    a dashed rule under the header, columns two spaces apart, for terminals, pipes and logs alike."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n", ascii=True), show_edge=False,
                  pad_edge=False, padding=(0, 1, 0, 0), header_style=None, highlight=False)
    for h in headers:
        table.add_column(h, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*[str(c) for c in row])
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, markup=False, emoji=False, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def fmt_num(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _cost(total: Any, unpriced: int) -> str:
    if total is None:
        return "unknown"
    return f"${total:.4f}" + (f" (+{unpriced} unpriced)" if unpriced else "")


def fmt_stat(value: Any, ci: Any = None, n: Any = None, min_items: Any = None) -> str:
    """A statistic with its interval and n, `(few items)` when n is below the minimum: 0.45 (0.30 to 0.60; n 38)."""
    if value is None:
        return "-" if n is None else f"- (n {n})"
    inner = [f"{ci[0]:.2f} to {ci[1]:.2f}"] if ci else []
    if n is not None:
        inner.append(f"n {n}")
    text = f"{value:.2f}" + (f" ({'; '.join(inner)})" if inner else "")
    return text + (" (few items)" if min_items is not None and n is not None and n < min_items else "")


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
        lines.append(f"  95% intervals: percentile bootstrap over items ({p['bootstrap_resamples']} resamples, seed "
                     f"{p['bootstrap_seed']}); Cohen's kappa: asymptotic standard error; (few items) = fewer than "
                     f"{low} items, not to be trusted")
    lines.append(f"  agreement with the panel: {p.get('agreement_reference') or 'full panel'}")
    ds = p.get("dawid_skene")
    if ds:
        lines.append("  " + dawid_skene_line(ds))
    return lines


def dawid_skene_line(ds: dict[str, Any]) -> str:
    state = (f"converged in {ds['iterations']} iterations" if ds["converged"]
             else f"NOT converged after {ds['max_iter']} iterations")
    return (f"Dawid-Skene: {state} (tolerance {ds['tol']:g}); kept the {ds['best_start']} start of {ds['starts']} "
            f"({ds['starts_converged']} converged, {ds['starts_at_best']} reached its optimum"
            + ("" if ds.get("objective") is None else f", log-posterior {ds['objective']:.2f}")
            + ("" if ds.get("best_objective") is None or ds["best_objective"] - ds["objective"] <= 1e-6
               else f"; best of any start {ds['best_objective']:.2f}") + ")")


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
    rows = [[f"{q['a']} / {q['b']}", q["n"], fmt_num(q["percent"], "{:.0%}"),
             fmt_stat(q["kappa"], q["kappa_ci"], None) + (" (few items)" if q["small_sample"] else ""),
             fmt_num(q["ac1"]), fmt_num(q["pabak"])] for q in p["pairs"]]
    return format_table(["pair", "n", "agree", "Cohen's kappa (95% CI)", "AC1", "PABAK"], rows) + (
        f"\n(few items: fewer than {low} shared items)" if any(q["small_sample"] for q in p["pairs"]) else "")


def format_panel(p: dict[str, Any]) -> str:

    lines = [f"panel {p['panel_id']} ({p['panel_hash'][:12]}), method {p['method']}: {ballots_line(p)}",
             *agreement_lines(p)]
    rows = [[j["judge"], j.get("model", ""), j["n"], fmt_num(j["pass_rate"], "{:.0%}"), fmt_num(j["abstain_rate"], "{:.0%}"),
             _agrees(j), j.get("calls", 0), j.get("cached", 0), f"{j.get('tokens_in') or 0}/{j.get('tokens_out') or 0}",
             _cost(j.get("cost_usd"), j.get("unpriced_calls", 0))] for j in judge_rows(p)]
    lines.append(format_table(["judge", "model", "votes", "pass", "abstain", "agrees w/ others", "calls", "cached",
                               "tokens", "cost"], rows))
    total = [c["cost_usd"] for c in p["costs"] if c["cost_usd"] is not None]
    unpriced = sum(c["unpriced_calls"] for c in p["costs"])
    calls = sum(c["calls"] for c in p["costs"])
    lines.append(f"jury cost: {_cost(sum(total) if total else None, unpriced)} over {calls} calls "
                 f"({sum(c['cached'] for c in p['costs'])} votes answered from the cache); by clause: "
                 + ", ".join(f"{c['clause_id']} {_cost(c['cost_usd'], c['unpriced_calls'])}" for c in p["clause_costs"]))
    if p.get("pairs"):
        lines += ["pairwise Cohen's kappa, AC1 and PABAK:", pair_table(p)]
        return "\n".join(lines)
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
             "-" if k["mcnemar_p"] is None else f"{k['mcnemar_p']:.3g}",
             "-" if k.get("mcnemar_p_adjusted") is None else f"{k['mcnemar_p_adjusted']:.3g}",
             k["n_regressed"], k["n_improved"], k["conclusion"]] for k in c["clauses"]]
    lines.append(format_table(["clause", "pairs", "A", "B", "B-A", "95% CI (Newcombe)", "McNemar p",
                               f"{c.get('correction', 'Holm')} p", "regressed", "improved", "conclusion"], rows)
                 if rows else "no clause verdicts to compare")
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
    lines += ["", f"(interval: {c['interval']}; exact McNemar p-values {c['correction']}-adjusted across the "
                  f"{c['family_size']} clause(s) with at least {c['min_pairs']} pairs, a change reported where the "
                  f"adjusted p < {c['alpha']:g}; pass = 1, fail and error = 0)"]
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
    lines += failed_check_lines(s.get("failed_checks") or [])
    lines += label_lines(s.get("labels") or [])
    if s.get("calibration_by_selection"):
        lines += ["", "judges against human labels (not compared: abstained, or the panel was inconclusive), "
                      "per selection of the labelled items:", format_calibration_groups(s["calibration_by_selection"])]
    elif s.get("calibration") and any(c["labelled"] for c in s["calibration"]):
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


# ---------------------------------------------------------------- human review and failed checks

MAX_REVIEW_LINES = 30  # failed checks and labels listed by `show`; --json has them all


def format_calibration_groups(groups: Sequence[dict[str, Any]]) -> str:
    """One calibration table per selection of labelled items, each headed by how its items were chosen."""
    return "\n\n".join(f"{g['selection']}: {g['n_items']} labelled item(s); {g['description']}\n"
                        + format_calibration(g["judges"]) for g in groups)


def failed_check_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The verdicts deterministic checks failed, one line each: case, clause, the failing check and its detail."""
    if not rows:
        return []
    table = [[r["case_id"], r["clause_id"], r["outcome"],
              ("not " if r.get("negated") else "") + (r.get("check") or r.get("decided_by") or "-"),
              clip(r.get("detail") or "", 80)] for r in rows[:MAX_REVIEW_LINES]]
    more = len(rows) - len(table)
    cases = len({r["case_id"] for r in rows})
    return ["", f"failed deterministic checks ({cases} case(s)):",
            format_table(["case", "clause", "outcome", "check", "detail"], table)] + (
        [f"... and {more} more (pactjury show RUN --json lists them all)"] if more > 0 else [])


def label_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each human label: the item, the label against the jury's verdict, the reviewer and the note."""
    if not rows:
        return []
    table = [[r["case_id"], r["clause_id"], r["label"], r["jury_verdict"], r["reviewer"], r.get("selection") or "-",
              clip(r.get("note") or "", 60)] for r in rows[:MAX_REVIEW_LINES]]
    more = len(rows) - len(table)
    return ["", "human labels (latest per item):",
            format_table(["case", "clause", "label", "jury", "reviewer", "selection", "note"], table)] + (
        [f"... and {more} more"] if more > 0 else [])
