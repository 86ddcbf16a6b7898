"""The DuckDB store: named append-only migrations, batched append-only writes, and the reads runs need."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from harness.errors import RunNotFound, StoreError
from harness.schema import MIGRATIONS  # kept apart: the schema is ~250 lines of SQL
from harness.secrets import scrub
from harness.types import (
    Ballot,
    Case,
    CaseResult,
    ClauseResult,
    ClauseRow,
    EvidenceRow,
    HumanFailureRow,
    PactDecision,
    PanelSpec,
    RunRow,
    Verdict,
    Vote,
)

DEFAULT_DB = Path("results/pactjury.duckdb")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


def _now() -> datetime:
    from harness.clock import stamp

    return stamp()  # the one clock (harness/clock.py); refused while it is fixed ahead of the real time


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Store:
    """One DuckDB file. Every write for a batch of cases is one transaction, so a case is stored whole or not at all."""

    def __init__(self, path: Path | str = DEFAULT_DB, *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.con = self._connect()
        self._migrate()

    # ------------------------------------------------------------ opening

    def _connect(self) -> Any:
        import duckdb

        if self.read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no database here yet (run `pactjury run` first, or pass --db)")
        if not self.read_only:
            from harness.clock import check_writable

            check_writable()  # no rows dated in the future, and no file created to refuse them in
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create directory ({exc.strerror})") from None
        self._check_header()
        try:
            con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(f"{self.path}: database is in use by another process; wait for it to finish") from None
            raise StoreError(f"{self.path}: cannot open database ({text.splitlines()[0]})") from None
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a readable DuckDB database ({str(exc).splitlines()[0]})") from None
        try:
            self._check_ours(con)
        except BaseException:
            con.close()
            raise
        return con

    def _check_header(self) -> None:
        """Refuse a file that is not DuckDB before DuckDB sees it: given a SQLite file it would try to
        download an extension to read it, and any other file only yields a long IO error."""
        try:
            with self.path.open("rb") as f:
                head = f.read(16)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot read database file ({exc.strerror})") from None
        if head[8:12] == _DUCKDB_MAGIC:
            return
        kind = ("an empty file" if not head else "a SQLite database" if head.startswith(b"SQLite format 3")
                else "not a DuckDB file")
        raise StoreError(f"{self.path}: not a pactjury store ({kind})")

    def _check_ours(self, con: Any) -> None:
        """Refuse another program's DuckDB file before writing to it: a store is empty or has our migrations."""
        tables = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = 'main'").fetchall())
        if not tables:
            return
        ours = False
        if "schema_migrations" in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
                "AND table_schema = 'main' AND table_name = 'schema_migrations' ORDER BY ordinal_position").fetchall()]
            if cols == ["name", "applied_at"]:
                applied = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
                ours = MIGRATIONS[0][0] in applied  # every pactjury store starts with the first migration
        if not ours:
            shown = ", ".join(tables[:8]) + (f", ... ({len(tables)} tables)" if len(tables) > 8 else "")
            raise StoreError(f"not a pactjury store: {self.path} (has tables {shown})")

    def _migrate(self) -> None:
        if not self.read_only:
            self.con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
        try:
            applied = {r[0] for r in self.con.execute("SELECT name FROM schema_migrations").fetchall()}
        except Exception:
            raise StoreError(f"{self.path}: not a pactjury database (no schema_migrations table)") from None
        known = [name for name, _ in MIGRATIONS]
        unknown = applied - set(known)
        if unknown:
            raise StoreError(f"{self.path}: written by a newer pactjury (migrations {', '.join(sorted(unknown))}); upgrade")
        pending = [(n, sql) for n, sql in MIGRATIONS if n not in applied]
        if pending and self.read_only:
            raise StoreError(f"{self.path}: schema is out of date; run any writing command (e.g. pactjury run) to migrate")
        for name, sql in pending:
            def apply(name: str = name, sql: str = sql) -> None:
                self.con.execute(sql)
                self.con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _now()])

            self._transaction(apply)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ writes

    def _insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert through a DataFrame: DuckDB's executemany costs ~0.5 ms a row, this ~25 µs."""
        if not rows:
            return
        import pandas as pd

        frame = pd.DataFrame({col: [r[col] for r in rows] for col in rows[0]})  # noqa: F841 (read by DuckDB below)
        self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame")

    def _transaction(self, fn: Any) -> None:
        self.con.execute("BEGIN")
        try:
            fn()
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def create_run(self, run: dict[str, Any], cases: Iterable[Case], panel: PanelSpec | None = None) -> None:
        rows = [_case_row(run["run_id"], c) for c in cases]

        def write() -> None:
            if panel is not None:
                self.register_panel(panel)
            self._insert("runs", [{**run, "options": _j(run.get("options", {}))}])
            self._insert("cases", rows)
            self.con.execute("INSERT INTO run_events VALUES (?, ?, 'started', NULL)", [run["run_id"], _now()])

        self._transaction(write)

    def add_event(self, run_id: str, event: str, detail: str | None = None) -> None:
        self.con.execute("INSERT INTO run_events VALUES (?, ?, ?, ?)", [run_id, _now(), event, detail])

    def write_results(self, run_id: str, results: Sequence[CaseResult]) -> None:
        now = _now()
        transcripts = [_transcript_row(r, now) for r in results]
        checks = [dict(run_id=run_id, case_id=c.case_id, clause_id=c.clause_id, idx=c.index, check_name=c.check,
                       negated=c.negated, outcome=c.outcome, detail=c.detail) for r in results for c in r.checks]
        verdicts = [dict(run_id=run_id, **v.model_dump()) for r in results for v in r.verdicts]
        ballots = [b for r in results for b in r.ballots]
        ballot_rows = [dict(run_id=run_id, case_id=b.case_id, clause_id=b.clause_id, complete=b.complete,
                            calls_saved=b.calls_saved, shuffle_seed=b.shuffle_seed) for b in ballots]
        votes = [_vote_row(run_id, v, now) for b in ballots for v in b.votes]

        def write() -> None:
            self._insert("transcripts", transcripts)
            self._insert("check_results", checks)
            self._insert("verdicts", verdicts)
            self._insert("ballots", ballot_rows)
            self._insert("votes", votes)
            self._insert("vote_rollup", _vote_rollup(votes))  # what the cost views read (0003_views)

        self._transaction(write)

    def register_panel(self, panel: PanelSpec) -> None:
        # The in-memory spec keeps a judge's real api_base for its calls; the stored one never holds a secret.
        spec = scrub(panel.model_dump(mode="json"))
        self.con.execute("INSERT INTO panels VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [panel.hash, panel.id, _j(spec)])

    def finish_run(self, run_id: str, clause_results: Sequence[ClauseResult], decision: PactDecision,
                   panel_verdicts: Sequence[Verdict] = (), panel_stats: dict[str, Any] | None = None) -> None:
        rows = [dict(run_id=run_id, position=i, **r.model_dump()) for i, r in enumerate(clause_results)]

        def write() -> None:
            self._insert("verdicts", [dict(run_id=run_id, **v.model_dump()) for v in panel_verdicts])
            if panel_stats is not None:
                judges = panel_stats.pop("judges")
                self._insert("panel_stats", [dict(run_id=run_id, recorded_at=_now(), **panel_stats)])
                self._insert("judge_stats", [dict(run_id=run_id, **j) for j in judges])
            self._insert("clause_results", rows)
            self.con.execute(
                "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, decision.pact_id, decision.decision, _j(list(decision.reasons)), decision.rule_index, _now()],
            )
            self.con.execute("INSERT INTO run_events VALUES (?, ?, 'completed', NULL)", [run_id, _now()])

        self._transaction(write)

    # ------------------------------------------------------------ reads

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, list(params))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def frame(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The result as a pandas DataFrame (columnar transfer: fast for large results)."""
        import warnings

        cur = self.con.execute(sql, list(params))
        with warnings.catch_warnings():  # pandas 3 deprecation noise from inside DuckDB's conversion
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return cur.df()

    def export(self, run_id: str, fmt: str, out_dir: Path) -> list[dict[str, Any]]:
        """Write a run's cases, transcripts, votes and verdicts as parquet, csv or jsonl files with DuckDB's COPY."""
        options = _EXPORT_FORMATS.get(fmt)
        if options is None:
            raise StoreError(f"unknown export format {fmt!r} (parquet, csv or jsonl)")
        self.run(run_id)  # a clear error for an unknown run
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{out_dir}: cannot create directory ({exc.strerror})") from None
        written = []
        for table, order in _EXPORT_TABLES:
            path = out_dir / f"{run_id}-{table}.{fmt}"
            literal = str(path).replace("'", "''")
            self.con.execute(f"COPY (SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}) TO '{literal}' "
                             f"({options})", [run_id])
            rows = self.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()[0]
            written.append(dict(table=table, path=str(path), rows=rows))
        return written

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
        rows = self.query(
            f"SELECT * EXCLUDE (run_id, recorded_at) FROM votes WHERE cache_key IN ({', '.join('?' * len(keys))}) "
            "AND label <> 'abstain' QUALIFY row_number() OVER (PARTITION BY cache_key ORDER BY recorded_at) = 1",
            list(keys))
        return {r["cache_key"]: _vote(r) for r in rows}

    def ballots(self, run_id: str) -> list[Ballot]:
        """Every ballot of a run with its votes, in a stable order (case, clause)."""
        votes: dict[tuple[str, str], list[Vote]] = {}
        for r in self.query("SELECT * EXCLUDE (run_id, recorded_at) FROM votes WHERE run_id = ? "
                            "ORDER BY case_id, clause_id, judge, sample", [run_id]):
            votes.setdefault((r["case_id"], r["clause_id"]), []).append(_vote(r))
        return [Ballot(case_id=b["case_id"], clause_id=b["clause_id"], complete=b["complete"],
                       calls_saved=b["calls_saved"], shuffle_seed=b["shuffle_seed"],
                       votes=tuple(votes.get((b["case_id"], b["clause_id"]), ())))
                for b in self.query("SELECT * FROM ballots WHERE run_id = ? ORDER BY case_id, clause_id", [run_id])]

    def done_case_ids(self, run_id: str) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT case_id FROM transcripts WHERE run_id = ?", [run_id]).fetchall()}

    def failed_case_ids(self, run_id: str) -> set[str]:
        """`run --rerun-failed`: the run's cases with a failed or errored verdict, or a target error."""
        return {r[0] for r in self.con.execute(
            "SELECT case_id FROM verdicts WHERE run_id = ? AND outcome IN ('fail', 'error') "
            "UNION SELECT case_id FROM transcripts WHERE run_id = ? AND error IS NOT NULL", [run_id, run_id]).fetchall()}

    def verdict_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT case_id, clause_id, outcome, decided_by, detail FROM verdicts WHERE run_id = ?", [run_id])

    def clause_results(self, run_id: str) -> list[ClauseRow]:
        return cast(list[ClauseRow], self.query(
            "SELECT * EXCLUDE (run_id, position) FROM clause_results WHERE run_id = ? ORDER BY position", [run_id]))

    def decision(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT decision, reasons, rule_index FROM decisions WHERE run_id = ?", [run_id])
        if not rows:
            return None
        rows[0]["reasons"] = json.loads(rows[0]["reasons"])
        return rows[0]

    def unparseable_counts(self, run_id: str) -> dict[str, int]:
        """{"votes": abstains on an unreadable reply, "inconclusive": inconclusive verdicts with at least one
        such vote} for a run. Votes stored before abstain_code existed are read by their reason's wording."""
        row = self.con.execute(f"""
            WITH u AS (SELECT case_id, clause_id FROM votes WHERE run_id = ? AND label = 'abstain' AND
                       {_UNPARSEABLE_VOTE})
            SELECT (SELECT count(*) FROM u),
                   (SELECT count(*) FROM (SELECT DISTINCT case_id, clause_id FROM verdicts
                                          WHERE run_id = ? AND outcome = 'inconclusive') v
                    WHERE EXISTS (SELECT 1 FROM u WHERE u.case_id = v.case_id AND u.clause_id = v.clause_id))""",
                               [run_id, run_id]).fetchone()
        return {"votes": int(row[0]), "inconclusive": int(row[1])}

    def run_totals(self, run_id: str) -> dict[str, Any]:
        return self.query(
            "SELECT count(*) AS transcripts, count(error) AS target_errors, sum(tokens_in) AS tokens_in, "
            "sum(tokens_out) AS tokens_out, sum(cost_usd) AS cost_usd, count(cost_usd) AS priced, "
            "median(latency_ms) AS p50_latency_ms FROM transcripts WHERE run_id = ?", [run_id])[0]

    # ------------------------------------------------------------ decisions and human review (0004)

    def register_pact(self, pact: Any) -> None:
        """Keep each pact version's spec, so a decision can be re-evaluated without its files."""
        self.con.execute("INSERT INTO pacts VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                         [pact.hash, pact.id, pact.version, pact.model_dump_json(), _now()])

    def pact_spec(self, pact_hash: str) -> str | None:
        row = self.con.execute("SELECT spec FROM pacts WHERE pact_hash = ?", [pact_hash]).fetchone()
        return row[0] if row else None

    def effective_verdicts(self, run_id: str) -> list[dict[str, Any]]:
        """A run's verdicts with the latest human label, where one exists, in place of the outcome."""
        return self.query(
            "SELECT v.case_id, v.clause_id, coalesce(l.label, v.outcome) AS outcome, "
            "CASE WHEN l.label IS NULL THEN v.decided_by ELSE 'human' END AS decided_by, v.detail, "
            "v.outcome AS original_outcome, v.decided_by AS original_decided_by, l.reviewer, l.labelled_at "
            f"FROM verdicts v LEFT JOIN ({_LATEST_LABELS}) l USING (run_id, case_id, clause_id) "
            "WHERE v.run_id = ? ORDER BY v.clause_id, v.case_id", [run_id])

    def current_clause_results(self, run_id: str) -> tuple[int, list[ClauseRow]]:
        """(revision, rows): the latest human-review revision of a run's clause results, else the originals (0)."""
        rev = self.con.execute("SELECT max(revision) FROM clause_result_revisions WHERE run_id = ?",
                               [run_id]).fetchone()[0]
        if rev is None:
            return 0, self.clause_results(run_id)
        return rev, cast(list[ClauseRow], self.query("SELECT * EXCLUDE (run_id, revision, position, revised_at, import_id) "
                               "FROM clause_result_revisions WHERE run_id = ? AND revision = ? ORDER BY position",
                               [run_id, rev]))

    def current_run_decision(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT revision, decision, reasons, rule_index FROM decision_revisions WHERE run_id = ? "
                          "ORDER BY revision DESC LIMIT 1", [run_id])
        if not rows:
            original = self.decision(run_id)
            return None if original is None else {"revision": 0, **original}
        rows[0]["reasons"] = json.loads(rows[0]["reasons"])
        return rows[0]

    def write_revision(self, run_id: str, revision: int, results: Sequence[ClauseResult], labels: dict[str, int],
                       decision: PactDecision, import_id: str) -> None:
        now = _now()
        rows = [dict(run_id=run_id, revision=revision, position=i, **r.model_dump(),
                     human_labels=labels.get(r.clause_id, 0), revised_at=now, import_id=import_id)
                for i, r in enumerate(results)]

        def write() -> None:
            self._insert("clause_result_revisions", rows)
            self.con.execute("INSERT INTO decision_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             [run_id, revision, decision.pact_id, decision.decision, _j(list(decision.reasons)),
                              decision.rule_index, now, import_id])

        self._transaction(write)

    def add_labels(self, rows: Sequence[dict[str, Any]]) -> None:
        self._transaction(lambda: self._insert("human_labels", [{**r, "labelled_at": _now()} for r in rows]))

    def case_clauses(self, run_id: str) -> dict[str, set[str]]:
        """Case id -> the clauses with a stored verdict for it in this run."""
        out: dict[str, set[str]] = {c: set() for (c,) in self.con.execute(
            "SELECT case_id FROM cases WHERE run_id = ?", [run_id]).fetchall()}
        for case_id, clause_id in self.con.execute("SELECT case_id, clause_id FROM verdicts WHERE run_id = ?",
                                                   [run_id]).fetchall():
            out.setdefault(case_id, set()).add(clause_id)
        return out

    def evidence_rows(self, agent: str | None, pact_id: str, pact_hash: str) -> list[EvidenceRow]:
        """Current clause results of every completed run of this agent and pact version, newest run first."""
        return cast(list[EvidenceRow], self.query(f"""
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
            ORDER BY r.finished_at DESC, cur.run_id DESC""", [agent, pact_id, pact_hash]))

    def open_human_failures(self, agent: str | None, pact_id: str, pact_hash: str) -> list[HumanFailureRow]:
        """Human-confirmed failures not superseded by a pass of the same case and clause in a later run."""
        return cast(list[HumanFailureRow], self.query(f"""
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
            ORDER BY lab.clause_id, lab.case_id""", [agent, pact_id, pact_hash]))

    def agent_pacts(self) -> list[dict[str, Any]]:
        """Every (agent, pact id) with a completed run, and the pact version and run it last completed."""
        return self.query(f"""
            SELECT runs.agent, runs.pact_id, arg_max(runs.pact_hash, f.finished_at) AS pact_hash,
                   arg_max(runs.pact_version, f.finished_at) AS pact_version,
                   arg_max(runs.suite_path, f.finished_at) AS suite_path,
                   arg_max(runs.run_id, f.finished_at) AS last_run_id, max(f.finished_at) AS last_finished_at
            FROM runs JOIN ({_FINISHED}) f USING (run_id)
            GROUP BY runs.agent, runs.pact_id ORDER BY runs.pact_id, runs.agent NULLS FIRST""")

    def record_agent_decision(self, decision: dict[str, Any], evidence: Sequence[dict[str, Any]],
                              score: dict[str, Any]) -> None:
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
            [agent, pact_id, limit])

    def review_queue(self, run_id: str, scope: str = "queue") -> list[dict[str, Any]]:
        """Inconclusive and split panel verdicts (scope "queue"; "panel": every panel verdict; "all": every
        verdict) with the case, the output, the checks and every vote, queue first."""
        where = _REVIEW_SCOPES[scope]
        rows = self.query(f"""
            SELECT v.run_id, v.case_id, v.clause_id, v.outcome AS jury_verdict, v.decided_by, v.split, v.panel_score,
                   v.method, v.entropy_bits, v.detail, c.input, c.system, c.context, c.expected, t.output,
                   t.tool_calls, t.error AS target_error, ({_IN_QUEUE}) AS in_queue
            FROM verdicts v JOIN cases c USING (run_id, case_id) JOIN transcripts t USING (run_id, case_id)
            WHERE v.run_id = ? AND ({where})
            ORDER BY ({_IN_QUEUE}) DESC, (v.outcome = 'inconclusive') DESC, v.entropy_bits DESC NULLS LAST,
                     v.case_id, v.clause_id""", [run_id])
        checks: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for c in self.query("SELECT case_id, clause_id, check_name AS check, negated, outcome, detail "
                            "FROM check_results WHERE run_id = ? ORDER BY case_id, clause_id, idx", [run_id]):
            checks.setdefault((c.pop("case_id"), c.pop("clause_id")), []).append(c)
        votes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for v in self.query("SELECT case_id, clause_id, judge, model, sample, label, score, rationale, abstain_reason "
                            "FROM votes WHERE run_id = ? ORDER BY judge, sample", [run_id]):
            votes.setdefault((v.pop("case_id"), v.pop("clause_id")), []).append(v)
        for r in rows:
            key = (r["case_id"], r["clause_id"])
            r["checks"], r["votes"] = checks.get(key, []), votes.get(key, [])
            for field in ("input", "context", "expected", "tool_calls"):
                r[field] = json.loads(r[field])
        return rows

    def calibration_rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Each judge's first-sample vote and the panel verdict beside the latest human label, per labelled item."""
        return self.query(f"""
            SELECT l.run_id, l.case_id, l.clause_id, l.label AS human, v.outcome AS panel, vo.judge,
                   vo.label AS vote, l.selection, l.audit_seed, ({_IN_QUEUE}) AS in_queue
            FROM ({_LATEST_LABELS}) l
            JOIN verdicts v USING (run_id, case_id, clause_id)
            LEFT JOIN votes vo ON vo.run_id = l.run_id AND vo.case_id = l.case_id AND vo.clause_id = l.clause_id
                AND vo.sample = (SELECT min(sample) FROM votes x WHERE x.run_id = vo.run_id
                                 AND x.case_id = vo.case_id AND x.clause_id = vo.clause_id AND x.judge = vo.judge)
            WHERE v.decided_by = 'panel' AND (? IS NULL OR l.run_id = ?)
            ORDER BY l.run_id, l.case_id, l.clause_id, vo.judge""", [run_id, run_id])

    def latest_labels(self, run_id: str) -> list[dict[str, Any]]:
        """The latest human label of each labelled (case, clause) of a run, with the jury's own verdict."""
        return self.query(f"""
            SELECT l.case_id, l.clause_id, l.label, l.reviewer, l.note, l.labelled_at, l.source, l.selection,
                   l.audit_seed, l.import_id, v.outcome AS jury_verdict, v.decided_by, ({_IN_QUEUE}) AS in_queue
            FROM ({_LATEST_LABELS}) l JOIN verdicts v USING (run_id, case_id, clause_id)
            WHERE l.run_id = ? ORDER BY l.clause_id, l.case_id""", [run_id])

    def failed_checks(self, run_id: str) -> list[dict[str, Any]]:
        """Verdicts the deterministic checks failed (or errored), with each failing check and its detail; a
        target error, which no check saw, is its own row."""
        return self.query("""
            SELECT v.case_id, v.clause_id, v.outcome, v.decided_by, c.check_name AS check, c.negated,
                   coalesce(c.detail, CASE WHEN v.decided_by = 'target-error' THEN t.error ELSE v.detail END) AS detail
            FROM verdicts v
            LEFT JOIN check_results c ON c.run_id = v.run_id AND c.case_id = v.case_id AND c.clause_id = v.clause_id
                AND c.outcome IN ('fail', 'error')
            LEFT JOIN transcripts t ON t.run_id = v.run_id AND t.case_id = v.case_id
            WHERE v.run_id = ? AND v.decided_by IN ('checks', 'target-error') AND v.outcome IN ('fail', 'error')
            ORDER BY v.clause_id, v.case_id, c.idx""", [run_id])

    def labelled_runs(self) -> list[str]:
        return [r for (r,) in self.con.execute("SELECT DISTINCT run_id FROM human_labels ORDER BY 1").fetchall()]


_EXPORT_FORMATS = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json"}
_EXPORT_TABLES = (("cases", "case_id"), ("transcripts", "case_id"), ("votes", "case_id, clause_id, judge, sample"),
                  ("verdicts", "case_id, clause_id"))

_IN_QUEUE = "v.outcome = 'inconclusive' OR (v.decided_by = 'panel' AND coalesce(v.entropy_bits, 0) > 0)"
_REVIEW_SCOPES = {"queue": _IN_QUEUE, "panel": f"v.decided_by = 'panel' OR {_IN_QUEUE}", "all": "true"}
_UNPARSEABLE_VOTE = ("coalesce(abstain_code = 'unparseable', abstain_code IS NULL AND "
                     "(abstain_reason LIKE 'unparseable reply%' OR abstain_reason = 'empty reply'))")
_FINISHED = "SELECT run_id, max(event_at) AS finished_at FROM run_events WHERE event = 'completed' GROUP BY run_id"
_LATEST_LABELS = ("SELECT * FROM human_labels QUALIFY row_number() OVER (PARTITION BY run_id, case_id, clause_id "
                  "ORDER BY labelled_at DESC, seq DESC) = 1")
_RESULT_COLS = ("c.clause_id, c.severity, c.n, c.passed, c.failed, c.errors, c.pending, c.inconclusive, c.rate, "
                "c.ci_low, c.ci_high, c.threshold, c.status, c.confidence, c.cases_needed")

_RUNS_SQL = """
SELECT r.run_id, r.started_at, r.pact_id, r.pact_version, r.pact_hash, r.suite_id, r.suite_hash, r.suite_path,
       r.agent, r.agent_version, r.target_spec, r.panel_id, r.panel_hash, r.harness_version, r.options, r.n_cases,
       (SELECT e.event FROM run_events e WHERE e.run_id = r.run_id ORDER BY e.event_at DESC LIMIT 1) AS status,
       (SELECT e.detail FROM run_events e WHERE e.run_id = r.run_id ORDER BY e.event_at DESC LIMIT 1) AS status_detail,
       (SELECT max(e.event_at) FROM run_events e WHERE e.run_id = r.run_id AND e.event = 'completed') AS finished_at,
       (SELECT count(*) FROM transcripts t WHERE t.run_id = r.run_id) AS n_done
FROM runs r
"""


def _case_row(run_id: str, c: Case) -> dict[str, Any]:
    return dict(
        run_id=run_id, case_id=c.id, case_hash=c.hash, suite_id=c.suite_id, clause_ids=_j(list(c.clause_ids)),
        input=_j(c.input if isinstance(c.input, str) else [m.model_dump() for m in c.input]), system=c.system,
        context=_j([d.model_dump() for d in c.context]), expected=_j(c.expected), tags=_j(list(c.tags)),
        mutated_from=c.mutated_from, mutator=c.mutator, mutation=_j(c.mutation) if c.mutation else None,
    )


def _transcript_row(r: CaseResult, now: datetime) -> dict[str, Any]:
    t = r.transcript
    return dict(
        run_id=t.run_id, case_id=t.case_id, output=t.output, tool_calls=_j([c.model_dump() for c in t.tool_calls]),
        latency_ms=t.latency_ms, tokens_in=t.tokens_in, tokens_out=t.tokens_out, cost_usd=t.cost_usd,
        error=t.error, recorded_at=now,
    )


def _vote_row(run_id: str, v: Vote, now: datetime) -> dict[str, Any]:
    return dict(run_id=run_id, **v.model_dump(exclude={"flags"}), flags=_j(list(v.flags)), recorded_at=now)


def _vote_rollup(votes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, clause, judge, model, cached) of a batch of vote rows: counts and sums (NULL when no
    vote of the group has a value, like SQL's sum)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for v in votes:
        key = (v["run_id"], v["clause_id"], v["judge"], v["model"], v["cached"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = dict(run_id=key[0], clause_id=key[1], judge=key[2], model=key[3], cached=key[4],
                                   votes=0, abstains=0, priced=0, tokens_in=None, tokens_out=None, cost_usd=None,
                                   latency_ms=0.0)
        g["votes"] += 1
        g["abstains"] += v["label"] == "abstain"
        g["priced"] += v["cost_usd"] is not None
        for col in ("tokens_in", "tokens_out", "cost_usd"):
            if v[col] is not None:
                g[col] = (g[col] or 0) + v[col]
        g["latency_ms"] += v["latency_ms"] or 0.0
    return list(groups.values())


def _vote(row: dict[str, Any]) -> Vote:
    return Vote.model_validate({**row, "flags": tuple(json.loads(row["flags"]))})


def default_db() -> Path:
    return Path(os.environ.get("PACTJURY_DB", DEFAULT_DB))
