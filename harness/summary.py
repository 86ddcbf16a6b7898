"""The summary of one run that `run` and `show` print: clause results, decision, totals, panel, review."""

from __future__ import annotations

from typing import Any


def run_summary(store: Any, run_id: str, confidence: float | None = None) -> dict[str, Any]:
    from harness.jury.views import panel_summary
    from harness.review import enrich_summary

    run = store.run(run_id)
    summary = dict(
        run=run,
        clauses=store.clause_results(run_id),
        decision=store.decision(run_id),
        totals=store.run_totals(run_id),
        panel=panel_summary(store, run_id),
    )
    if summary["panel"] is not None:  # how much of the jury's silence is replies it could not read
        summary["unparseable"] = store.unparseable_counts(run_id)
    summary = enrich_summary(store, summary, confidence)  # latest human-review revision, failing cases, calibration
    from harness.trust import add_power_figures

    add_power_figures(summary["clauses"])  # cases for an 80% chance of deciding, beside cases_needed
    return summary
