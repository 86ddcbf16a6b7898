"""Runs and their evidence in the store: runs, ballots, verdicts, clause results, decisions, trust history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from harness.errors import RunNotFound
from harness.store.base import StoreBase, _now
from harness.store.sql import _FINISHED, _LATEST_LABELS, _RESULT_COLS, _RUNS_SQL, _UNPARSEABLE_VOTE, _vote
from harness.types import (
    Ballot,
    ClauseRow,
    EvidenceRow,
    HumanFailureRow,
    RunRow,
    Vote,
)


class EvidenceStore(StoreBase):
    def run(self, run_id: str) -> RunRow:
        rows = self.query(f"{_RUNS_SQL} WHERE r.run_id = ?", [run_id])
        if not rows:
            raise RunNotFound(f"{self.path}: no run {run_id!r} (see `pactjury runs`)")
        row = rows[0]
        row["options"] = json.loads(row["options"])
        return cast(RunRow, row)

    def runs(self, limit: int = 50) -> list[RunRow]:
        return cast(list[RunRow], self.query(f"{_RUNS_SQL} ORDER BY r.started_at DESC LIMIT ?", [limit]))

    def cached_votes(self, keys: Sequence[str]) -> dict[str, Vote]:
        """Earlier answered (not abstained) judge calls with these identities, one per key."""
        if not keys:
            return {}
        # Keys first, whole rows only for the hits: most lookups miss, and a miss then reads one column.
        marks = ", ".join("?" * len(keys))
        hits = self.query(
            f"SELECT DISTINCT cache_key FROM votes WHERE cache_key IN ({marks}) AND label <> 'abstain'", list(keys)
        )
        if not hits:
            return {}
        found = [r["cache_key"] for r in hits]
        rows = self.query(
            f"SELECT * EXCLUDE (run_id, recorded_at) FROM votes WHERE cache_key IN ({', '.join('?' * len(found))}) "
            "AND label <> 'abstain' QUALIFY row_number() OVER (PARTITION BY cache_key ORDER BY recorded_at) = 1",
            found,
        )
        return {r["cache_key"]: _vote(r) for r in rows}

    def has_answers_from(self, models: Sequence[str]) -> bool:
        """Whether any judge call to one of these models was answered: if none was, no vote cache lookup can hit."""
        if not models:
            return False
        marks = ", ".join("?" * len(models))
        return bool(self.query(f"SELECT 1 FROM votes WHERE model IN ({marks}) AND label <> 'abstain' LIMIT 1", models))

    def ballots_to_aggregate(self, run_id: str) -> list[Ballot]:
        """Every ballot of a run, in a stable order (case, clause), its votes carrying what aggregation and the
        agreement statistics read (judge, model, sample, label, score, cached), not rationales, raw replies or
        costs: a 20,000-case run's full votes are ~300 MB as records. Rows of our own store, so not re-validated."""
        votes: dict[tuple[str, str], list[Vote]] = {}
        # one fields-set for all (a set of its own per record would be ~40 MB at 60,000 votes)
        vote_fields = {"case_id", "clause_id", "judge", "model", "sample", "label", "score", "cached"}
        ballot_fields = {"case_id", "clause_id", "complete", "calls_saved", "shuffle_seed", "votes"}
        cur = self.con.execute(
            "SELECT case_id, clause_id, judge, model, sample, label, score, cached FROM votes WHERE run_id = ? "
            "ORDER BY case_id, clause_id, judge, sample",
            [run_id],
        )
        for case_id, clause_id, judge, model, sample, label, score, cached in cur.fetchall():
            votes.setdefault((case_id, clause_id), []).append(
                Vote.model_construct(
                    vote_fields,
                    case_id=case_id,
                    clause_id=clause_id,
                    judge=judge,
                    model=model,
                    sample=sample,
                    label=label,
                    score=score,
                    cached=cached,
                )
            )
        cur = self.con.execute(
            "SELECT case_id, clause_id, complete, calls_saved, shuffle_seed FROM ballots WHERE run_id = ? "
            "ORDER BY case_id, clause_id",
            [run_id],
        )
        return [
            Ballot.model_construct(
                ballot_fields,
                case_id=case_id,
                clause_id=clause_id,
                complete=complete,
                calls_saved=calls_saved,
                shuffle_seed=shuffle_seed,
                votes=tuple(votes.pop((case_id, clause_id), ())),
            )
            for case_id, clause_id, complete, calls_saved, shuffle_seed in cur.fetchall()
        ]

    def done_case_ids(self, run_id: str) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT case_id FROM transcripts WHERE run_id = ?", [run_id]).fetchall()}

    def failed_case_ids(self, run_id: str) -> set[str]:
        """`run --rerun-failed`: the run's cases with a failed or errored verdict, or a target error."""
        return {
            r[0]
            for r in self.con.execute(
                "SELECT case_id FROM verdicts WHERE run_id = ? AND outcome IN ('fail', 'error') "
                "UNION SELECT case_id FROM transcripts WHERE run_id = ? AND error IS NOT NULL",
                [run_id, run_id],
            ).fetchall()
        }

    def verdict_outcomes(self, run_id: str) -> list[dict[str, Any]]:
        """(case_id, clause_id, outcome) of every verdict: what a run's tallies read (a 20,000-case run has
        60,000; their details would double what finishing it holds)."""
        cur = self.con.execute("SELECT case_id, clause_id, outcome FROM verdicts WHERE run_id = ?", [run_id])
        return [{"case_id": c, "clause_id": k, "outcome": o} for c, k, o in cur.fetchall()]

    def verdict_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT case_id, clause_id, outcome, decided_by, detail FROM verdicts WHERE run_id = ?", [run_id]
        )

    def clause_results(self, run_id: str) -> list[ClauseRow]:
        return cast(
            list[ClauseRow],
            self.query(
                "SELECT * EXCLUDE (run_id, position) FROM clause_results WHERE run_id = ? ORDER BY position", [run_id]
            ),
        )

    def decision(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT decision, reasons, rule_index FROM decisions WHERE run_id = ?", [run_id])
        if not rows:
            return None
        rows[0]["reasons"] = json.loads(rows[0]["reasons"])
        return rows[0]

    def unparseable_counts(self, run_id: str) -> dict[str, int]:
        """{"votes": abstains on an unreadable reply, "inconclusive": inconclusive verdicts with at least one
        such vote} for a run. Votes stored before abstain_code existed are read by their reason's wording."""
        row = self.con.execute(
            f"""
            WITH u AS (SELECT case_id, clause_id FROM votes WHERE run_id = ? AND label = 'abstain' AND
                       {_UNPARSEABLE_VOTE})
            SELECT (SELECT count(*) FROM u),
                   (SELECT count(*) FROM (SELECT DISTINCT case_id, clause_id FROM verdicts
                                          WHERE run_id = ? AND outcome = 'inconclusive') v
                    WHERE EXISTS (SELECT 1 FROM u WHERE u.case_id = v.case_id AND u.clause_id = v.clause_id))""",
            [run_id, run_id],
        ).fetchone()
        return {"votes": int(row[0]), "inconclusive": int(row[1])}

    def run_totals(self, run_id: str) -> dict[str, Any]:
        return self.query(
            "SELECT count(*) AS transcripts, count(error) AS target_errors, sum(tokens_in) AS tokens_in, "
            "sum(tokens_out) AS tokens_out, sum(cost_usd) AS cost_usd, count(cost_usd) AS priced, "
            "median(latency_ms) AS p50_latency_ms FROM transcripts WHERE run_id = ?",
            [run_id],
        )[0]

    def register_pact(self, pact: Any) -> None:
        """Keep each pact version's spec, so a decision can be re-evaluated without its files."""
        self.con.execute(
            "INSERT INTO pacts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [pact.hash, pact.id, pact.version, pact.model_dump_json(), _now()],
        )

    def pact_spec(self, pact_hash: str) -> str | None:
        row = self.con.execute("SELECT spec FROM pacts WHERE pact_hash = ?", [pact_hash]).fetchone()
        return row[0] if row else None

    def evidence_rows(self, agent: str | None, pact_id: str, pact_hash: str) -> list[EvidenceRow]:
        """Current clause results of every completed run of this agent and pact version, newest run first."""
        return cast(
            list[EvidenceRow],
            self.query(
                f"""
            WITH r AS (SELECT runs.run_id, f.finished_at, runs.agent_version FROM runs JOIN ({_FINISHED}) f
                       USING (run_id) WHERE runs.agent IS NOT DISTINCT FROM ? AND runs.pact_id = ?
                       AND runs.pact_hash = ?),
            rev AS (SELECT run_id, max(revision) AS revision FROM clause_result_revisions GROUP BY run_id),
            cur AS (
                SELECT c.run_id, 0 AS revision, {_RESULT_COLS} FROM clause_results c
                WHERE c.run_id NOT IN (SELECT run_id FROM rev)
                UNION ALL
                SELECT c.run_id, c.revision, {_RESULT_COLS} FROM clause_result_revisions c JOIN rev
                USING (run_id, revision))
            SELECT cur.*, r.finished_at, r.agent_version FROM cur JOIN r USING (run_id)
            ORDER BY r.finished_at DESC, cur.run_id DESC""",
                [agent, pact_id, pact_hash],
            ),
        )

    def open_human_failures(self, agent: str | None, pact_id: str, pact_hash: str) -> list[HumanFailureRow]:
        """Human-confirmed failures not superseded by a pass of the same case and clause in a later run."""
        return cast(
            list[HumanFailureRow],
            self.query(
                f"""
            WITH r AS (SELECT runs.run_id, f.finished_at FROM runs JOIN ({_FINISHED}) f USING (run_id)
                       WHERE runs.agent IS NOT DISTINCT FROM ? AND runs.pact_id = ? AND runs.pact_hash = ?),
            lab AS ({_LATEST_LABELS}),
            passes AS (SELECT v.case_id, v.clause_id, r.finished_at FROM verdicts v JOIN r USING (run_id)
                       LEFT JOIN lab USING (run_id, case_id, clause_id)
                       WHERE coalesce(lab.label, v.outcome) = 'pass')
            SELECT lab.run_id, lab.case_id, lab.clause_id, lab.reviewer, lab.note, lab.labelled_at
            FROM lab JOIN r USING (run_id)
            WHERE lab.label = 'fail' AND NOT EXISTS (
                SELECT 1 FROM passes p WHERE p.case_id = lab.case_id AND p.clause_id = lab.clause_id
                AND p.finished_at > r.finished_at)
            ORDER BY lab.clause_id, lab.case_id""",
                [agent, pact_id, pact_hash],
            ),
        )

    def agent_pacts(self) -> list[dict[str, Any]]:
        """Every (agent, pact id) with a completed run, and the pact version and run it last completed."""
        return self.query(f"""
            SELECT runs.agent, runs.pact_id, arg_max(runs.pact_hash, f.finished_at) AS pact_hash,
                   arg_max(runs.pact_version, f.finished_at) AS pact_version,
                   arg_max(runs.suite_path, f.finished_at) AS suite_path,
                   arg_max(runs.run_id, f.finished_at) AS last_run_id, max(f.finished_at) AS last_finished_at
            FROM runs JOIN ({_FINISHED}) f USING (run_id)
            GROUP BY runs.agent, runs.pact_id ORDER BY runs.pact_id, runs.agent NULLS FIRST""")

    def record_agent_decision(
        self, decision: dict[str, Any], evidence: Sequence[dict[str, Any]], score: dict[str, Any]
    ) -> None:
        def write() -> None:
            self._insert("agent_decisions", [decision])
            self._insert("agent_decision_evidence", list(evidence))
            self._insert("trust_scores", [score])

        self._transaction(write)

    def trust_history(self, agent: str | None, pact_id: str, limit: int = 20) -> list[dict[str, Any]]:
        return self.query(
            "SELECT t.scored_at, t.score, t.pact_hash, d.decision, d.trigger, d.trigger_ref, d.run_ids "
            "FROM trust_scores t JOIN agent_decisions d USING (decision_id) "
            "WHERE t.agent IS NOT DISTINCT FROM ? AND t.pact_id = ? ORDER BY t.scored_at DESC LIMIT ?",
            [agent, pact_id, limit],
        )
