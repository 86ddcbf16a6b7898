"""`run --resume RUN_ID` needs nothing but the run id, also for a run judged by a panel file outside judges/panels/."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
from suitefiles import basic_suite, write_agent, write_panel, write_suite
from test_run_cli import PJ, pj, rows

from harness.testing.openai_server import Reply

pytestmark = pytest.mark.timeout(120)

PASS = json.dumps({"verdict": "pass", "rationale": "fine"})


def test_resume_of_a_run_with_a_panel_file_needs_only_the_run_id(tmp_path, fake_llm):
    fake_llm.responder.default = lambda request: Reply(text=PASS, delay_s=0.25)
    root = write_suite(tmp_path / "suite", suite=basic_suite(16))
    write_agent(root)
    panel = write_panel(tmp_path / "elsewhere", fake_llm.url, [{"name": "judge-a"}, {"name": "judge-b"}])
    db = tmp_path / "p.duckdb"
    proc = subprocess.Popen(
        [
            *PJ,
            "run",
            str(root),
            "--target",
            f"python:{root / 'agent.py'}:respond",
            "--db",
            str(db),
            "--panel",
            str(panel),
            "--concurrency",
            "1",
            "--no-progress",
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(fake_llm.responder.requests) < 8:
        time.sleep(0.05)
    time.sleep(0.7)  # past one flush interval, so some cases are stored
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    hint = err.strip().splitlines()[-1]
    assert "Resume with: pactjury run --resume" in hint and "--panel" not in hint
    (run_id,) = rows(db, "SELECT run_id FROM runs")[0]
    stored = rows(db, "SELECT count(*) FROM transcripts")[0][0]
    assert 0 < stored < 16

    r = pj("run", "--resume", run_id, "--db", db, "--no-progress", "--no-report")  # the printed command, as is
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT count(DISTINCT case_id) FROM transcripts") == [(16,)]
    assert rows(db, "SELECT count(DISTINCT case_id), count(DISTINCT judge) FROM votes") == [(16, 2)]
