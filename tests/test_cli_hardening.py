"""Command-line hardening: one-line usage errors, finite numbers only, SIGTERM ends a run as Ctrl-C does."""

from __future__ import annotations

import signal
import subprocess

import pytest
from test_run_cli import PJ, _slow_suite, _wait_for_calls, pj, rows

from harness.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bogus"],
        ["run", "s", "--concurrency", "zero"],
        ["nosuchcommand"],
        ["show"],
        ["review"],
        ["trends", "--view", "nope"],
    ],
)
def test_usage_errors_are_one_line_with_a_help_hint(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("pactjury") and "error:" in line and "--help" in line


@pytest.mark.parametrize(
    "flag, value", [("--temperature", "nan"), ("--temperature", "inf"), ("--timeout", "nan"), ("--timeout", "-1")]
)
def test_numeric_flags_must_be_finite(flag, value, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "suites/itsm", "--target", "python:x:y", flag, value, "--db", str(tmp_path / "x.duckdb")])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "x.duckdb").exists()


def test_sigterm_aborts_like_ctrl_c_and_the_run_resumes(tmp_path):
    root, calls = _slow_suite(tmp_path, 30)
    db = tmp_path / "t.duckdb"
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
            "--no-report",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_calls(calls, 10)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "Resume with: pactjury run --resume" in err and "Traceback" not in err
    (run_id,) = rows(db, "SELECT run_id FROM runs")[0]
    assert rows(db, "SELECT event FROM run_events ORDER BY event_at DESC LIMIT 1")[0][0] == "aborted"
    r = pj("run", "--resume", run_id, "--db", db, "--no-progress", "--no-report")
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT count(DISTINCT case_id) FROM transcripts") == [(30,)]
