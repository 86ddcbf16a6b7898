"""Plain-text rendering for the terminal: tables, numbers, run summaries, panel and comparison views."""

from __future__ import annotations

from typing import Any

from harness.report.cells import agent_label, clip, fmt_num, fmt_stat, format_table, more_cases, pct, pp
from harness.report.panel_text import (
    agreement_lines,
    dawid_skene_line,
    format_compare,
    format_comparison,
    format_panel,
    format_robustness,
    pair_table,
)
from harness.report.review_text import (
    MAX_REVIEW_LINES,
    failed_check_lines,
    format_calibration,
    format_calibration_groups,
    label_lines,
    summary_extra_lines,
)
from harness.trust import fmt_duration

__all__ = [
    "MAX_REVIEW_LINES",
    "agent_label",
    "agreement_lines",
    "clip",
    "dawid_skene_line",
    "failed_check_lines",
    "fmt_num",
    "fmt_stat",
    "format_calibration",
    "format_calibration_groups",
    "format_compare",
    "format_comparison",
    "format_panel",
    "format_robustness",
    "format_summary",
    "format_table",
    "freshness_text",
    "label_lines",
    "more_cases",
    "pair_table",
    "pct",
    "pp",
    "selection_lines",
    "summary_extra_lines",
]


def selection_lines(options: dict[str, Any]) -> list[str]:
    """What a run recorded about which cases it ran and at what clock (harness/selection.py, harness/clock.py)."""
    out = []
    if options.get("selection"):
        from harness.selection import CaseSelection

        out.append(f"selection: {CaseSelection.model_validate(options['selection']).describe()}")
    if options.get("clock"):
        out.append(f"clock: fixed by {options['clock']} (stored times are that clock's, not the real time)")
    return out


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
    headers = [
        "clause",
        "severity",
        "n",
        "pass",
        "fail",
        "err",
        "pending",
        "inconcl.",
        "rate",
        f"{s.get('confidence') or 0.95:.0%} CI",
        "threshold",
        "status",
        "more cases (80%)",
    ]
    rows = [
        [
            c["clause_id"],
            c["severity"],
            c["n"],
            c["passed"],
            c["failed"],
            c["errors"],
            c["pending"],
            c["inconclusive"],
            pct(c["rate"]),
            "-" if c["ci_low"] is None else f"{c['ci_low']:.0%}-{c['ci_high']:.0%}",
            pct(c["threshold"]),
            c["status"].upper() if c["status"] == "breached" else c["status"],
            more_cases(c),
        ]
        for c in s["clauses"]
    ]
    lines.append(format_table(headers, rows) if rows else "(no clause results: the run did not finish)")
    if s.get("panel"):
        lines += ["", format_panel(s["panel"])]
        bad = s.get("unparseable") or {}
        if bad.get("votes"):
            lines.append(
                f"unreadable judge replies: {bad['votes']} vote(s) abstained; {bad['inconclusive']} "
                "verdict(s) inconclusive with such a vote"
            )
    d = s["decision"]
    lines += summary_extra_lines(s)  # human-review revision, judges against human labels
    if d:
        lines += ["", f"decision: {d['decision'].upper()}"] + [f"  - {r}" for r in d["reasons"]]
    return "\n".join(lines)


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
