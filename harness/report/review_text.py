"""Terminal text of human review: labels, failed checks, judges against human labels per selection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report.cells import clip, format_table


def format_calibration(stats: Sequence[dict[str, Any]]) -> str:

    def f(x: Any, fmt: str = "{:.0%}") -> str:
        return "-" if x is None else fmt.format(x)

    rows = [
        [
            s["judge"],
            s["n"],
            s["not_counted"],
            f"{f(s['accuracy'])}"
            + (
                f" ({s['accuracy_ci_low']:.0%}-{s['accuracy_ci_high']:.0%})" if s["accuracy_ci_low"] is not None else ""
            ),
            f(s["kappa"], "{:.2f}"),
            f(s["sensitivity"]),
            f(s["specificity"]),
        ]
        for s in stats
    ]
    return format_table(
        [
            "judge",
            "compared",
            "not compared",
            "agrees with humans (95% CI)",
            "Cohen's kappa",
            "sensitivity",
            "specificity",
        ],
        rows,
    )


def summary_extra_lines(s: dict[str, Any]) -> list[str]:
    """Lines `format_summary` appends: review revision and judge calibration."""
    lines = []
    if s.get("revision"):
        labelled = sum(c.get("human_labels", 0) for c in s["clauses"])
        lines += [
            "",
            f"human review: revision {s['revision']}, {labelled} verdict(s) set by reviewers "
            "(the jury's original results are kept)",
        ]
    lines += failed_check_lines(s.get("failed_checks") or [])
    lines += label_lines(s.get("labels") or [])
    if s.get("calibration_by_selection"):
        lines += [
            "",
            "judges against human labels (not compared: abstained, or the panel was inconclusive), "
            "per selection of the labelled items:",
            format_calibration_groups(s["calibration_by_selection"]),
        ]
    elif s.get("calibration") and any(c["labelled"] for c in s["calibration"]):
        lines += [
            "",
            "judges against human labels (not compared: abstained, or the panel was inconclusive):",
            format_calibration(s["calibration"]),
        ]
    return lines


MAX_REVIEW_LINES = 30  # failed checks and labels listed by `show`; --json has them all


def format_calibration_groups(groups: Sequence[dict[str, Any]]) -> str:
    """One calibration table per selection of labelled items, each headed by how its items were chosen."""
    return "\n\n".join(
        f"{g['selection']}: {g['n_items']} labelled item(s); {g['description']}\n" + format_calibration(g["judges"])
        for g in groups
    )


def failed_check_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The verdicts deterministic checks failed, one line each: case, clause, the failing check and its detail."""
    if not rows:
        return []
    table = [
        [
            r["case_id"],
            r["clause_id"],
            r["outcome"],
            ("not " if r.get("negated") else "") + (r.get("check") or r.get("decided_by") or "-"),
            clip(r.get("detail") or "", 80),
        ]
        for r in rows[:MAX_REVIEW_LINES]
    ]
    more = len(rows) - len(table)
    cases = len({r["case_id"] for r in rows})
    return [
        "",
        f"failed deterministic checks ({cases} case(s)):",
        format_table(["case", "clause", "outcome", "check", "detail"], table),
    ] + ([f"... and {more} more (pactjury show RUN --json lists them all)"] if more > 0 else [])


def label_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Each human label: the item, the label against the jury's verdict, the reviewer and the note."""
    if not rows:
        return []
    table = [
        [
            r["case_id"],
            r["clause_id"],
            r["label"],
            r["jury_verdict"],
            r["reviewer"],
            r.get("selection") or "-",
            clip(r.get("note") or "", 60),
        ]
        for r in rows[:MAX_REVIEW_LINES]
    ]
    more = len(rows) - len(table)
    return [
        "",
        "human labels (latest per item):",
        format_table(["case", "clause", "label", "jury", "reviewer", "selection", "note"], table),
    ] + ([f"... and {more} more"] if more > 0 else [])
