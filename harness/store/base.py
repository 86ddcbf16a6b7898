"""The connection helpers every part of the store shares: reads as rows or frames, bulk inserts, transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any


def _now() -> datetime:
    from harness.clock import stamp

    return stamp()  # the one clock (harness/clock.py); refused while it is fixed ahead of the real time


class StoreBase:
    """What the store's parts (evidence.py, reviews.py) build on; harness.store.Store opens the connection."""

    con: Any
    path: Path

    def _insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Bulk insert of columns DuckDB scans directly: executemany costs ~0.5 ms a row, this a few µs. NumPy
        object arrays, not a pandas DataFrame: importing pandas brings pyarrow (~40 MB) into every run."""
        if not rows:
            return
        import numpy as np

        columns = {}
        for col in rows[0]:
            values = np.empty(len(rows), dtype=object)
            for i, r in enumerate(rows):  # one by one: a list value must stay one cell, not become a row of cells
                values[i] = r[col]
            columns[col] = values
        frame = columns  # noqa: F841 (read by DuckDB below, by name)
        self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM frame")

    def _transaction(self, fn: Any) -> None:
        self.con.execute("BEGIN")
        try:
            fn()
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

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
