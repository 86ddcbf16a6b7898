"""Case selection on `run` through the real command: --case, --tag, --clause, --limit, --sample, --rerun-failed;
unknown names; the selection recorded with the run, stated by `show` and replayed by `--resume`."""

from __future__ import annotations

import json

import pytest
from evidence_store import cli
from suitefiles import basic_suite, write_agent, write_suite
from test_run_cli import pj, rows

from harness.selection import CaseSelection


@pytest.fixture()
def suite(tmp_path):
    s = basic_suite(8)
    for i, case in enumerate(s["cases"]):
        case["tags"] = ["even" if i % 2 == 0 else "odd"] + (["edge"] if i in (3, 6) else [])
    s["cases"][5]["input"] = "boom 5"  # the agent raises: a target error
    s["cases"][7]["expected"] = {"label": "even"}  # the agent says odd: a failed verdict
    s["cases"][2]["clauses"] = ["says-hello"]
    root = write_suite(tmp_path / "suite", suite=s)
    write_agent(root)
    return root


def _run(suite, db, *args, env=None):
    """A run through the real command: in this process (fast) unless it needs its own environment."""
    argv = [
        "run",
        suite,
        "--target",
        f"python:{suite / 'agent.py'}:respond",
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--json",
        *args,
    ]
    r = pj(*argv, env=env) if env else cli(*argv)
    assert r.returncode in (0, 1, 3), r.stderr
    return r


def _cases(db, run_id):
    return sorted(c for (c,) in rows(db, "SELECT case_id FROM cases WHERE run_id = ?", [run_id]))


def test_each_criterion_and_their_combination(suite, tmp_path):
    db = tmp_path / "s.duckdb"

    def picked(*args):
        out = json.loads(_run(suite, db, *args).stdout)
        run_id = out["run"]["run_id"]
        assert out["run"]["n_cases"] == len(_cases(db, run_id))
        return _cases(db, run_id), out["run"]["options"].get("selection")

    assert picked("--case", "case-001", "--case", "case-004")[0] == ["case-001", "case-004"]
    assert picked("--tag", "edge")[0] == ["case-003", "case-006"]
    assert picked("--tag", "edge", "--tag", "odd")[0] == ["case-001", "case-003", "case-005", "case-006", "case-007"]
    cases, selection = picked("--clause", "label-right", "--tag", "even")  # case-002 tests only says-hello
    assert cases == ["case-000", "case-004", "case-006"] and selection == {"tags": ["even"], "clauses": ["label-right"]}
    assert picked("--limit", "3")[0] == ["case-000", "case-001", "case-002"]
    first, selection = picked("--sample", "3", "--sample-seed", "7")
    assert len(first) == 3 and selection == {"sample": 3, "seed": 7}
    assert picked("--sample", "3", "--sample-seed", "7")[0] == first  # seeded: the same cases again
    assert picked("--sample", "3", "--seed", "7")[0] == first  # --seed seeds the sample when --sample-seed is absent
    assert picked("--sample", "3", "--sample-seed", "7", "--limit", "2")[0] == first[:2]


def test_an_attack_follows_its_original(tmp_path):
    root = write_suite(tmp_path / "suite", suite=basic_suite(3))
    write_agent(root)
    db = tmp_path / "m.duckdb"
    out = json.loads(_run(root, db, "--mutate", "typos", "--case", "case-001").stdout)
    assert _cases(db, out["run"]["run_id"]) == ["case-001", "case-001~typos"]
    out = json.loads(_run(root, db, "--mutate", "typos", "--case", "case-002~typos").stdout)
    assert _cases(db, out["run"]["run_id"]) == ["case-002~typos"]


def test_rerun_failed_takes_failed_verdicts_and_target_errors(suite, tmp_path):
    db = tmp_path / "r.duckdb"
    full = json.loads(_run(suite, db).stdout)["run"]["run_id"]
    again = json.loads(_run(suite, db, "--rerun-failed", full).stdout)
    assert _cases(db, again["run"]["run_id"]) == ["case-005", "case-007"]
    assert again["run"]["options"]["selection"] == {"rerun_failed": full}
    shown = pj("show", again["run"]["run_id"], "--db", db)
    assert f"selection: --rerun-failed {full}" in shown.stdout

    # a run of another suite, and a run with nothing failed, are clear errors
    other = write_suite(tmp_path / "other", suite={**basic_suite(2), "id": "other-suite"})
    write_agent(other)
    r = pj("run", other, "--target", f"python:{other / 'agent.py'}:respond", "--db", db, "--rerun-failed", full)
    assert r.returncode == 2 and "is of suite demo-suite, not other-suite" in r.stderr
    clean = json.loads(_run(suite, db, "--case", "case-000").stdout)["run"]["run_id"]
    r = pj("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", db, "--rerun-failed", clean)
    assert r.returncode == 2 and "has no failed case" in r.stderr
    r = pj("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", db, "--rerun-failed", "nope")
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--case", "case-999"],
            "--case case-999: no case 'case-999' in suite demo-suite; valid cases: case-000, case-001",
        ),
        (["--tag", "nope"], "--tag nope: no tag 'nope' in suite demo-suite; valid tags: edge, even, odd"),
        (
            ["--clause", "nope"],
            "--clause nope: no clause 'nope' in suite demo-suite; valid clauses: label-right, says-hello",
        ),
        (["--tag", "edge", "--tag", "even", "--case", "case-001"], "selects no case of suite demo-suite"),
        (["--limit", "0"], "--limit: must be at least 1"),
    ],
)
def test_bad_selections_are_one_line_errors_and_write_nothing(suite, tmp_path, args, needle):
    db = tmp_path / "bad.duckdb"
    run = pj if "0" in args else cli  # a usage error exits through argparse: that one in its own process
    r = run("run", suite, "--target", f"python:{suite / 'agent.py'}:respond", "--db", db, *args)
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in line
    assert not db.exists()


def test_resume_replays_the_selection(suite, tmp_path):
    db = tmp_path / "z.duckdb"
    s = basic_suite(8)
    s["cases"][2]["input"] = "slow 2"
    for case in s["cases"]:
        case["tags"] = ["picked"] if case["id"] in ("case-001", "case-002", "case-003", "case-006") else []
    write_suite(suite, suite=s)
    r = _run(suite, db, "--tag", "picked", "--concurrency", "1", "--deadline", "1s", env={"PJ_TEST_SLOW": "2"})
    assert r.returncode == 3, r.stderr  # aborted at the deadline, resumable
    (run_id,) = rows(db, "SELECT run_id FROM runs")[0]
    assert len(rows(db, "SELECT case_id FROM transcripts")) < 4
    r = pj("run", "--resume", run_id, "--db", db, "--no-progress", "--no-report", "--case", "case-001")
    assert r.returncode == 2 and "runs the cases that run selected" in r.stderr
    r = pj("run", "--resume", run_id, "--db", db, "--no-progress", "--no-report", env={"PJ_TEST_SLOW": "0"})
    assert r.returncode == 0, r.stderr
    assert sorted(c for (c,) in rows(db, "SELECT case_id FROM transcripts")) == [
        "case-001",
        "case-002",
        "case-003",
        "case-006",
    ]
    assert "selection: --tag picked" in r.stdout


def test_describe_and_record_round_trip():
    s = CaseSelection(cases=("a",), tags=("t",), clauses=("c",), rerun_failed="R", sample=2, seed=5, limit=1)
    assert s.describe() == "--case a --tag t --clause c --rerun-failed R --sample 2 --sample-seed 5 --limit 1"
    assert CaseSelection.model_validate(s.recorded()) == s
    assert CaseSelection().empty and CaseSelection().recorded() == {}
