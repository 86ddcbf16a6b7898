"""The one door to DuckDB: the connection, named append-only migrations, batched writes (reads: evidence.py, reviews.py)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.schema import MIGRATIONS  # kept apart: the schema is ~250 lines of SQL
from harness.secrets import scrub
from harness.store.base import _now
from harness.store.reviews import ReviewStore
from harness.store.sql import _EXPORT_FORMATS, _EXPORT_TABLES, RESULT_TABLES, _case_row, _j, result_rows
from harness.types import Case, CaseResult, ClauseResult, PactDecision, PanelSpec, Verdict

DEFAULT_DB = Path("results/pactjury.duckdb")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file


class Store(ReviewStore):
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
        kind = (
            "an empty file"
            if not head
            else "a SQLite database"
            if head.startswith(b"SQLite format 3")
            else "not a DuckDB file"
        )
        raise StoreError(f"{self.path}: not a pactjury store ({kind})")

    def _check_ours(self, con: Any) -> None:
        """Refuse another program's DuckDB file before writing to it: a store is empty or has our migrations."""
        tables = sorted(
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
                "AND table_schema = 'main'"
            ).fetchall()
        )
        if not tables:
            return
        ours = False
        if "schema_migrations" in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_catalog = current_database() "
                    "AND table_schema = 'main' AND table_name = 'schema_migrations' ORDER BY ordinal_position"
                ).fetchall()
            ]
            if cols == ["name", "applied_at"]:
                applied = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
                ours = MIGRATIONS[0][0] in applied  # every pactjury store starts with the first migration
        if not ours:
            shown = ", ".join(tables[:8]) + (f", ... ({len(tables)} tables)" if len(tables) > 8 else "")
            raise StoreError(f"not a pactjury store: {self.path} (has tables {shown})")

    def _migrate(self) -> None:
        if not self.read_only:
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
            )
        try:
            applied = {r[0] for r in self.con.execute("SELECT name FROM schema_migrations").fetchall()}
        except Exception:
            raise StoreError(f"{self.path}: not a pactjury database (no schema_migrations table)") from None
        known = [name for name, _ in MIGRATIONS]
        unknown = applied - set(known)
        if unknown:
            raise StoreError(
                f"{self.path}: written by a newer pactjury (migrations {', '.join(sorted(unknown))}); upgrade"
            )
        pending = [(n, sql) for n, sql in MIGRATIONS if n not in applied]
        if pending and self.read_only:
            raise StoreError(
                f"{self.path}: schema is out of date; run any writing command (e.g. pactjury run) to migrate"
            )
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
        self.write_rows(result_rows(run_id, results, _now()))

    def write_rows(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """Finished cases as `result_rows` made them (maybe in a worker process), in one transaction."""

        def write() -> None:
            for table in RESULT_TABLES:
                self._insert(table, rows.get(table, []))

        self._transaction(write)

    def register_panel(self, panel: PanelSpec) -> None:
        # The in-memory spec keeps a judge's real api_base for its calls; the stored one never holds a secret.
        spec = scrub(panel.model_dump(mode="json"))
        self.con.execute("INSERT INTO panels VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [panel.hash, panel.id, _j(spec)])

    def finish_run(
        self,
        run_id: str,
        clause_results: Sequence[ClauseResult],
        decision: PactDecision,
        panel_verdicts: Sequence[Verdict] = (),
        panel_stats: dict[str, Any] | None = None,
    ) -> None:
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
            self.con.execute(
                f"COPY (SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}) TO '{literal}' ({options})", [run_id]
            )
            rows = self.con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()[0]
            written.append(dict(table=table, path=str(path), rows=rows))
        return written

    # ------------------------------------------------------------ decisions and human review (0004)


def default_db() -> Path:
    return Path(os.environ.get("PACTJURY_DB", DEFAULT_DB))
