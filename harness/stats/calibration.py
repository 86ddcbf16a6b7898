"""Judges against human labels: accuracy, Cohen's kappa, sensitivity and specificity, per selection of items.

Which items were labelled decides what the figures mean. The disagreement queue holds the verdicts the panel split
on or could not decide: the hard cases, where every judge looks worse than it is (judges right 90/75/60% of the
time score about 85/59/33% there). A seeded random audit sample of the panel's verdicts estimates each judge's
accuracy on the run without that bias. Each selection is reported on its own, with how it was chosen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

LABELS = ("pass", "fail")

SELECTIONS = {
    "audit": "random audit sample: panel verdicts drawn uniformly at random (review export --audit N --seed S); "
    "unbiased estimates for the run",
    "queue": "disagreement queue: verdicts the panel split on or could not decide; hard cases, so every judge "
    "looks worse here than on the run",
    "all": "every labelled panel verdict, however it was chosen (mixed selection)",
}


def kappa(table: dict[tuple[str, str], int]) -> float | None:
    """Cohen's kappa of a 2x2 table {(judge label, human label): count}; None when chance agreement is 1."""
    n = sum(table.values())
    if n == 0:
        return None
    po = sum(v for (a, b), v in table.items() if a == b) / n
    pe = sum(
        (sum(v for (a, _), v in table.items() if a == lab) / n)
        * (sum(v for (_, b), v in table.items() if b == lab) / n)
        for lab in LABELS
    )
    if pe >= 1 - 1e-12:
        return None
    return (po - pe) / (1 - pe)


def calibration(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per judge (and the panel verdict): agreement with human labels, Cohen's kappa, sensitivity, specificity."""
    from harness.trust import wilson

    pairs: dict[str, list[tuple[str | None, str]]] = {}
    seen_items: set[tuple[str, str, str]] = set()
    panel: list[tuple[str | None, str]] = []
    for r in rows:
        item = (r["run_id"], r["case_id"], r["clause_id"])
        if item not in seen_items:
            seen_items.add(item)
            panel.append((r["panel"], r["human"]))
        if r["judge"] is not None:
            pairs.setdefault(r["judge"], []).append((r["vote"], r["human"]))
    out = []
    for name, items in [*sorted(pairs.items()), ("(panel)", panel)]:
        valid = [(a, h) for a, h in items if a in LABELS]
        table = Counter(valid)
        n = len(valid)
        agree = sum(1 for a, h in valid if a == h)
        low, high = wilson(agree, n)
        human_pass = sum(1 for _, h in valid if h == "pass")
        human_fail = n - human_pass
        out.append(
            dict(
                judge=name,
                labelled=len(items),
                n=n,
                not_counted=len(items) - n,
                agree=agree,
                accuracy=agree / n if n else None,
                accuracy_ci_low=low,
                accuracy_ci_high=high,
                kappa=kappa(dict(table)),
                sensitivity=table[("pass", "pass")] / human_pass if human_pass else None,
                specificity=table[("fail", "fail")] / human_fail if human_fail else None,
            )
        )
    return out


def _members(rows: Sequence[dict[str, Any]], selection: str) -> list[dict[str, Any]]:
    if selection == "audit":
        return [r for r in rows if r.get("selection") == "audit"]
    if selection == "queue":
        return [r for r in rows if r.get("in_queue")]
    return list(rows)


def by_selection(rows: Sequence[dict[str, Any]], population: int | None = None) -> list[dict[str, Any]]:
    """Calibration on the audit sample, on the disagreement queue and on every label, each with its selection
    stated; a selection with no labelled item is left out (every label is always there). `population`: how many
    panel verdicts the audit sample was drawn from, when one run is reported."""
    out = []
    for selection, description in SELECTIONS.items():
        members = _members(rows, selection)
        items = {(r["run_id"], r["case_id"], r["clause_id"]) for r in members}
        if not items and selection != "all":
            continue
        seeds = sorted({int(r["audit_seed"]) for r in members if r.get("audit_seed") is not None})
        stated = description
        if selection == "audit":
            drawn = f" of {population} panel verdicts" if population else ""
            stated += f" ({len(items)} labelled{drawn}, seed {', '.join(map(str, seeds)) or 'unknown'})"
        out.append(
            dict(selection=selection, description=stated, n_items=len(items), seeds=seeds, judges=calibration(members))
        )
    return out
