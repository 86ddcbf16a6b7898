"""`run --workers N`: cases sharded over worker processes, one writer to the store; the same evidence, abort and
resume as a run in one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from suitefiles import basic_suite, write_panel, write_suite

from harness.executors import MIN_CASES_PER_WORKER, cores, local_workers
from harness.testing.openai_server import Reply

PJ = [sys.executable, "-m", "harness.cli"]
PASS = json.dumps({"verdict": "pass", "rationale": "Courteous."})

# Writes "pid case-id" for every call; a case whose input says "die" ends its worker process while the file
# named by DIE_FLAG exists (an agent that crashes the interpreter, e.g. a segfaulting extension).
AGENT = """
import json, os, time
CALLS, DIE_FLAG, SLEEP = {calls!r}, {die!r}, {sleep!r}

def respond(case):
    with open(CALLS, "a") as f:
        f.write(f"{{os.getpid()}} {{case['id']}}\\n")
    if SLEEP:
        time.sleep(SLEEP)
    if "die" in case["input"] and os.path.exists(DIE_FLAG):
        os._exit(7)
    n = int(case["input"].split()[-1])
    return {{"output": json.dumps({{"greeting": "Hello!", "label": "even" if n % 2 == 0 else "odd"}}),
            "tool_calls": [{{"name": "lookup", "arguments": {{"n": n}}}}]}}
"""


def pj(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PJ, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def make_suite(tmp_path: Path, n: int, sleep: float = 0.0, die_at: int | None = None) -> tuple[Path, Path, Path]:
    suite = basic_suite(n)
    if die_at is not None:
        suite["cases"][die_at]["input"] = f"die {die_at}"
    root = write_suite(tmp_path / "suite", suite=suite)
    calls, die = tmp_path / "calls.log", tmp_path / "die.flag"
    (root / "agent.py").write_text(AGENT.format(calls=str(calls), die=str(die), sleep=sleep))
    return root, calls, die


def called(calls: Path) -> list[tuple[int, str]]:
    if not calls.exists():
        return []
    return [(int(pid), case) for pid, case in (line.split() for line in calls.read_text().splitlines())]


def wait_for_calls(calls: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(called(calls)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} agent calls in {timeout}s")


def evidence(db: Path, run_id: str) -> dict[str, list[tuple]]:
    return {
        "verdicts": rows(
            db,
            "SELECT case_id, clause_id, outcome, decided_by, detail FROM verdicts WHERE run_id = ? ORDER BY ALL",
            (run_id,),
        ),
        "checks": rows(
            db,
            "SELECT case_id, clause_id, idx, check_name, outcome, detail FROM check_results "
            "WHERE run_id = ? ORDER BY ALL",
            (run_id,),
        ),
        "outputs": rows(db, "SELECT case_id, output, error FROM transcripts WHERE run_id = ? ORDER BY ALL", (run_id,)),
        "clauses": rows(
            db,
            "SELECT clause_id, n, passed, failed, errors, pending, status FROM clause_results "
            "WHERE run_id = ? ORDER BY ALL",
            (run_id,),
        ),
    }


def run_ids(db: Path) -> list[str]:
    return [r for (r,) in rows(db, "SELECT run_id FROM runs ORDER BY started_at")]


def events(db: Path, run_id: str) -> list[tuple[str, str | None]]:
    return rows(db, "SELECT event, detail FROM run_events WHERE run_id = ? ORDER BY event_at", (run_id,))


def test_two_workers_store_the_same_evidence_as_one_process(tmp_path):
    root, calls, _ = make_suite(tmp_path, 600)
    target = f"python:{root / 'agent.py'}:respond"
    db = tmp_path / "r.duckdb"
    one = pj("run", root, "--target", target, "--db", db, "--workers", "1", "--no-progress", "--no-report")
    assert one.returncode == 0, one.stderr
    in_process = {pid for pid, _ in called(calls)}
    calls.unlink()
    two = pj(
        "run",
        root,
        "--target",
        target,
        "--db",
        db,
        "--workers",
        "2",
        "--concurrency",
        "8",
        "--no-progress",
        "--no-report",
    )
    assert two.returncode == 0, two.stderr
    first, second = run_ids(db)
    assert evidence(db, first) == evidence(db, second)
    assert len(evidence(db, second)["outputs"]) == 600
    # every case ran once, in one of two worker processes, neither of them the one that ran the first run
    pids = [pid for pid, _ in called(calls)]
    assert len(pids) == 600 and len({case for _, case in called(calls)}) == 600
    assert len(set(pids)) == 2 and not set(pids) & in_process
    assert [e for e, _ in events(db, second)] == ["started", "completed"]
    options = json.loads(rows(db, "SELECT options FROM runs WHERE run_id = ?", (second,))[0][0])
    assert options["workers"] == 2 and options["executor"] == "local" and options["concurrency"] == 8


def test_sigterm_stops_every_worker_and_the_run_resumes_without_redoing_a_case(tmp_path):
    root, calls, _ = make_suite(tmp_path, 80, sleep=0.1)
    db = tmp_path / "r.duckdb"
    proc = subprocess.Popen(
        [
            *PJ,
            "run",
            str(root),
            "--target",
            f"python:{root / 'agent.py'}:respond",
            "--db",
            str(db),
            "--workers",
            "2",
            "--concurrency",
            "4",
            "--no-progress",
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_calls(calls, 20)
    time.sleep(0.7)  # past one flush interval, so some cases are stored
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "Resume with: pactjury run --resume" in err and "Traceback" not in err
    worker_pids = {pid for pid, _ in called(calls)}
    assert len(worker_pids) == 2
    for pid in worker_pids:  # no worker outlives the run
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    (run_id,) = run_ids(db)
    stored = {c for (c,) in rows(db, "SELECT case_id FROM transcripts")}
    assert 0 < len(stored) < 80
    ((event, detail),) = [e for e in events(db, run_id) if e[0] == "aborted"]
    assert detail == f"interrupted: {len(stored)} of 80 cases stored"
    before = len(called(calls))

    resumed = pj("run", "--resume", run_id, "--db", db, "--workers", "2", "--no-progress", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    redone = {case for _, case in called(calls)[before:]}
    assert not stored & redone, "a stored case was run again"
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM transcripts") == [(80, 80)]
    assert rows(db, "SELECT count(*) FROM verdicts WHERE run_id = ?", (run_id,))[0][0] == 240
    kinds = [e for e, _ in events(db, run_id)]
    assert kinds[0] == "started" and "resumed" in kinds and kinds[-1] == "completed"


def test_a_worker_that_dies_aborts_the_run_resumably(tmp_path):
    root, calls, die = make_suite(tmp_path, 60, die_at=10)
    die.write_text("")
    db = tmp_path / "r.duckdb"
    target = f"python:{root / 'agent.py'}:respond"
    r = pj(
        "run",
        root,
        "--target",
        target,
        "--db",
        db,
        "--workers",
        "2",
        "--concurrency",
        "2",
        "--no-progress",
        "--no-report",
    )
    assert r.returncode == 3, r.stderr
    assert "exited unexpectedly (exit code 7)" in r.stderr and "Resume with" in r.stderr
    (run_id,) = run_ids(db)
    assert events(db, run_id)[-1][0] == "aborted"
    assert "case-010" not in {c for (c,) in rows(db, "SELECT case_id FROM transcripts")}
    die.unlink()
    resumed = pj("run", "--resume", run_id, "--db", db, "--workers", "2", "--no-progress", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM transcripts") == [(60, 60)]


def test_the_jury_judges_in_the_workers_and_the_stores_cache_answers_them(tmp_path, fake_llm):
    fake_llm.responder.default = lambda request: Reply(text=PASS)
    root, _, _ = make_suite(tmp_path, 30)
    half = write_suite(tmp_path / "half", suite={**basic_suite(15)})  # the same first 15 cases
    (half / "agent.py").write_text((root / "agent.py").read_text())
    panel = write_panel(tmp_path / "judges", fake_llm.url, [{"name": "judge-a"}, {"name": "judge-b"}])
    db = tmp_path / "r.duckdb"
    common = ("--db", db, "--panel", panel, "--no-progress", "--no-report")
    first = pj("run", half, "--target", f"python:{half / 'agent.py'}:respond", "--workers", "1", *common)
    assert first.returncode == 0, first.stderr
    assert len(fake_llm.requests) == 30  # 15 cases x 2 judges on the jury clause
    second = pj("run", root, "--target", f"python:{root / 'agent.py'}:respond", "--workers", "2", *common)
    assert second.returncode == 0, second.stderr
    # the workers asked the store for the first 15 cases' identical judge calls, and called judges for the rest
    assert len(fake_llm.requests) == 60
    a, b = run_ids(db)
    assert rows(
        db, "SELECT count(*) FILTER (NOT cached), count(*) FILTER (cached) FROM votes WHERE run_id = ?", (b,)
    ) == [(30, 30)]
    assert rows(
        db, "SELECT count(*) FROM verdicts WHERE run_id = ? AND decided_by = 'panel' AND outcome = 'pass'", (b,)
    ) == [(30,)]


def test_a_run_whose_target_always_fails_is_failed_across_workers(tmp_path):
    root = write_suite(tmp_path / "suite", suite=basic_suite(300))
    (root / "agent.py").write_text("def respond(case):\n    raise ConnectionError('agent backend is down')\n")
    db = tmp_path / "r.duckdb"
    r = pj(
        "run",
        root,
        "--target",
        f"python:{root / 'agent.py'}:respond",
        "--db",
        db,
        "--workers",
        "2",
        "--no-progress",
        "--no-report",
    )
    assert r.returncode == 4, r.stderr
    (run_id,) = run_ids(db)
    event, detail = events(db, run_id)[-1]
    assert event == "failed" and "agent backend is down" in detail
    assert rows(db, "SELECT count(*) FROM clause_results")[0][0] == 0


def test_ray_address_without_the_ray_executor_is_refused_before_anything_is_written(tmp_path):
    root, _, _ = make_suite(tmp_path, 4)
    db = tmp_path / "r.duckdb"
    r = pj("run", root, "--target", f"python:{root / 'agent.py'}:respond", "--db", db, "--ray-address", "auto")
    assert r.returncode == 2
    assert r.stderr.strip() == "pactjury: error: --ray-address needs --executor ray"
    assert not db.exists()


def test_workers_by_default_one_per_core_for_big_suites_never_more_than_cases_or_slots():
    assert local_workers(None, MIN_CASES_PER_WORKER - 1, 64) == 1  # a small suite stays in one process
    assert local_workers(None, 1_000_000, 64) == cores()
    assert local_workers(None, 1_000_000, 64, embedded=True) == 1  # the embedded model uses every core itself
    assert local_workers(8, 3, 64) == 3 and local_workers(8, 100, 2) == 2
