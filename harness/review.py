"""Human review: export the jury's inconclusive and split cases, import reviewers' labels, and measure each
judge against them.

Labels are append-only rows in `human_labels`; the latest label of a (run, case, clause) overrides its verdict.
An import appends a new revision of each touched run's clause results and decision (the originals stay), then
records the agent's standing decision and trust score again.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, RunNotFound

LABELS = ("pass", "fail")
MAX_FAILING = 20  # failing case ids listed per clause in a run summary (failing_total has the count)
REVIEW_FIELDS = ("label", "reviewer", "note")
BASE_FIELDS = ("run_id", "case_id", "clause_id", "claim", "threshold", "jury_verdict", "split", "panel_score",
               "method", "input", "system", "context", "expected", "output", "tool_calls", "target_error", "checks",
               "votes")


# ---------------------------------------------------------------- export


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value or [])


def queue(store: Any, run_id: str) -> list[dict[str, Any]]:
    """The review queue of a run: inconclusive and split jury verdicts, with everything a reviewer needs."""
    from harness.decision import pact_of_run

    run = store.run(run_id)
    try:
        pact = pact_of_run(store, run)
        claims = {c.id: (c.claim, c.threshold, c.rubric) for c in pact.clauses}
    except ConfigError:
        claims = {}
    items = []
    for r in store.review_queue(run_id):
        claim, threshold, rubric = claims.get(r["clause_id"], ("", None, None))
        items.append(dict(run_id=r["run_id"], case_id=r["case_id"], clause_id=r["clause_id"], claim=claim,
                          rubric=rubric, threshold=threshold, jury_verdict=r["jury_verdict"], split=r["split"],
                          panel_score=r["panel_score"], method=r["method"], input=r["input"], system=r["system"],
                          context=r["context"], expected=r["expected"], output=r["output"],
                          tool_calls=r["tool_calls"], target_error=r["target_error"], checks=r["checks"],
                          votes=r["votes"], label="", reviewer="", note=""))
    return items


def _judges(items: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({v["judge"] for it in items for v in it["votes"]})


def to_csv(items: Sequence[dict[str, Any]]) -> str:
    judges = _judges(items)
    fields = list(BASE_FIELDS) + [f for j in judges for f in (f"vote:{j}", f"rationale:{j}")] + list(REVIEW_FIELDS)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for it in items:
        row: dict[str, Any] = {k: it.get(k) for k in BASE_FIELDS}
        row["input"] = _input_text(it["input"])
        for k in ("context", "expected", "tool_calls", "checks", "votes"):
            row[k] = json.dumps(it[k], ensure_ascii=False)
        for j in judges:
            mine = [v for v in it["votes"] if v["judge"] == j]
            row[f"vote:{j}"] = " / ".join(v["label"] + (f" {v['score']:g}" if v["score"] is not None else "")
                                          for v in mine)
            row[f"rationale:{j}"] = " | ".join(v["abstain_reason"] or v["rationale"] or "" for v in mine)
        row.update(label="", reviewer="", note="")
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def to_jsonl(items: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(it, ensure_ascii=False, default=str) + "\n" for it in items)


# ---------------------------------------------------------------- import


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, fields) for each data row: CSV rows count from 1 after the header; JSONL lines from 1."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if str(path).endswith((".jsonl", ".ndjson", ".json")) or text.lstrip().startswith("{"):
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}: row {i}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}: row {i}: expected a JSON object")
            rows.append((i, obj))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in ("run_id", "case_id", "clause_id", "label") if f not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"{path}: missing column {missing[0]!r} (export the queue with `pactjury review export`)")
    return [(i, row) for i, row in enumerate(reader, 1)]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def validate(store: Any, path: Path, rows: Sequence[tuple[int, dict[str, Any]]],
             default_reviewer: str | None) -> list[dict[str, Any]]:
    """Labelled rows as human_labels rows; any bad row is a one-line error naming the file and row."""
    clauses_of: dict[str, dict[str, set[str]]] = {}
    out = []
    for n, row in rows:
        label = _text(row.get("label")).lower()
        if not label:
            continue  # not reviewed yet
        where = f"{path}: row {n}"
        if label not in LABELS:
            raise ConfigError(f"label {row.get('label')!r} must be pass or fail", where=where)
        run_id, case_id, clause_id = (_text(row.get(k)) for k in ("run_id", "case_id", "clause_id"))
        for key, value in (("run_id", run_id), ("case_id", case_id), ("clause_id", clause_id)):
            if not value:
                raise ConfigError(f"missing {key}", where=where)
        if run_id not in clauses_of:
            try:
                run = store.run(run_id)
            except RunNotFound:
                raise ConfigError(f"unknown run {run_id!r}", where=where) from None
            if run["status"] != "completed":
                raise ConfigError(f"run {run_id} is not completed (finish it with pactjury run --resume {run_id})",
                                  where=where)
            clauses_of[run_id] = store.case_clauses(run_id)
        cases = clauses_of[run_id]
        if case_id not in cases:
            raise ConfigError(f"unknown case {case_id!r} in run {run_id}", where=where)
        if clause_id not in cases[case_id]:
            raise ConfigError(f"unknown clause {clause_id!r} for case {case_id!r} in run {run_id} "
                              f"(its clauses: {', '.join(sorted(cases[case_id])) or 'none'})", where=where)
        reviewer = _text(row.get("reviewer")) or (default_reviewer or "")
        if not reviewer:
            raise ConfigError("no reviewer (fill the reviewer column or pass --reviewer NAME)", where=where)
        out.append(dict(run_id=run_id, case_id=case_id, clause_id=clause_id, label=label, reviewer=reviewer,
                        note=_text(row.get("note")) or None, source=str(path), source_row=n))
    if not out:
        raise ConfigError(f"{path}: no row has a label (fill the label column with pass or fail)")
    return out


def revise(store: Any, run_id: str, import_id: str) -> dict[str, Any]:
    """A new revision of the run's clause results and decision from its verdicts with human labels applied."""
    from harness.clock import now
    from harness.decision import after_run, pact_of_run, run_decision
    from harness.trust import DEFAULT_CONFIDENCE

    run = store.run(run_id)
    pact = pact_of_run(store, run)
    previous_rev, previous = store.current_clause_results(run_id)
    before = store.current_run_decision(run_id)
    confidence = next((r["confidence"] for r in previous if r.get("confidence")), None) or DEFAULT_CONFIDENCE
    verdicts = store.effective_verdicts(run_id)
    results, decision = run_decision(store, pact, run, verdicts, confidence)
    labels = Counter(v["clause_id"] for v in verdicts if v["decided_by"] == "human")
    revision = previous_rev + 1
    store.write_revision(run_id, revision, results, dict(labels), decision, import_id)
    standing = after_run(store, pact, run_id, confidence, now())
    old_status = {r["clause_id"]: r["status"] for r in previous}
    return dict(run_id=run_id, revision=revision, decision=decision.decision,
                previous_decision=(before or {}).get("decision"),
                changed=[dict(clause_id=r.clause_id, before=old_status.get(r.clause_id), after=r.status)
                         for r in results if old_status.get(r.clause_id) != r.status],
                agent=run["agent"], standing_decision=standing.decision.decision, score=standing.score)


def import_labels(store: Any, path: Path, reviewer: str | None) -> dict[str, Any]:
    rows = validate(store, path, read_rows(path), reviewer)
    import_id = f"review-{secrets.token_hex(4)}"
    store.add_labels([dict(import_id=import_id, seq=i, **r) for i, r in enumerate(rows)])
    runs = list(dict.fromkeys(r["run_id"] for r in rows))
    counts = Counter(r["label"] for r in rows)
    return dict(import_id=import_id, file=str(path), labels=len(rows), passed=counts["pass"], failed=counts["fail"],
                reviewers=sorted({r["reviewer"] for r in rows}), runs=[revise(store, run_id, import_id) for run_id in runs])


# ---------------------------------------------------------------- calibration


def kappa(table: dict[tuple[str, str], int]) -> float | None:
    """Cohen's kappa of a 2x2 table {(judge label, human label): count}; None when chance agreement is 1."""
    n = sum(table.values())
    if n == 0:
        return None
    po = sum(v for (a, b), v in table.items() if a == b) / n
    pe = sum((sum(v for (a, _), v in table.items() if a == lab) / n) *
             (sum(v for (_, b), v in table.items() if b == lab) / n) for lab in LABELS)
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
        out.append(dict(judge=name, labelled=len(items), n=n, not_counted=len(items) - n, agree=agree,
                        accuracy=agree / n if n else None, accuracy_ci_low=low, accuracy_ci_high=high,
                        kappa=kappa(dict(table)),
                        sensitivity=table[("pass", "pass")] / human_pass if human_pass else None,
                        specificity=table[("fail", "fail")] / human_fail if human_fail else None))
    return out


# ---------------------------------------------------------------- the run summary of show and run


def enrich_summary(store: Any, summary: dict[str, Any], confidence: float | None = None) -> dict[str, Any]:
    """The run's current clause results and decision (latest review revision, or re-judged at `confidence`),
    with failing case ids, counts of human labels and the judges' calibration against them."""
    run_id = summary["run"]["run_id"]
    revision, rows = store.current_clause_results(run_id)
    verdicts = store.effective_verdicts(run_id)
    failing: dict[str, list[str]] = {}
    humans = Counter()
    for v in verdicts:
        if v["outcome"] in ("fail", "error"):
            failing.setdefault(v["clause_id"], []).append(v["case_id"])
        if v["decided_by"] == "human":
            humans[v["clause_id"]] += 1
    decision = store.current_run_decision(run_id)
    if confidence is not None and rows:
        from harness.decision import pact_of_run, run_decision

        pact = pact_of_run(store, summary["run"])
        results, d = run_decision(store, pact, summary["run"], verdicts, confidence)
        rows = [r.model_dump() for r in results]
        decision = dict(revision=revision, decision=d.decision, reasons=list(d.reasons), rule_index=d.rule_index,
                        recomputed_at_confidence=confidence)
    for r in rows:
        r["failing_total"] = len(failing.get(r["clause_id"], []))
        r["failing_cases"] = failing.get(r["clause_id"], [])[:MAX_FAILING]  # the first ones, by case id
        r["human_labels"] = humans[r["clause_id"]]
        r["confidence"] = r.get("confidence") or 0.95
    summary["clauses"], summary["decision"], summary["revision"] = rows, decision, revision
    summary["confidence"] = confidence or next((r["confidence"] for r in rows), 0.95)
    summary["calibration"] = calibration(store.calibration_rows(run_id)) if sum(humans.values()) else None
    return summary


