"""Human review: export the jury's inconclusive and split cases (and a seeded random audit sample of its
verdicts), import reviewers' labels, and measure each judge against them (harness/stats/calibration.py).

Labels are append-only rows in `human_labels`; the latest label of a (run, case, clause) overrides its verdict.
An import appends a new revision of each touched run's clause results and decision (the originals stay), then
records the agent's standing decision and trust score again. `pactjury view` writes its labels the same way.
"""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, RunNotFound
from harness.stats.calibration import LABELS, by_selection, calibration, kappa

__all__ = ["LABELS", "by_selection", "calibration", "kappa"]  # calibration lived here first

MAX_FAILING = 20  # failing case ids listed per clause in a run summary (failing_total has the count)
SELECTION_VALUES = ("queue", "audit", "view")  # how a labelled item was chosen (calibration.SELECTIONS)
REVIEW_FIELDS = ("label", "reviewer", "note")
BASE_FIELDS = (
    "run_id",
    "case_id",
    "clause_id",
    "selection",
    "in_queue",
    "audit_seed",
    "claim",
    "threshold",
    "jury_verdict",
    "split",
    "panel_score",
    "method",
    "input",
    "system",
    "context",
    "expected",
    "output",
    "tool_calls",
    "target_error",
    "checks",
    "votes",
)


# ---------------------------------------------------------------- export


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value or [])


def audit_population(store: Any, run_id: str) -> list[tuple[str, str]]:
    """The (case, clause) pairs an audit sample is drawn from: every verdict the panel gave, in a fixed order."""
    return sorted((r["case_id"], r["clause_id"]) for r in store.verdict_rows(run_id) if r["decided_by"] == "panel")


def audit_sample(store: Any, run_id: str, n: int, seed: int) -> list[tuple[str, str]]:
    """A simple random sample of n of the run's panel verdicts (all of them when fewer), the same for a seed."""
    population = audit_population(store, run_id)
    return sorted(random.Random(seed).sample(population, min(n, len(population))))


def _item(
    r: dict[str, Any], claims: dict[str, tuple[Any, Any, Any]], selection: str, seed: int | None
) -> dict[str, Any]:
    claim, threshold, rubric = claims.get(r["clause_id"], ("", None, None))
    return dict(
        run_id=r["run_id"],
        case_id=r["case_id"],
        clause_id=r["clause_id"],
        selection=selection,
        in_queue=bool(r["in_queue"]),
        audit_seed=seed,
        claim=claim,
        rubric=rubric,
        threshold=threshold,
        jury_verdict=r["jury_verdict"],
        decided_by=r["decided_by"],
        split=r["split"],
        panel_score=r["panel_score"],
        method=r["method"],
        entropy_bits=r["entropy_bits"],
        detail=r["detail"],
        input=r["input"],
        system=r["system"],
        context=r["context"],
        expected=r["expected"],
        output=r["output"],
        tool_calls=r["tool_calls"],
        target_error=r["target_error"],
        checks=r["checks"],
        votes=r["votes"],
        label="",
        reviewer="",
        note="",
    )


def _claims(store: Any, run: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    from harness.standing import stored_pact

    try:
        return {c.id: (c.claim, c.threshold, c.rubric) for c in stored_pact(store, run).clauses}
    except ConfigError:
        return {}


def queue(store: Any, run_id: str, audit: int = 0, seed: int = 0) -> list[dict[str, Any]]:
    """The review queue of a run: inconclusive and split jury verdicts, with everything a reviewer needs; with
    `audit`, also a seeded random sample of that many panel verdicts (selection "audit"; it may overlap the queue)."""
    drawn = set(audit_sample(store, run_id, audit, seed)) if audit else set()
    claims = _claims(store, store.run(run_id))
    items = []
    for r in store.review_queue(run_id, "panel" if drawn else "queue"):
        key = (r["case_id"], r["clause_id"])
        if key in drawn:
            items.append(_item(r, claims, "audit", seed))
        elif r["in_queue"]:
            items.append(_item(r, claims, "queue", None))
    return items


def item(store: Any, run_id: str, case_id: str, clause_id: str) -> dict[str, Any] | None:
    """One verdict of a run with everything a reviewer needs (the shape of a queue item), or None."""
    claims = _claims(store, store.run(run_id))
    for r in store.review_queue(run_id, "all"):
        if (r["case_id"], r["clause_id"]) == (case_id, clause_id):
            return _item(r, claims, "queue" if r["in_queue"] else "view", None)
    return None


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
        row["in_queue"] = "yes" if it.get("in_queue") else "no"
        row["input"] = _input_text(it["input"])
        for k in ("context", "expected", "tool_calls", "checks", "votes"):
            row[k] = json.dumps(it[k], ensure_ascii=False)
        for j in judges:
            mine = [v for v in it["votes"] if v["judge"] == j]
            row[f"vote:{j}"] = " / ".join(
                v["label"] + (f" {v['score']:g}" if v["score"] is not None else "") for v in mine
            )
            row[f"rationale:{j}"] = " | ".join(v["abstain_reason"] or v["rationale"] or "" for v in mine)
        row.update(label="", reviewer="", note="")
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def to_jsonl(items: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(it, ensure_ascii=False, default=str) + "\n" for it in items)


# ---------------------------------------------------------------- import


def _decode(path: Path, data: bytes) -> str:
    """The file's text; a binary or non-UTF-8 file is a one-line error naming it."""
    if b"\x00" in data[:8192]:
        raise ConfigError(
            f"{path}: a binary file, not a labelled export (a .csv or .jsonl from `pactjury review export`)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None


def read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(row number, fields) for each data row: CSV rows count from 1 after the header; JSONL lines from 1."""
    try:
        text = _decode(path, Path(path).read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if str(path).endswith((".jsonl", ".ndjson", ".json")) or text.lstrip().startswith("{"):
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}: row {i}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}: row {i}: expected a JSON object")
            rows.append((i, obj))
        return rows
    reader = csv.DictReader(io.StringIO(text))
    try:
        missing = [f for f in ("run_id", "case_id", "clause_id", "label") if f not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: missing column {missing[0]!r} (export the queue with `pactjury review export`)")
        return [(i, row) for i, row in enumerate(reader, 1)]
    except csv.Error as exc:
        raise ConfigError(f"{path}: line {reader.line_num}: not readable as CSV ({exc})") from None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _selection(row: dict[str, Any], where: str) -> tuple[str | None, int | None]:
    selection = _text(row.get("selection")).lower() or None
    if selection is not None and selection not in SELECTION_VALUES:
        raise ConfigError(
            f"selection {row.get('selection')!r} must be one of {', '.join(SELECTION_VALUES)} (or empty)", where=where
        )
    if selection != "audit":
        return selection, None
    seed = _text(row.get("audit_seed"))
    try:
        return selection, int(seed)
    except ValueError:
        raise ConfigError(f"audit_seed {seed!r} must be an integer (the --seed of the export)", where=where) from None


def _check_item(
    store: Any, clauses_of: dict[str, dict[str, set[str]]], run_id: str, case_id: str, clause_id: str, where: str
) -> None:
    if run_id not in clauses_of:
        try:
            run = store.run(run_id)
        except RunNotFound:
            raise ConfigError(f"unknown run {run_id!r}", where=where) from None
        if run["status"] != "completed":
            raise ConfigError(
                f"run {run_id} is not completed (finish it with pactjury run --resume {run_id})", where=where
            )
        clauses_of[run_id] = store.case_clauses(run_id)
    cases = clauses_of[run_id]
    if case_id not in cases:
        raise ConfigError(f"unknown case {case_id!r} in run {run_id}", where=where)
    if clause_id not in cases[case_id]:
        raise ConfigError(
            f"unknown clause {clause_id!r} for case {case_id!r} in run {run_id} "
            f"(its clauses: {', '.join(sorted(cases[case_id])) or 'none'})",
            where=where,
        )


def validate(
    store: Any, source: Path | str, rows: Sequence[tuple[int, dict[str, Any]]], default_reviewer: str | None
) -> list[dict[str, Any]]:
    """Labelled rows as human_labels rows; any bad row is a one-line error naming the file and row (row 0: a
    single label given outside a file, named by `source` alone)."""
    clauses_of: dict[str, dict[str, set[str]]] = {}
    out = []
    for n, row in rows:
        label = _text(row.get("label")).lower()
        if not label:
            continue  # not reviewed yet
        where = f"{source}: row {n}" if n else str(source)
        if label not in LABELS:
            raise ConfigError(f"label {row.get('label')!r} must be pass or fail", where=where)
        run_id, case_id, clause_id = (_text(row.get(k)) for k in ("run_id", "case_id", "clause_id"))
        for key, value in (("run_id", run_id), ("case_id", case_id), ("clause_id", clause_id)):
            if not value:
                raise ConfigError(f"missing {key}", where=where)
        _check_item(store, clauses_of, run_id, case_id, clause_id, where)
        selection, seed = _selection(row, where)
        reviewer = _text(row.get("reviewer")) or (default_reviewer or "")
        if not reviewer:
            raise ConfigError("no reviewer (fill the reviewer column or pass --reviewer NAME)", where=where)
        out.append(
            dict(
                run_id=run_id,
                case_id=case_id,
                clause_id=clause_id,
                label=label,
                reviewer=reviewer,
                note=_text(row.get("note")) or None,
                source=str(source),
                source_row=n,
                selection=selection,
                audit_seed=seed,
            )
        )
    if not out:
        raise ConfigError(f"{source}: no row has a label (fill the label column with pass or fail)")
    return out


def revise(store: Any, run_id: str, import_id: str) -> dict[str, Any]:
    """A new revision of the run's clause results and decision from its verdicts with human labels applied."""
    from harness.clock import now
    from harness.standing import after_run, decide_run, stored_pact
    from harness.trust import DEFAULT_CONFIDENCE

    run = store.run(run_id)
    pact = stored_pact(store, run)
    previous_rev, previous = store.current_clause_results(run_id)
    before = store.current_run_decision(run_id)
    confidence = next((r["confidence"] for r in previous if r.get("confidence")), None) or DEFAULT_CONFIDENCE
    verdicts = store.effective_verdicts(run_id)
    results, decision = decide_run(store, pact, run, verdicts, confidence)
    labels = Counter(v["clause_id"] for v in verdicts if v["decided_by"] == "human")
    revision = previous_rev + 1
    store.write_revision(run_id, revision, results, dict(labels), decision, import_id)
    standing = after_run(store, pact, run_id, confidence, now())
    old_status = {r["clause_id"]: r["status"] for r in previous}
    return dict(
        run_id=run_id,
        revision=revision,
        decision=decision.decision,
        previous_decision=(before or {}).get("decision"),
        changed=[
            dict(clause_id=r.clause_id, before=old_status.get(r.clause_id), after=r.status)
            for r in results
            if old_status.get(r.clause_id) != r.status
        ],
        agent=run["agent"],
        standing_decision=standing.decision.decision,
        score=standing.score,
    )


def apply_labels(store: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Store validated labels as one import and revise every run they touch: the one write path of labels."""
    import_id = f"review-{secrets.token_hex(4)}"
    store.add_labels([dict(import_id=import_id, seq=i, **r) for i, r in enumerate(rows)])
    runs = list(dict.fromkeys(r["run_id"] for r in rows))
    counts = Counter(r["label"] for r in rows)
    return dict(
        import_id=import_id,
        labels=len(rows),
        passed=counts["pass"],
        failed=counts["fail"],
        reviewers=sorted({r["reviewer"] for r in rows}),
        runs=[revise(store, run_id, import_id) for run_id in runs],
    )


def import_labels(store: Any, path: Path, reviewer: str | None) -> dict[str, Any]:
    rows = validate(store, path, read_rows(path), reviewer)
    return dict(file=str(path), **apply_labels(store, rows))


def label_one(store: Any, source: str, fields: dict[str, Any]) -> dict[str, Any]:
    """One label given outside a file (pactjury view): validated and written exactly as an import's rows."""
    return apply_labels(store, validate(store, source, [(0, fields)], None))


def run_calibration(store: Any, run_id: str | None) -> list[dict[str, Any]]:
    """Calibration per selection (audit sample, disagreement queue, every label) of one run or of every run."""
    population = len(audit_population(store, run_id)) if run_id else None
    return by_selection(store.calibration_rows(run_id), population)


# ---------------------------------------------------------------- the run summary of show and run


def enrich_summary(store: Any, summary: dict[str, Any], confidence: float | None = None) -> dict[str, Any]:
    """The run's current clause results and decision (latest review revision, or re-judged at `confidence`),
    with failing case ids, counts of human labels and the judges' calibration against them."""
    run_id = summary["run"]["run_id"]
    revision, rows = store.current_clause_results(run_id)
    decision = store.current_run_decision(run_id)
    if confidence is not None and rows:
        from harness.standing import decide_run as run_decision
        from harness.standing import stored_pact as pact_of_run

        pact = pact_of_run(store, summary["run"])
        results, d = run_decision(store, pact, summary["run"], store.effective_verdicts(run_id), confidence)
        rows = [r.model_dump() for r in results]
        decision = dict(
            revision=revision,
            decision=d.decision,
            reasons=list(d.reasons),
            rule_index=d.rule_index,
            recomputed_at_confidence=confidence,
        )
    failing = store.failing_by_clause(run_id, MAX_FAILING)
    humans = Counter({k: f["human_labels"] for k, f in failing.items()})
    for r in rows:
        f = failing.get(r["clause_id"], {})
        r["failing_total"] = f.get("failing_total", 0)
        r["failing_cases"] = list(f.get("failing_cases") or [])  # the first ones, by case id
        r["human_labels"] = humans[r["clause_id"]]
        r["confidence"] = r.get("confidence") or 0.95
    summary["clauses"], summary["decision"], summary["revision"] = rows, decision, revision
    summary["confidence"] = confidence or next((r["confidence"] for r in rows), 0.95)
    summary["calibration"] = calibration(store.calibration_rows(run_id)) if sum(humans.values()) else None
    summary["calibration_by_selection"] = run_calibration(store, run_id) if sum(humans.values()) else None
    summary["labels"] = store.latest_labels(run_id)  # who labelled what, with their notes
    summary["failed_checks"] = store.failed_checks(run_id)  # the deterministic failures, with the failing check
    return summary
