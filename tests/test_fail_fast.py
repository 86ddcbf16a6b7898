"""A wrong target or dead judges are not evidence against the agent: bad specs fail before the run, a run whose
calls mostly fail one way stops as failed (exit 4), and --deadline bounds a whole run (aborted, resumable)."""

from __future__ import annotations

import socket

import pytest
from suitefiles import basic_suite, write_agent, write_panel, write_suite
from test_run_cli import pj, rows

from harness.failwatch import FailureWatch, cause_key
from harness.testing.openai_server import Reply
from harness.types import Case, CaseResult, Transcript

pytestmark = pytest.mark.timeout(120)

BROKEN_AGENT = """
import asyncio

async def broken(case):
    await asyncio.sleep(0.005)
    raise ConnectionError("backend 10.1.2.3:8080 refused the connection (attempt 1)")

def slow(case):
    import time
    time.sleep(0.4)
    return "hello"
"""


def _suite(tmp_path, n: int):
    root = write_suite(tmp_path / "suite", suite=basic_suite(n))
    write_agent(root)
    (root / "broken.py").write_text(BROKEN_AGENT)
    return root


@pytest.mark.parametrize(
    "spec, says",
    [
        ("nonsense", "litellm cannot tell the provider of 'nonsense'"),
        ("foo/bar", "litellm cannot tell the provider of 'foo/bar'"),
        ("SUITE/agent.py", "a file, not a target; for a Python agent write python:"),
    ],
)
def test_a_wrong_target_spec_is_one_line_and_nothing_is_written(tmp_path, spec, says):
    root = _suite(tmp_path, 2)
    db = tmp_path / "w.duckdb"
    r = pj("run", root, "--target", spec.replace("SUITE", str(root)), "--db", db, "--no-progress")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and says in r.stderr
    assert "Traceback" not in r.stderr and not db.exists()


def test_a_run_whose_target_calls_fail_one_way_stops_as_failed_and_says_why(tmp_path):
    root = _suite(tmp_path, 120)
    db = tmp_path / "f.duckdb"
    r = pj(
        "run",
        root,
        "--target",
        f"python:{root / 'broken.py'}:broken",
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--concurrency",
        "4",
    )
    assert r.returncode == 4, r.stderr
    assert "failed: 20 of 20 target calls failed the same way: ConnectionError: backend" in r.stderr
    run_id, status, detail = rows(db, "SELECT run_id, event, detail FROM run_events ORDER BY event_at DESC")[0]
    assert status == "failed" and "target calls failed the same way" in detail
    stored = rows(db, "SELECT count(*) FROM transcripts")[0][0]
    assert 20 <= stored < 40  # stopped early: not the 120 cases
    assert rows(db, "SELECT count(*) FROM clause_results") == [(0,)]  # not evidence: no clause results
    assert rows(db, "SELECT count(*) FROM decisions") == [(0,)]
    show = pj("show", run_id, "--db", db)
    assert "[failed]" in show.stdout and "failed: 20 of 20 target calls failed the same way" in show.stdout
    again = pj("run", "--resume", run_id, "--db", db, "--no-progress")
    assert again.returncode == 2 and "failed" in again.stderr and "start a new run" in again.stderr


def test_a_small_run_that_failed_entirely_is_failed_too_and_no_fail_fast_keeps_it_as_evidence(tmp_path):
    root = _suite(tmp_path, 3)
    db = tmp_path / "s.duckdb"
    target = f"python:{root / 'broken.py'}:broken"
    r = pj("run", root, "--target", target, "--db", db, "--no-progress", "--no-report")
    assert r.returncode == 4 and "3 of 3 target calls failed the same way" in r.stderr
    r = pj("run", root, "--target", target, "--db", db, "--no-progress", "--no-report", "--no-fail-fast")
    assert r.returncode == 1, r.stderr  # recorded as the agent's failures, as asked: breached
    assert rows(db, "SELECT count(*) FROM runs r JOIN clause_results c USING (run_id)")[0][0] > 0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _judged_run(root, panel, db):
    """The suite's working agent, judged by `panel` with no cache: only the judges can fail the run."""
    target = f"python:{root / 'agent.py'}:respond"
    return pj(
        "run", root, "--target", target, "--panel", panel, "--db", db, "--no-progress", "--no-report", "--no-cache"
    )


def test_dead_judges_fail_the_run_with_the_judges_cause(tmp_path):
    root = _suite(tmp_path, 30)
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    panel = write_panel(tmp_path / "panels", dead, [{"name": "judge-a"}, {"name": "judge-b"}, {"name": "judge-c"}])
    db = tmp_path / "j.duckdb"
    r = _judged_run(root, panel, db)
    assert r.returncode == 4, r.stderr
    assert "judge calls failed the same way" in r.stderr and "judge-" in r.stderr
    assert rows(db, "SELECT event FROM run_events ORDER BY event_at DESC LIMIT 1") == [("failed",)]


def test_one_dead_judge_of_three_does_not_fail_the_run(tmp_path, fake_llm):
    fake_llm.responder.default = lambda request: Reply(text='{"verdict": "pass", "rationale": "ok"}')
    root = _suite(tmp_path, 24)
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    panel = write_panel(
        tmp_path / "panels",
        fake_llm.url,
        [{"name": "judge-a"}, {"name": "judge-b"}, {"name": "judge-c", "api_base": dead}],
    )
    db = tmp_path / "o.duckdb"
    r = _judged_run(root, panel, db)
    assert r.returncode in (0, 1), r.stderr
    assert rows(db, "SELECT event FROM run_events ORDER BY event_at DESC LIMIT 1") == [("completed",)]


def test_deadline_aborts_the_whole_run_resumably(tmp_path):
    root = _suite(tmp_path, 12)
    db = tmp_path / "d.duckdb"
    target = f"python:{root / 'broken.py'}:slow"
    r = pj(
        "run",
        root,
        "--target",
        target,
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--concurrency",
        "2",
        "--deadline",
        "1s",
    )
    assert r.returncode == 3, r.stderr
    assert "deadline of 1s reached" in r.stderr and "Resume with: pactjury run --resume" in r.stderr
    run_id, event, detail = rows(db, "SELECT run_id, event, detail FROM run_events ORDER BY event_at DESC")[0]
    assert event == "aborted" and detail.startswith("deadline of 1s reached")
    assert 0 < rows(db, "SELECT count(*) FROM transcripts")[0][0] < 12
    r = pj("run", "--resume", run_id, "--db", db, "--no-progress", "--no-report", "--concurrency", "4")
    assert r.returncode in (0, 1), r.stderr
    assert rows(db, "SELECT count(DISTINCT case_id), count(*) FROM transcripts") == [(12, 12)]


def _result(error: str | None) -> CaseResult:
    case = Case(id="c", suite_id="s", clause_ids=("x",), input="hi")
    return CaseResult(
        case=case, transcript=Transcript(run_id="r", case_id="c", output="", error=error), checks=(), verdicts=()
    )


def test_the_watch_needs_most_calls_failing_the_same_way():
    watch = FailureWatch(min_calls=10, share=0.8)
    for i in range(10):  # ten different failures are not one cause, and 7 of 10 is not most
        watch.record(_result(f"KeyError: 'field{i}'" if i < 7 else None))
    assert cause_key("KeyError: 'field1'") == cause_key("KeyError: 'field2'")
    assert watch.cause() is None
    for _ in range(10):
        watch.record(_result("KeyError: 'other'"))
    assert watch.cause() is not None and watch.cause().startswith("17 of 20 target calls")
