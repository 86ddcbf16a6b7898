"""What each page of `pactjury view` shows, read from the store: plain dicts for the templates, no web framework."""

from __future__ import annotations

import json
from typing import Any

from harness.errors import ConfigError

DEFAULT_AUDIT = 20  # items in the audit page's sample unless ?n= says otherwise


def runs_page(store: Any, limit: int = 200) -> dict[str, Any]:
    runs = store.runs(limit)
    labelled = set(store.labelled_runs())
    for r in runs:
        r["labelled"] = r["run_id"] in labelled
    return dict(runs=runs)


def run_page(store: Any, run_id: str) -> dict[str, Any]:
    from harness.review import audit_population
    from harness.summary import run_summary

    summary = run_summary(store, run_id)
    queue = store.review_queue(run_id)
    return dict(
        summary=summary, run=summary["run"], queue_size=len(queue), panel_verdicts=len(audit_population(store, run_id))
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(
            f"[{m.get('role', '?')}] {m.get('content', '')}" if isinstance(m, dict) else str(m) for m in value
        )
    return json.dumps(value, indent=2, ensure_ascii=False)


def _card(it: dict[str, Any], labels: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """A review item as the card template draws it: texts, the judges' votes side by side, its current label."""
    key = (it["case_id"], it["clause_id"])
    labelled = [v["label"] for v in it["votes"] if v["label"] != "abstain"]
    verdict = it["jury_verdict"]
    return dict(
        it,
        key=f"{it['case_id']}--{it['clause_id']}",
        input_text=_text(it["input"]),
        expected_text=json.dumps(it["expected"], indent=2, ensure_ascii=False) if it["expected"] else "",
        dissent=sorted({v["judge"] for v in it["votes"] if v["label"] not in ("abstain", verdict)}),
        n_pass=labelled.count("pass"),
        n_fail=labelled.count("fail"),
        human=labels.get(key),
    )


def _labels(store: Any, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    from harness.report import _in_utc

    return {
        (r["case_id"], r["clause_id"]): {**r, "labelled_at": _in_utc(r["labelled_at"])}
        for r in store.latest_labels(run_id)
    }


def queue_page(store: Any, run_id: str) -> dict[str, Any]:
    from harness.review import queue

    run = store.run(run_id)
    labels = _labels(store, run_id)
    cards = [_card(it, labels) for it in queue(store, run_id)]
    return dict(
        run=run,
        cards=cards,
        selection="queue",
        title="Disagreement queue",
        lede="Verdicts the panel split on or could not decide, undecided and most divided first. "
        "Labels given here are calibration on the queue: hard cases, biased against every judge.",
    )


def audit_page(store: Any, run_id: str, n: int, seed: int) -> dict[str, Any]:
    from harness.review import audit_population, queue

    if n < 1:
        raise ConfigError("the audit sample needs n of at least 1")
    run = store.run(run_id)
    labels = _labels(store, run_id)
    cards = [_card(it, labels) for it in queue(store, run_id, n, seed) if it["selection"] == "audit"]
    population = len(audit_population(store, run_id))
    return dict(
        run=run,
        cards=cards,
        selection="audit",
        seed=seed,
        n=n,
        title="Audit sample",
        lede=f"{len(cards)} of the run's {population} panel verdicts drawn uniformly at random (seed {seed}). "
        "Labels given here estimate each judge's accuracy on the run without the queue's bias.",
    )


def item_page(store: Any, run_id: str, case_id: str, clause_id: str) -> dict[str, Any]:
    from harness.review import item

    run = store.run(run_id)
    it = item(store, run_id, case_id, clause_id)
    if it is None:
        raise ConfigError(f"run {run_id} has no verdict for case {case_id!r}, clause {clause_id!r}")
    return dict(
        run=run,
        cards=[_card(it, _labels(store, run_id))],
        selection=it["selection"],
        title=f"{case_id} / {clause_id}",
        lede="",
    )


def clause_page(store: Any, run_id: str, clause_id: str) -> dict[str, Any]:
    run = store.run(run_id)
    verdicts = [v for v in store.effective_verdicts(run_id) if v["clause_id"] == clause_id]
    if not verdicts:
        raise ConfigError(f"run {run_id} has no verdicts for clause {clause_id!r}")
    _, results = store.current_clause_results(run_id)
    result = next((r for r in results if r["clause_id"] == clause_id), None)
    return dict(run=run, clause_id=clause_id, verdicts=verdicts, result=result)


def calibration_page(store: Any, run_id: str) -> dict[str, Any]:
    from harness.review import run_calibration

    return dict(run=store.run(run_id), groups=run_calibration(store, run_id), labels=store.latest_labels(run_id))
