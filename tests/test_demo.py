"""The README's demo (`make demo`), for real on two of its cases: the embedded model as the target, the local
panel as the jury, the evidence in DuckDB, the summary printed and the HTML report written."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import jsonschema
import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[1]


def demo_args() -> list[str]:
    """The Makefile's DEMO_ARGS, so this test runs what `make demo` runs."""
    match = re.search(r"^DEMO_ARGS := ((?:.*\\\n)*.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "DEMO_ARGS not found in the Makefile"
    return shlex.split(match[1].replace("\\\n", " "))


def two_case_suite(tmp_path: Path) -> Path:
    """The demo suite cut to its first two cases that the jury judges, beside a copy of its pact."""
    doc = yaml.safe_load((ROOT / "suites" / "itsm" / "suite.yaml").read_text())
    doc["cases"] = [c for c in doc["cases"] if "reply-courtesy" in c["clauses"]][:2]
    assert len(doc["cases"]) == 2
    tmp_path.mkdir()
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "pact.yaml").write_text((ROOT / "suites" / "itsm" / "pact.yaml").read_text())
    return tmp_path


def test_the_demo_command_runs_the_local_model_as_target_and_jury(tmp_path):
    args = demo_args()
    assert args[0] == "suites/itsm" and "--panel" in args and "local" in args
    suite, db = two_case_suite(tmp_path / "suite"), tmp_path / "demo.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(suite), *args[1:], "--db", str(db), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: a clause breached, the demo's finding
    assert "Traceback" not in proc.stderr
    assert re.search(r"^decision: [A-Z-]+$", proc.stdout, re.M), proc.stdout
    report = re.search(r"^report: (.+\.html)$", proc.stderr, re.M)  # stderr: stdout stays the summary
    assert report and Path(report[1]).is_file() and "itsm-triage" in Path(report[1]).read_text()

    schema = json.loads((ROOT / "suites" / "itsm" / "reply.schema.json").read_text())
    con = duckdb.connect(str(db), read_only=True)
    try:
        transcripts = con.execute("SELECT output, error, tokens_in, tokens_out FROM transcripts").fetchall()
        votes = con.execute(
            "SELECT judge, model, label, raw_reply, tokens_in, abstain_reason FROM votes "
            "WHERE clause_id = 'reply-courtesy'"
        ).fetchall()
        decided = con.execute(
            "SELECT count(*) FROM verdicts WHERE clause_id = 'reply-courtesy' AND decided_by = 'panel'"
        ).fetchone()[0]
    finally:
        con.close()
    assert len(transcripts) == 2
    for output, error, tokens_in, tokens_out in transcripts:
        assert error is None
        jsonschema.validate(json.loads(output), schema)  # constrained output: always the schema's JSON
        assert tokens_in > 500 and tokens_out > 5  # the few-shot prompt, then the written reply
    # Two or three local judges per case (the adaptive jury stops once two agree), each a real vote.
    assert 4 <= len(votes) <= 6 and decided == 2
    assert {m.split(":")[0] for _, m, *_ in votes} == {"local/gemma-3-270m"}
    for judge, _, label, raw, tokens_in, reason in votes:
        assert label in ("pass", "fail"), (judge, reason)
        assert json.loads(raw)["verdict"] == label and tokens_in > 300
