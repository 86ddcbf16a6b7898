"""End-to-end runs through the real `pactjury` command: evidence in DuckDB, exit codes, resume, abort, bad input."""

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
from suitefiles import basic_suite, write_agent, write_suite

PJ = [sys.executable, "-m", "harness.cli"]


def pj(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*PJ, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=full_env)


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture()
def suite(tmp_path):
    root = write_suite(tmp_path / "suite", suite=basic_suite(6))
    write_agent(root)
    return root


def test_help_is_fast_and_does_not_import_litellm():
    code = (
        "import time, sys; t=time.perf_counter(); from harness.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(time.perf_counter()-t, 'litellm' in sys.modules, 'duckdb' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[-3]) < 0.5
    assert out[-2] == "False" and out[-1] == "False"


def test_run_stores_everything_and_exits_by_breach(suite, tmp_path):
    db = tmp_path / "r.duckdb"
    r = pj(
        "run",
        suite,
        "--target",
        f"python:{suite / 'agent.py'}:respond",
        "--db",
        db,
        "--agent",
        "demo",
        "--agent-version",
        "2.1",
        "--no-progress",
    )
    # nothing breached: tone is pending-jury; label-right passed 6/6, but at 95% confidence 6 cases cannot show
    # a 0.9 pass rate (lower bound 0.61), so it is inconclusive with a number of further cases to decide
    assert r.returncode == 0, r.stderr
    assert "pending-jury" in r.stdout and "decision:" in r.stdout
    ((run_id, status),) = rows(
        db,
        "SELECT r.run_id, (SELECT event FROM run_events e WHERE e.run_id=r.run_id "
        "ORDER BY event_at DESC LIMIT 1) FROM runs r",
    )
    assert status == "completed"
    assert rows(db, "SELECT count(*) FROM transcripts")[0][0] == 6
    assert rows(db, "SELECT count(*) FROM cases")[0][0] == 6
    # two deterministic clauses x 6 cases, one check each
    assert rows(db, "SELECT count(*), count(*) FILTER (outcome='pass') FROM check_results")[0] == (12, 12)
    verdicts = dict(rows(db, "SELECT outcome, count(*) FROM verdicts GROUP BY 1"))
    assert verdicts == {"pass": 12, "pending-jury": 6}
    tool_calls = json.loads(rows(db, "SELECT tool_calls FROM transcripts WHERE case_id='case-003'")[0][0])
    assert tool_calls == [{"name": "lookup", "arguments": {"n": 3}}]
    agent, version, pact_hash = rows(db, "SELECT agent, agent_version, pact_hash FROM runs")[0]
    assert (agent, version) == ("demo", "2.1") and len(pact_hash) == 64

    shown = json.loads(pj("show", run_id, "--db", db, "--json").stdout)
    statuses = {c["clause_id"]: c["status"] for c in shown["clauses"]}
    assert statuses == {"says-hello": "met", "label-right": "inconclusive", "tone": "pending-jury"}
    label = next(c for c in shown["clauses"] if c["clause_id"] == "label-right")
    assert label["confidence"] == 0.95 and label["cases_needed"] > 0
    assert shown["decision"]["decision"] == "approve"  # the test pact has no re-evaluate rule
    assert rows(
        db, "SELECT confidence, cases_needed IS NOT NULL FROM clause_results WHERE clause_id='label-right'"
    ) == [(0.95, True)]
    listed = json.loads(pj("runs", "--db", db, "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]


def test_breach_exits_1_and_target_errors_are_recorded(tmp_path):
    s = basic_suite(4)
    s["cases"][1]["input"] = "boom 1"
    s["cases"][2]["input"] = "hello 2"  # label right, but no error
    s["cases"][3]["input"] = "boom 3"
    root = write_suite(tmp_path / "suite", suite=s)
    write_agent(root)
    db = tmp_path / "r.duckdb"
    r = pj("run", root, "--target", f"python:{root / 'agent.py'}:respond_async", "--db", db, "--no-progress")
    # 2/4 on label-right: its 95% interval (15%-85%) lies below 0.9, a breach shown, not merely observed
    assert r.returncode == 1, r.stdout + r.stderr
    (err,) = rows(db, "SELECT error FROM transcripts WHERE case_id='case-001'")[0]
    assert "RuntimeError: agent exploded" in err
    outcomes = rows(db, "SELECT DISTINCT outcome, decided_by FROM verdicts WHERE case_id='case-001'")
    assert outcomes == [("error", "target-error")]
    status = rows(db, "SELECT status FROM clause_results WHERE clause_id='label-right'")[0][0]
    assert status == "breached"
    decision = rows(db, "SELECT decision FROM decisions")[0][0]
    assert decision == "restrict"


def test_timeout_is_recorded_not_fatal(tmp_path):
    s = basic_suite(2)
    s["cases"][0]["input"] = "slow 0"
    root = write_suite(tmp_path / "suite", suite=s)
    write_agent(root)
    db = tmp_path / "r.duckdb"
    t = time.monotonic()
    r = pj(
        "run",
        root,
        "--target",
        f"python:{root / 'agent.py'}:respond",
        "--db",
        db,
        "--timeout",
        "0.5",
        "--no-progress",
        env={"PJ_TEST_SLOW": "3"},
    )
    assert r.returncode in (0, 1), r.stderr
    assert rows(db, "SELECT error FROM transcripts WHERE case_id='case-000'")[0][0] == "timed out after 0.5s"
    assert rows(db, "SELECT error FROM transcripts WHERE case_id='case-001'")[0][0] is None
    assert time.monotonic() - t < 15


def test_command_target(tmp_path, suite):
    db = tmp_path / "r.duckdb"
    script = tmp_path / "agent_cmd.py"
    script.write_text(
        "import json, sys\ncase = json.load(sys.stdin)\n"
        "n = int(case['input'].split()[-1])\n"
        "print(json.dumps({'output': json.dumps({'greeting': 'hello', 'label': 'even' if n % 2 == 0 else 'odd'})}))\n"
    )
    r = pj("run", suite, "--target", f"cmd:{sys.executable} {script}", "--db", db, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT count(*) FROM verdicts WHERE outcome='pass'")[0][0] == 12


def _slow_suite(tmp_path: Path, n: int) -> tuple[Path, Path]:
    root = write_suite(tmp_path / "suite", suite=basic_suite(n))
    calls = tmp_path / "calls.log"
    (root / "agent.py").write_text(
        "import json, time\n"
        f"CALLS = {str(calls)!r}\n"
        "def respond(case):\n"
        "    with open(CALLS, 'a') as f:\n"
        "        f.write(case['id'] + '\\n')\n"
        "    time.sleep(0.15)\n"
        "    n = int(case['input'].split()[-1])\n"
        "    return json.dumps({'greeting': 'hello', 'label': 'even' if n % 2 == 0 else 'odd'})\n"
    )
    return root, calls


def _wait_for_calls(calls: Path, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if calls.exists() and len(calls.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("agent was not called in time")


@pytest.mark.parametrize("how", ["sigkill", "sigint"])
def test_interrupted_run_resumes_without_redoing_or_duplicating(tmp_path, how):
    root, calls = _slow_suite(tmp_path, 40)
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
            "--concurrency",
            "2",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_calls(calls, 14)
    time.sleep(0.7)  # past one flush interval, so some cases are stored
    proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    if how == "sigint":
        assert proc.returncode == 3, err
        assert "Resume with: pactjury run --resume" in err
        assert "Traceback" not in err
    (run_id,) = rows(db, "SELECT run_id FROM runs")[0]
    stored_before = {r[0] for r in rows(db, "SELECT case_id FROM transcripts")}
    assert 0 < len(stored_before) < 40
    last_event = rows(db, "SELECT event FROM run_events ORDER BY event_at DESC LIMIT 1")[0][0]
    assert last_event == ("started" if how == "sigkill" else "aborted")
    calls_before = len(calls.read_text().splitlines())

    r = pj("run", "--resume", run_id, "--db", db, "--no-progress")
    assert r.returncode == 0, r.stderr
    resumed_calls = calls.read_text().splitlines()[calls_before:]
    assert not stored_before & set(resumed_calls), "a stored case was run again"
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM transcripts") == [(40, 40)]
    assert rows(db, "SELECT count(*) FROM verdicts")[0][0] == 120
    events = [e for (e,) in rows(db, "SELECT event FROM run_events ORDER BY event_at")]
    assert events[0] == "started" and "resumed" in events and events[-1] == "completed"
    again = pj("run", "--resume", run_id, "--db", db)
    assert again.returncode == 2 and "already completed" in again.stderr


def test_resume_refuses_a_changed_pact(tmp_path):
    root, calls = _slow_suite(tmp_path, 30)
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
            "--concurrency",
            "1",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for_calls(calls, 2)
    proc.kill()
    proc.communicate(timeout=30)
    (run_id,) = rows(db, "SELECT run_id FROM runs")[0]
    pact = root / "pact.yaml"
    pact.write_text(pact.read_text().replace("threshold: 0.5", "threshold: 0.55"))
    r = pj("run", "--resume", run_id, "--db", db)
    assert r.returncode == 2 and "pact changed" in r.stderr and "\n" not in r.stderr.strip()


BAD_INPUTS = [
    ("pact.yaml", "id: x\nclauses: [\n", "invalid YAML"),
    ("pact.yaml", None, "unknown field 'treshold'"),
    (
        "suite.yaml",
        "id: s\ncases:\n  - id: a\n    clauses: [says-hello]\n    input: hi\n  - id: a\n    clauses: [says-hello]\n    input: hi\n",
        "duplicate case id",
    ),
]


@pytest.mark.parametrize("filename,content,needle", BAD_INPUTS)
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, suite, filename, content, needle):
    path = suite / filename
    if content is None:
        content = path.read_text().replace("threshold: 0.9", "treshold: 0.9")
    path.write_text(content)
    db = tmp_path / "never.duckdb"
    r = pj("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", db)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and filename in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not db.exists()
    v = pj("validate", suite)
    assert v.returncode == 2 and needle in v.stderr


def test_validate_ok_and_strict(tmp_path, suite):
    r = pj("validate", suite)
    assert r.returncode == 0 and "ok" in r.stdout and "6 cases" in r.stdout
    s = basic_suite(2)
    for c in s["cases"]:
        c["clauses"] = ["says-hello"]
    other = write_suite(tmp_path / "other", suite=s)
    assert pj("validate", other).returncode == 0
    strict = pj("validate", other, "--strict")
    assert strict.returncode == 2 and "tested by no case" in strict.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "SUITE", "--target", "python:nonexistent_mod_xyz:fn"], "cannot import 'nonexistent_mod_xyz'"),
        (["run", "SUITE", "--target", "has spaces in it"], "expected a litellm model"),
        (
            ["run", "SUITE", "--target", "openai/x", "--target-api-key-env", "PJ_UNSET_VAR_XYZ"],
            "PJ_UNSET_VAR_XYZ is not set",
        ),
        (["show", "no-such-run"], "no run 'no-such-run'"),
        (["run", "SUITE"], "--target"),
    ],
)
def test_usage_errors(tmp_path, suite, args, needle):
    db = tmp_path / "u.duckdb"
    if args[0] == "show":
        pj("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", db, "--no-progress")
    r = pj(*[str(suite) if a == "SUITE" else a for a in args], "--db", db)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_unreadable_database(tmp_path, suite):
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"this is not a database" * 100)
    r = pj("runs", "--db", bad)
    assert r.returncode == 2 and "bad.duckdb" in r.stderr and "Traceback" not in r.stderr
    r = pj("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", bad)
    assert r.returncode == 2 and "bad.duckdb" in r.stderr


def test_secrets_never_reach_the_store(tmp_path, suite):
    db = tmp_path / "s.duckdb"
    key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    script = tmp_path / "a.py"
    script.write_text("import sys, json; json.load(sys.stdin); print('hello')\n")
    r = pj("run", suite, "--target", f"cmd:OPENAI_API_KEY={key} {sys.executable} {script}", "--db", db, "--no-progress")
    assert r.returncode in (0, 1), r.stderr
    (spec,) = rows(db, "SELECT target_spec FROM runs")[0]
    assert key not in spec and "OPENAI_API_KEY=" in spec
    assert key.encode() not in db.read_bytes()
    assert key not in r.stdout + r.stderr
