"""The DuckDB store: named append-only migrations, batched append-only writes, and the reads runs need."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness.errors import RunNotFound, StoreError
from harness.types import Ballot, Case, CaseResult, ClauseResult, PactDecision, PanelSpec, Verdict, Vote

DEFAULT_DB = Path("results/pactjury.duckdb")

# Append-only: a new schema change is a new entry at the end; applied names are recorded in the file.
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_runs_and_evidence", """
    CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ NOT NULL,
        pact_id VARCHAR NOT NULL, pact_version VARCHAR NOT NULL, pact_hash VARCHAR NOT NULL,
        suite_id VARCHAR NOT NULL, suite_hash VARCHAR NOT NULL, suite_path VARCHAR NOT NULL,
        agent VARCHAR, agent_version VARCHAR, target_spec VARCHAR NOT NULL, panel_id VARCHAR,
        harness_version VARCHAR NOT NULL, options VARCHAR NOT NULL, n_cases INTEGER NOT NULL);
    -- status is the latest event, so the runs row itself is never updated
    CREATE TABLE run_events (run_id VARCHAR NOT NULL, event_at TIMESTAMPTZ NOT NULL, event VARCHAR NOT NULL,
        detail VARCHAR);
    CREATE TABLE cases (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, case_hash VARCHAR NOT NULL, suite_id VARCHAR NOT NULL,
        clause_ids VARCHAR NOT NULL, input VARCHAR NOT NULL, system VARCHAR, context VARCHAR NOT NULL,
        expected VARCHAR NOT NULL, tags VARCHAR NOT NULL, mutated_from VARCHAR, PRIMARY KEY (run_id, case_id));
    CREATE TABLE transcripts (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, output VARCHAR NOT NULL, tool_calls VARCHAR NOT NULL,
        latency_ms DOUBLE NOT NULL, tokens_in BIGINT, tokens_out BIGINT, cost_usd DOUBLE, error VARCHAR,
        recorded_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (run_id, case_id));
    CREATE TABLE check_results (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, idx INTEGER NOT NULL,
        check_name VARCHAR NOT NULL, negated BOOLEAN NOT NULL, outcome VARCHAR NOT NULL, detail VARCHAR NOT NULL);
    CREATE TABLE verdicts (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
        decided_by VARCHAR NOT NULL, detail VARCHAR NOT NULL, PRIMARY KEY (run_id, case_id, clause_id));
    CREATE TABLE clause_results (
        run_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, position INTEGER NOT NULL, severity VARCHAR NOT NULL,
        n INTEGER NOT NULL,
        passed INTEGER NOT NULL, failed INTEGER NOT NULL, errors INTEGER NOT NULL, pending INTEGER NOT NULL,
        inconclusive INTEGER NOT NULL, rate DOUBLE, ci_low DOUBLE, ci_high DOUBLE, threshold DOUBLE NOT NULL,
        status VARCHAR NOT NULL, PRIMARY KEY (run_id, clause_id));
    CREATE TABLE decisions (
        run_id VARCHAR NOT NULL PRIMARY KEY, pact_id VARCHAR NOT NULL, decision VARCHAR NOT NULL,
        reasons VARCHAR NOT NULL, rule_index INTEGER, decided_at TIMESTAMPTZ NOT NULL);
    """),
    ("0002_jury", """
    ALTER TABLE runs ADD COLUMN panel_hash VARCHAR;
    ALTER TABLE verdicts ADD COLUMN method VARCHAR;
    ALTER TABLE verdicts ADD COLUMN panel_score DOUBLE;
    ALTER TABLE verdicts ADD COLUMN split VARCHAR;
    ALTER TABLE verdicts ADD COLUMN entropy_bits DOUBLE;
    ALTER TABLE verdicts ADD COLUMN unanimous BOOLEAN;
    CREATE TABLE panels (panel_hash VARCHAR PRIMARY KEY, panel_id VARCHAR NOT NULL, spec VARCHAR NOT NULL);
    CREATE TABLE ballots (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, complete BOOLEAN NOT NULL,
        calls_saved INTEGER NOT NULL, shuffle_seed BIGINT, PRIMARY KEY (run_id, case_id, clause_id));
    CREATE TABLE votes (
        run_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, clause_id VARCHAR NOT NULL, judge VARCHAR NOT NULL,
        model VARCHAR NOT NULL, sample INTEGER NOT NULL, label VARCHAR NOT NULL, score DOUBLE,
        rationale VARCHAR NOT NULL, raw_reply VARCHAR NOT NULL, prompt_hash VARCHAR NOT NULL,
        cache_key VARCHAR NOT NULL, abstain_reason VARCHAR, latency_ms DOUBLE NOT NULL, tokens_in BIGINT,
        tokens_out BIGINT, cost_usd DOUBLE, cached BOOLEAN NOT NULL, flags VARCHAR NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE panel_stats (
        run_id VARCHAR NOT NULL PRIMARY KEY, panel_id VARCHAR NOT NULL, panel_hash VARCHAR NOT NULL,
        method VARCHAR NOT NULL, n_ballots INTEGER NOT NULL, n_incomplete INTEGER NOT NULL,
        percent_agreement DOUBLE, fleiss_kappa DOUBLE, alpha_nominal DOUBLE, alpha_ordinal DOUBLE,
        alpha_interval DOUBLE, stats VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
    CREATE TABLE judge_stats (
        run_id VARCHAR NOT NULL, judge VARCHAR NOT NULL, n INTEGER NOT NULL, pass_rate DOUBLE, pass_ci_low DOUBLE,
        pass_ci_high DOUBLE, abstain_rate DOUBLE, abstain_ci_low DOUBLE, abstain_ci_high DOUBLE,
        agreement_with_panel DOUBLE, agreement_ci_low DOUBLE, agreement_ci_high DOUBLE,
        PRIMARY KEY (run_id, judge));
    """),
]


def _now() -> datetime:
    return datetime.now(timezone.utc)


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
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create directory ({exc.strerror})") from None
        try:
            return duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(f"{self.path}: database is in use by another process; wait for it to finish") from None
            raise StoreError(f"{self.path}: cannot open database ({text.splitlines()[0]})") from None
        except duckdb.Error as exc:
            raise StoreError(f"{self.path}: not a readable DuckDB database ({str(exc).splitlines()[0]})") from None

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

    def __enter__(self) -> "Store":
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

        self._transaction(write)

    def register_panel(self, panel: PanelSpec) -> None:
        self.con.execute("INSERT INTO panels VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                         [panel.hash, panel.id, panel.model_dump_json()])

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

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self.query(f"{_RUNS_SQL} WHERE r.run_id = ?", [run_id])
        if not rows:
            raise RunNotFound(f"{self.path}: no run {run_id!r} (see `pactjury runs`)")
        row = rows[0]
        row["options"] = json.loads(row["options"])
        return row

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.query(f"{_RUNS_SQL} ORDER BY r.started_at DESC LIMIT ?", [limit])

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

    def verdict_rows(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT case_id, clause_id, outcome, decided_by, detail FROM verdicts WHERE run_id = ?", [run_id])

    def clause_results(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * EXCLUDE (run_id, position) FROM clause_results WHERE run_id = ? ORDER BY position", [run_id])

    def decision(self, run_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT decision, reasons, rule_index FROM decisions WHERE run_id = ?", [run_id])
        if not rows:
            return None
        rows[0]["reasons"] = json.loads(rows[0]["reasons"])
        return rows[0]

    def run_totals(self, run_id: str) -> dict[str, Any]:
        return self.query(
            "SELECT count(*) AS transcripts, count(error) AS target_errors, sum(tokens_in) AS tokens_in, "
            "sum(tokens_out) AS tokens_out, sum(cost_usd) AS cost_usd, count(cost_usd) AS priced, "
            "median(latency_ms) AS p50_latency_ms FROM transcripts WHERE run_id = ?", [run_id])[0]


_RUNS_SQL = """
SELECT r.run_id, r.started_at, r.pact_id, r.pact_version, r.pact_hash, r.suite_id, r.suite_hash, r.suite_path,
       r.agent, r.agent_version, r.target_spec, r.panel_id, r.panel_hash, r.harness_version, r.options, r.n_cases,
       (SELECT e.event FROM run_events e WHERE e.run_id = r.run_id ORDER BY e.event_at DESC LIMIT 1) AS status,
       (SELECT max(e.event_at) FROM run_events e WHERE e.run_id = r.run_id AND e.event = 'completed') AS finished_at,
       (SELECT count(*) FROM transcripts t WHERE t.run_id = r.run_id) AS n_done
FROM runs r
"""


def _case_row(run_id: str, c: Case) -> dict[str, Any]:
    return dict(
        run_id=run_id, case_id=c.id, case_hash=c.hash, suite_id=c.suite_id, clause_ids=_j(list(c.clause_ids)),
        input=_j(c.input if isinstance(c.input, str) else [m.model_dump() for m in c.input]), system=c.system,
        context=_j([d.model_dump() for d in c.context]), expected=_j(c.expected), tags=_j(list(c.tags)),
        mutated_from=c.mutated_from,
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


def _vote(row: dict[str, Any]) -> Vote:
    return Vote.model_validate({**row, "flags": tuple(json.loads(row["flags"]))})


def default_db() -> Path:
    return Path(os.environ.get("PACTJURY_DB", DEFAULT_DB))
