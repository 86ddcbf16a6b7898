"""Scheduled runs through the real command: the store lock with two processes, `due`, `run --due`, `--quiet`,
`--junit` for CI, `status` at an injected time (PACTJURY_NOW), schedule.yaml bindings and symlinked suite folders."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from evidence_store import cli
from junitparser import Failure, JUnitXml
from suitefiles import AGENT_SOURCE, BASIC_PACT, basic_suite, write_agent, write_suite
from test_run_cli import PJ, pj, rows

from harness.cli import main


def _later(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def test_lock_refuses_an_overlapping_run_and_takes_over_a_dead_one(tmp_path):
    s = basic_suite(2)
    s["cases"][0]["input"] = "slow 0"
    root = write_suite(tmp_path / "suite", suite=s)
    write_agent(root)
    db = tmp_path / "l.duckdb"
    lock = Path(f"{db}.lock")
    args = [
        "run",
        str(root),
        "--target",
        f"python:{root / 'agent.py'}:respond",
        "--db",
        str(db),
        "--no-progress",
        "--no-report",
    ]
    first = subprocess.Popen(
        [*PJ, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PJ_TEST_SLOW": "4"}
    )
    deadline = time.monotonic() + 30
    while not (lock.exists() and lock.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    held = json.loads(lock.read_text())
    assert held["pid"] == first.pid and held["started_at"]

    fast = {"PJ_TEST_SLOW": "0"}
    second = pj(*args, env=fast)
    assert second.returncode == 2, second.stdout + second.stderr
    (line,) = second.stderr.strip().splitlines()
    assert "another pactjury run holds the lock" in line and f"pid {first.pid}" in line and str(lock) in line

    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert not lock.exists()  # released at exit
    assert pj(*args, env=fast).returncode == 0  # now nothing holds it

    # a lock left by a process that died (kill -9, power loss) is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(
        json.dumps(
            {"pid": dead.pid, "host": socket.gethostname(), "started_at": "2020-01-01T00:00:00", "command": "run"}
        )
    )
    r = pj(*args, env=fast)
    assert r.returncode == 0, r.stderr
    assert not lock.exists()
    assert rows(db, "SELECT count(*) FROM runs")[0][0] == 3


def _suites(tmp_path: Path) -> tuple[Path, Path]:
    """Two suites under one root: a weekly pact and a pact whose evidence lasts an hour."""
    root = tmp_path / "suites"
    weekly = {
        **BASIC_PACT,
        "id": "weekly",
        "freshness": "7d",
        "consequences": [
            {"when": {"stale": True}, "action": "re-evaluate", "reason": "stale evidence"},
            {"when": {"status": "breached"}, "action": "restrict"},
            {"action": "approve"},
        ],
    }
    hourly = {**BASIC_PACT, "id": "hourly", "freshness": "1h"}
    for name, pact in (("weekly", weekly), ("hourly", hourly)):
        write_suite(root / name, pact=pact, suite=basic_suite(4))
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT_SOURCE)
    return root, agent


def test_due_and_run_due_and_status(tmp_path, capsys, monkeypatch):
    root, agent = _suites(tmp_path)
    db = tmp_path / "d.duckdb"
    common = ["--db", db]
    target = ["--target", f"python:{agent}:respond", "--agent", "bot", "--no-report"]

    def cli(*args, now=None):  # the read commands in-process (fast); the runs below as real processes
        if now:
            monkeypatch.setenv("PACTJURY_NOW", now)
        else:
            monkeypatch.delenv("PACTJURY_NOW", raising=False)
        code = main([str(a) for a in args])
        out = capsys.readouterr().out
        assert code == 0, out
        return json.loads(out) if "--json" in args else out

    never = cli("due", root, "--json", *common)
    assert sorted(i["pact_id"] for i in never) == ["hourly", "weekly"] and all(
        i["reason"] == "never run" for i in never
    )

    r = pj("run", "--due", root, *target, "--quiet", *common)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr  # cron: silent when all is well
    assert sorted(p for (p,) in rows(db, "SELECT pact_id FROM runs")) == ["hourly", "weekly"]

    # fresh now; within a 2-hour horizon only the hourly pact expires; at +8 days both are stale
    assert cli("due", root, "--json", *common) == []
    soon = cli("due", root, "--horizon", "2h", "--json", *common)
    assert [i["pact_id"] for i in soon] == ["hourly"] and soon[0]["reason"].startswith("stale in")
    assert cli("due", root, "--horizon", "2h", "--quiet", *common).split() == [str(root / "hourly")]
    stale = cli("due", root, "--json", *common, now=_later(days=8))
    assert sorted(i["pact_id"] for i in stale) == ["hourly", "weekly"]
    assert all(i["reason"].startswith("stale:") for i in stale)
    # the jury clause, never judged here, makes both due once it counts (--panel)
    assert len(cli("due", root, "--json", "--panel", "any", *common)) == 2

    # run --due with the horizon runs just the hourly suite
    r = pj("run", "--due", root, *target, "--horizon", "2h", *common)
    assert r.returncode == 0, r.stderr
    assert "due: " in r.stderr and "hourly" in r.stderr and "weekly" not in r.stderr
    assert rows(db, "SELECT pact_id, count(*) FROM runs GROUP BY 1 ORDER BY 1") == [("hourly", 2), ("weekly", 1)]

    now = {s["pact_id"]: s for s in cli("status", "--json", *common)}
    assert set(now) == {"hourly", "weekly"} and now["weekly"]["agent"] == "bot"
    assert now["weekly"]["decision"] == "approve" and now["weekly"]["stale_clauses"] == []
    tone = next(c for c in now["weekly"]["clauses"] if c["clause_id"] == "tone")
    assert tone["status"] == "pending-jury" and tone["age_s"] is None  # no panel: no evidence, nothing to age
    later = {s["pact_id"]: s for s in cli("status", "--json", *common, now=_later(days=8))}
    assert later["weekly"]["decision"] == "re-evaluate" and "stale evidence" in later["weekly"]["reasons"][0]
    assert later["weekly"]["score"] < now["weekly"]["score"]
    assert later["weekly"]["freshness"].startswith("STALE")
    assert later["weekly"]["last_run"]["run_id"] == now["weekly"]["last_run"]["run_id"]
    text = cli("status", *common)
    assert "bot" in text and "weekly v1.0.0" in text and "APPROVE" in text
    # --record appends the standing decisions to the history
    cli("status", "--record", *common)
    assert rows(db, "SELECT count(*) FROM trust_scores WHERE pact_id = 'weekly'")[0][0] == 2  # its run + status


def test_quiet_breach_and_junit_for_ci(tmp_path):
    s = basic_suite(6)
    for i in (1, 3, 5):
        s["cases"][i]["input"] = f"boom {i}"
    root = write_suite(tmp_path / "suite", suite=s)
    write_agent(root)
    db = tmp_path / "q.duckdb"
    xml = tmp_path / "out" / "pact.xml"
    r = pj(
        "run",
        root,
        "--target",
        f"python:{root / 'agent.py'}:respond",
        "--db",
        db,
        "--quiet",
        "--junit",
        xml,
        "--no-report",
    )
    assert r.returncode == 1
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("BREACHED demo-pact/label-right (major)") and lines[-1].endswith("RESTRICT")
    assert r.stderr == ""  # no announcement, progress or warnings: cron mails only breaches
    (suite,) = list(JUnitXml.fromfile(str(xml)))
    cases = {c.name: c for c in suite}
    (failure,) = cases["label-right"].result
    assert isinstance(failure, Failure) and "3 passed, 0 failed, 3 errors" in failure.message
    assert "failing cases: case-001, case-003, case-005" in failure.text


def test_bad_confidence_and_clock_are_usage_errors(tmp_path):
    r = pj("status", "--confidence", "1.5", "--db", tmp_path / "x.duckdb")
    assert r.returncode == 2 and "confidence" in r.stderr
    root, agent = _suites(tmp_path)
    r = pj("due", root, "--db", tmp_path / "x.duckdb", env={"PACTJURY_NOW": "next tuesday"})
    assert r.returncode == 2 and "PACTJURY_NOW" in r.stderr and "Traceback" not in r.stderr


# ---------------------------------------------------------------- schedule.yaml: each suite its own agent and target


def _bound_tree(tmp_path: Path) -> tuple[Path, Path]:
    """refunds (bound by its own schedule.yaml), contracts (bound by the root's), loose (bound by none)."""
    root = tmp_path / "suites"
    for name in ("refunds", "contracts", "loose"):
        write_suite(root / name, pact={**BASIC_PACT, "id": name}, suite=basic_suite(3))
    write_agent(root / "refunds")
    (root / "bots").mkdir()
    write_agent(root / "bots").rename(root / "bots" / "contract.py")
    (root / "refunds" / "schedule.yaml").write_text(
        "runs:\n  - agent: refund-bot\n    target: python:agent.py:respond\n"
    )
    (root / "schedule.yaml").write_text(
        "# the folder's schedule names its suites\nruns:\n  - suite: contracts\n    agent: contract-bot\n"
        "    agent_version: 2\n    target: python:bots/contract.py:respond\n"
    )
    other = tmp_path / "other.py"
    other.write_text(AGENT_SOURCE)
    return root, other


def test_schedule_binds_each_suite_to_its_own_agent_and_target(tmp_path):
    root, other = _bound_tree(tmp_path)
    db = tmp_path / "results" / "b.duckdb"

    # cron: nothing but breaches; the report is written beside the database without a `report:` line
    r = pj("run", "--due", root, "--quiet", "--db", db)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    got = set(rows(db, "SELECT pact_id, agent, agent_version, target_spec FROM runs"))
    assert got == {
        ("refunds", "refund-bot", None, f"python:{root / 'refunds' / 'agent.py'}:respond"),
        ("contracts", "contract-bot", "2", f"python:{root / 'bots' / 'contract.py'}:respond"),
    }
    assert len(list(db.parent.glob("*.html"))) == 2

    due = {i["pact_id"]: i for i in json.loads(pj("due", root, "--json", "--all", "--db", db).stdout)}
    assert due["contracts"]["schedule"]["schedule"] == f"{root / 'schedule.yaml'}:3: runs[0]"
    assert due["refunds"]["schedule"]["agent"] == "refund-bot" and not due["refunds"]["due"]
    assert due["loose"]["agent"] is None and due["loose"]["due"]  # never run, for no agent yet

    # --target runs only the suites no schedule binds; the bound ones keep their own, with a warning
    loose = f"python:{other}:respond"
    r = pj("run", "--due", root, "--target", loose, "--horizon", "30d", "--db", db, "--no-progress", "--no-report")
    assert r.returncode == 0, r.stderr
    assert (
        f"--target {loose} is used only for suites no schedule.yaml binds; not for {root / 'contracts'}, "
        f"{root / 'refunds'}" in r.stderr
    )
    assert set(
        rows(
            db,
            "SELECT pact_id, agent FROM runs WHERE run_id NOT IN (SELECT run_id FROM runs ORDER BY started_at LIMIT 2)",
        )
    ) == {("loose", loose), ("refunds", "refund-bot"), ("contracts", "contract-bot")}
    # --agent with --target names the unbound suites' agent and runs only what is due for it
    r = pj("run", "--due", root, "--target", loose, "--agent", "loose-bot", "--db", db, "--no-progress", "--no-report")
    assert r.returncode == 0 and "is used only for" not in r.stderr, r.stderr
    assert rows(db, "SELECT pact_id FROM runs WHERE agent = 'loose-bot'") == [("loose",)]

    # without --target an unbound suite is skipped, saying why; --agent picks one binding
    r = pj(
        "run", "--due", root, "--horizon", "30d", "--agent", "refund-bot", "--db", db, "--no-progress", "--no-report"
    )
    assert r.returncode == 0, r.stderr
    assert f"skipped {root / 'loose'}: no schedule.yaml binds it" in r.stderr
    assert rows(db, "SELECT agent, count(*) FROM runs GROUP BY 1 ORDER BY 1") == [
        ("contract-bot", 2),
        ("loose-bot", 1),
        (loose, 1),
        ("refund-bot", 3),
    ]


@pytest.mark.parametrize(
    ("where", "text", "needle"),
    [
        ("refunds", "runs: []\n", "schedule.yaml:1: runs: runs must be a non-empty list"),
        ("refunds", "runs:\n  - agent: a\n", "schedule.yaml:2: runs[0]: missing required field 'target'"),
        (
            "refunds",
            "runs:\n  - agent: a\n    target: python:nofile.py:respond\n",
            "schedule.yaml:3: runs[0].target: target 'python:nofile.py:respond': no file",
        ),
        (
            "refunds",
            "runs:\n  - agent: a\n    target: x/y\n    colour: red\n",
            "schedule.yaml:4: runs[0].colour: unknown field 'colour'; valid fields: suite, agent",
        ),
        (
            "refunds",
            "runs:\n  - agent: a\n    target: openai/m\n    target_system: missing.txt\n",
            "runs[0].target_system: target_system: no file",
        ),
        (
            "refunds",
            "runs:\n  - agent: a\n    target: openai/m\n  - agent: a\n    target: openai/n\n",
            "schedule.yaml:4: runs[1]: agent 'a' is bound to suite",
        ),
        ("refunds", "schedule:\n  - agent: a\n", "a schedule file must be a mapping with `runs:`"),
        (
            ".",
            "runs:\n  - agent: a\n    target: openai/m\n",
            "schedule.yaml:2: runs[0]: missing required field 'suite'",
        ),
        (".", "runs:\n  - suite: nope\n    agent: a\n    target: openai/m\n", "runs[0].suite: no suite.yaml in"),
        ("refunds", "runs:\n  - agent: a\n    target: nonsense here\n", "nonsense here"),
    ],
)
def test_bad_schedule_files_are_one_line_errors_and_write_nothing(tmp_path, where, text, needle):
    root, _ = _bound_tree(tmp_path)
    (root / where / "schedule.yaml").write_text(text)
    db = tmp_path / "bad.duckdb"
    targets_only = needle == "nonsense here"  # `due` reads the file; only `run --due` builds the targets
    for args in (["run", "--due", root, "--quiet"], *([] if targets_only else [["due", root]])):
        r = cli(*args, "--db", db)  # in this process: the same entry point, without a process start per case
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        assert needle in line and line.startswith("pactjury: error:") and "Traceback" not in line, line
    assert not db.exists() and not Path(f"{db}.lock").exists()


def test_due_follows_symlinked_suite_folders_without_looping(tmp_path):
    root = tmp_path / "suites"
    write_suite(root / "own", pact={**BASIC_PACT, "id": "own"}, suite=basic_suite(2))
    write_suite(tmp_path / "elsewhere" / "shared", pact={**BASIC_PACT, "id": "shared"}, suite=basic_suite(2))
    (root / "link").symlink_to(tmp_path / "elsewhere")  # a folder of suites kept elsewhere
    (root / "own" / "loop").symlink_to(root)  # a cycle back to the root
    (root / "again").symlink_to(root / "own")  # a second path to a suite listed already
    (root / "dangling").symlink_to(tmp_path / "gone")
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT_SOURCE)
    db = tmp_path / "y.duckdb"

    listed = json.loads(pj("due", root, "--json", "--db", db, timeout=20).stdout)
    assert [i["suite_dir"] for i in listed] == [str(root / "link" / "shared"), str(root / "own")]
    r = pj(
        "run",
        "--due",
        root,
        "--target",
        f"python:{agent}:respond",
        "--agent",
        "bot",
        "--quiet",
        "--no-report",
        "--db",
        db,
        timeout=30,
    )
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert sorted(p for (p,) in rows(db, "SELECT pact_id FROM runs")) == ["own", "shared"]


def test_validate_reads_the_suites_schedule_file(tmp_path):
    root, _ = _bound_tree(tmp_path)
    assert pj("validate", root / "refunds").returncode == 0
    (root / "refunds" / "schedule.yaml").write_text("runs:\n  - agent: a\n    target: openai/m\n    every: 1d\n")
    r = pj("validate", root / "refunds")
    assert r.returncode == 2 and "schedule.yaml:4: runs[0].every: unknown field 'every'" in r.stderr


def test_run_due_with_nothing_bound_and_no_target_is_an_error(tmp_path):
    root, _ = _suites(tmp_path)
    db = tmp_path / "n.duckdb"
    r = pj("run", "--due", root, "--quiet", "--db", db)
    assert r.returncode == 2 and "no schedule.yaml under" in r.stderr and "or pass --target" in r.stderr
    assert not db.exists()
