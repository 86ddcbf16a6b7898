"""Human review in the store: labels, revisions of clause results and decisions, the review queue, calibration rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from harness.store.base import _now
from harness.store.evidence import EvidenceStore
from harness.store.sql import _IN_QUEUE, _LATEST_LABELS, _REVIEW_SCOPES, _j
from harness.types import (
    ClauseResult,
    ClauseRow,
    PactDecision,
)


class ReviewStore(EvidenceStore):
    """Human review, on top of the evidence it revises."""

    def effective_verdicts(self, run_id: str) -> list[dict[str, Any]]:
        """A run's verdicts with the latest human label, where one exists, in place of the outcome."""
        return self.query(
            "SELECT v.case_id, v.clause_id, coalesce(l.label, v.outcome) AS outcome, "
            "CASE WHEN l.label IS NULL THEN v.decided_by ELSE 'human' END AS decided_by, v.detail, "
            "v.outcome AS original_outcome, v.decided_by AS original_decided_by, l.reviewer, l.labelled_at "
            f"FROM verdicts v LEFT JOIN ({_LATEST_LABELS}) l USING (run_id, case_id, clause_id) "
            "WHERE v.run_id = ? ORDER BY v.clause_id, v.case_id",
            [run_id],
        )

    def failing_by_clause(self, run_id: str, first: int) -> dict[str, dict[str, Any]]:
        """Per clause, over the effective verdicts: how many fail or error, the first `first` of those case ids
        (by id), and how many a human labelled; counted in SQL, not by reading every verdict back."""
        rows = self.query(
            "WITH e AS (SELECT v.case_id, v.clause_id, coalesce(l.label, v.outcome) IN ('fail', 'error') AS failing, "
            f"l.label IS NOT NULL AS human FROM verdicts v LEFT JOIN ({_LATEST_LABELS}) l "
            "USING (run_id, case_id, clause_id) WHERE v.run_id = ?) "
            "SELECT clause_id, count(*) FILTER (failing) AS failing_total, "
            "list_slice(list(case_id ORDER BY case_id) FILTER (failing), 1, ?) AS failing_cases, "
            "count(*) FILTER (human) AS human_labels FROM e GROUP BY clause_id",
            [run_id, first],
        )
        return {r["clause_id"]: r for r in rows}

    def current_clause_results(self, run_id: str) -> tuple[int, list[ClauseRow]]:
        """(revision, rows): the latest human-review revision of a run's clause results, else the originals (0)."""
        rev = self.con.execute(
            "SELECT max(revision) FROM clause_result_revisions WHERE run_id = ?", [run_id]
        ).fetchone()[0]
        if rev is None:
            return 0, self.clause_results(run_id)
        return rev, cast(
            list[ClauseRow],
            self.query(
                "SELECT * EXCLUDE (run_id, revision, position, revised_at, import_id) "
                "FROM clause_result_revisions WHERE run_id = ? AND revision = ? ORDER BY position",
                [run_id, rev],
            ),
        )

    def current_run_decision(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query(
            "SELECT revision, decision, reasons, rule_index FROM decision_revisions WHERE run_id = ? "
            "ORDER BY revision DESC LIMIT 1",
            [run_id],
        )
        if not rows:
            original = self.decision(run_id)
            return None if original is None else {"revision": 0, **original}
        rows[0]["reasons"] = json.loads(rows[0]["reasons"])
        return rows[0]

    def write_revision(
        self,
        run_id: str,
        revision: int,
        results: Sequence[ClauseResult],
        labels: dict[str, int],
        decision: PactDecision,
        import_id: str,
    ) -> None:
        now = _now()
        rows = [
            dict(
                run_id=run_id,
                revision=revision,
                position=i,
                **r.model_dump(),
                human_labels=labels.get(r.clause_id, 0),
                revised_at=now,
                import_id=import_id,
            )
            for i, r in enumerate(results)
        ]

        def write() -> None:
            self._insert("clause_result_revisions", rows)
            self.con.execute(
                "INSERT INTO decision_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    run_id,
                    revision,
                    decision.pact_id,
                    decision.decision,
                    _j(list(decision.reasons)),
                    decision.rule_index,
                    now,
                    import_id,
                ],
            )

        self._transaction(write)

    def add_labels(self, rows: Sequence[dict[str, Any]]) -> None:
        self._transaction(lambda: self._insert("human_labels", [{**r, "labelled_at": _now()} for r in rows]))

    def case_clauses(self, run_id: str) -> dict[str, set[str]]:
        """Case id -> the clauses with a stored verdict for it in this run."""
        out: dict[str, set[str]] = {
            c: set() for (c,) in self.con.execute("SELECT case_id FROM cases WHERE run_id = ?", [run_id]).fetchall()
        }
        for case_id, clause_id in self.con.execute(
            "SELECT case_id, clause_id FROM verdicts WHERE run_id = ?", [run_id]
        ).fetchall():
            out.setdefault(case_id, set()).add(clause_id)
        return out

    def review_queue(self, run_id: str, scope: str = "queue") -> list[dict[str, Any]]:
        """Inconclusive and split panel verdicts (scope "queue"; "panel": every panel verdict; "all": every
        verdict) with the case, the output, the checks and every vote, queue first."""
        where = _REVIEW_SCOPES[scope]
        rows = self.query(
            f"""
            SELECT v.run_id, v.case_id, v.clause_id, v.outcome AS jury_verdict, v.decided_by, v.split, v.panel_score,
                   v.method, v.entropy_bits, v.detail, c.input, c.system, c.context, c.expected, t.output,
                   t.tool_calls, t.error AS target_error, ({_IN_QUEUE}) AS in_queue
            FROM verdicts v JOIN cases c USING (run_id, case_id) JOIN transcripts t USING (run_id, case_id)
            WHERE v.run_id = ? AND ({where})
            ORDER BY ({_IN_QUEUE}) DESC, (v.outcome = 'inconclusive') DESC, v.entropy_bits DESC NULLS LAST,
                     v.case_id, v.clause_id""",
            [run_id],
        )
        checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for c in self.query(
            "SELECT case_id, clause_id, check_name AS check, negated, outcome, detail "
            "FROM check_results WHERE run_id = ? ORDER BY case_id, clause_id, idx",
            [run_id],
        ):
            checks.setdefault((c.pop("case_id"), c.pop("clause_id")), []).append(c)
        votes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for v in self.query(
            "SELECT case_id, clause_id, judge, model, sample, label, score, rationale, abstain_reason "
            "FROM votes WHERE run_id = ? ORDER BY judge, sample",
            [run_id],
        ):
            votes.setdefault((v.pop("case_id"), v.pop("clause_id")), []).append(v)
        for r in rows:
            key = (r["case_id"], r["clause_id"])
            r["checks"], r["votes"] = checks.get(key, []), votes.get(key, [])
            for field in ("input", "context", "expected", "tool_calls"):
                r[field] = json.loads(r[field])
        return rows

    def calibration_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Each judge's first-sample vote and the panel verdict beside the latest human label, per labelled item."""
        return self.query(
            f"""
            SELECT l.run_id, l.case_id, l.clause_id, l.label AS human, v.outcome AS panel, vo.judge,
                   vo.label AS vote, l.selection, l.audit_seed, ({_IN_QUEUE}) AS in_queue
            FROM ({_LATEST_LABELS}) l
            JOIN verdicts v USING (run_id, case_id, clause_id)
            LEFT JOIN votes vo ON vo.run_id = l.run_id AND vo.case_id = l.case_id AND vo.clause_id = l.clause_id
                AND vo.sample = (SELECT min(sample) FROM votes x WHERE x.run_id = vo.run_id
                                 AND x.case_id = vo.case_id AND x.clause_id = vo.clause_id AND x.judge = vo.judge)
            WHERE v.decided_by = 'panel' AND (? IS NULL OR l.run_id = ?)
            ORDER BY l.run_id, l.case_id, l.clause_id, vo.judge""",
            [run_id, run_id],
        )

    def latest_labels(self, run_id: str) -> list[dict[str, Any]]:
        """The latest human label of each labelled (case, clause) of a run, with the jury's own verdict."""
        return self.query(
            f"""
            SELECT l.case_id, l.clause_id, l.label, l.reviewer, l.note, l.labelled_at, l.source, l.selection,
                   l.audit_seed, l.import_id, v.outcome AS jury_verdict, v.decided_by, ({_IN_QUEUE}) AS in_queue
            FROM ({_LATEST_LABELS}) l JOIN verdicts v USING (run_id, case_id, clause_id)
            WHERE l.run_id = ? ORDER BY l.clause_id, l.case_id""",
            [run_id],
        )

    def failed_checks(self, run_id: str) -> list[dict[str, Any]]:
        """Verdicts the deterministic checks failed (or errored), with each failing check and its detail; a
        target error, which no check saw, is its own row."""
        return self.query(
            """
            SELECT v.case_id, v.clause_id, v.outcome, v.decided_by, c.check_name AS check, c.negated,
                   coalesce(c.detail, CASE WHEN v.decided_by = 'target-error' THEN t.error ELSE v.detail END) AS detail
            FROM verdicts v
            LEFT JOIN check_results c ON c.run_id = v.run_id AND c.case_id = v.case_id AND c.clause_id = v.clause_id
                AND c.outcome IN ('fail', 'error')
            LEFT JOIN transcripts t ON t.run_id = v.run_id AND t.case_id = v.case_id
            WHERE v.run_id = ? AND v.decided_by IN ('checks', 'target-error') AND v.outcome IN ('fail', 'error')
            ORDER BY v.clause_id, v.case_id, c.idx""",
            [run_id],
        )

    def labelled_runs(self) -> list[str]:
        return [r for (r,) in self.con.execute("SELECT DISTINCT run_id FROM human_labels ORDER BY 1").fetchall()]
