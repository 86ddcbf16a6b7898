"""`pactjury export`: every exported table reads back with pandas (pyarrow for parquet), the cases table included."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from evidence_store import N_CASES, cli

pytestmark = pytest.mark.timeout(180)

READERS = {"parquet": pd.read_parquet, "csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True)}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_every_exported_table_reads_back_with_pandas(tmp_path, evs, fmt):
    r = cli("export", evs.v2, "--db", evs.db, "--format", fmt, "-o", tmp_path, "--json")
    assert r.returncode == 0, r.stderr
    written = {w["table"]: w for w in json.loads(r.stdout)}
    assert set(written) == {"cases", "transcripts", "votes", "verdicts"}
    frames = {table: READERS[fmt](Path(w["path"])) for table, w in written.items()}
    for table, frame in frames.items():
        assert len(frame) == written[table]["rows"] > 0, table
        assert set(frame["run_id"]) == {evs.v2}
    cases = frames["cases"]
    assert {"case_id", "input", "context", "expected", "tags", "clause_ids"} <= set(cases.columns)
    assert len(cases) == N_CASES and list(cases["case_id"]) == sorted(cases["case_id"])
    first = cases.iloc[0]
    assert first["case_id"] == "case-000"
    # stored as JSON text: the input, expectations and clause ids decode to what the suite file says
    assert json.loads(first["input"]).endswith(" 0")
    assert isinstance(json.loads(first["expected"]), dict)
    assert "label-right" in json.loads(first["clause_ids"])
    # every transcript and verdict belongs to an exported case
    assert set(frames["transcripts"]["case_id"]) == set(cases["case_id"])
    assert set(frames["verdicts"]["case_id"]) <= set(cases["case_id"])
