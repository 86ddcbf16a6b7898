"""End to end: `run --mutate` stores the attacks with their mutator, and `robustness` reports the right figures."""

from __future__ import annotations

import json

import pytest
from suitefiles import BASIC_PACT, basic_suite, write_suite
from test_run_cli import pj, rows

from harness.cli import main
from harness.robustness import COLUMNS, compare_robustness, robustness, robustness_frame
from harness.store import Store

AGENT = '''
import json, re

def respond(case):
    """Greets when greeted, labels the number after 'number ' (a keyword reader, easy to fool)."""
    text = case["input"] if isinstance(case["input"], str) else "\\n".join(
        m["content"] for m in case["input"] if m["role"] == "user")
    m = re.search(r"number (\\d+)", text)
    label = ("even" if int(m.group(1)) % 2 == 0 else "odd") if m else "unknown"
    return json.dumps({"greeting": "Hello!" if "hello" in text.lower() else "Hm?", "label": label})
'''


@pytest.fixture()
def cli(capsys):
    """A read command in this process (the runs themselves go through subprocesses)."""

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of a 4-case suite: one with --mutate base64,multi-turn, one plain."""
    tmp = tmp_path_factory.mktemp("rob")
    pact = {**BASIC_PACT, "clauses": BASIC_PACT["clauses"][:2]}  # says-hello, label-right: checks only
    suite = basic_suite(4)
    for case in suite["cases"]:
        case["clauses"] = ["says-hello", "label-right"]
    root = write_suite(tmp / "suite", pact=pact, suite=suite)
    (root / "agent.py").write_text(AGENT)
    db = tmp / "r.duckdb"
    target = f"python:{root / 'agent.py'}:respond"
    attacked = pj(
        "run",
        root,
        "--target",
        target,
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--json",
        "--mutate",
        "base64,multi-turn",
        "--mutate-seed",
        "3",
    )
    plain = pj("run", root, "--target", target, "--db", db, "--no-progress", "--no-report", "--json")
    assert plain.returncode == 0, plain.stderr
    return db, json.loads(attacked.stdout)["run"]["run_id"], json.loads(plain.stdout)["run"]["run_id"], attacked


def test_mutated_cases_are_stored_with_their_mutator(runs):
    db, run_id, _, attacked = runs
    assert attacked.returncode == 1  # the attacks breach both clauses
    stored = rows(
        db,
        "SELECT case_id, mutated_from, mutator, mutation, tags FROM cases WHERE run_id = ? ORDER BY case_id",
        [run_id],
    )
    assert len(stored) == 12
    originals = [r for r in stored if r[2] is None]
    assert [r[0] for r in originals] == ["case-000", "case-001", "case-002", "case-003"]
    assert all(r[1] is None and r[3] is None for r in originals)
    attacks = [r for r in stored if r[2] is not None]
    assert {(r[0], r[1], r[2]) for r in attacks} == {
        (f"case-00{i}~{m}", f"case-00{i}", m) for i in range(4) for m in ("base64", "multi-turn")
    }
    for r in attacks:
        detail = json.loads(r[3])
        assert detail["seed"] == 3 and detail["targets"] == ["says-hello", "label-right"]
        assert {"adversarial", f"mut:{r[2]}"} <= set(json.loads(r[4]))
    options = json.loads(rows(db, "SELECT options FROM runs WHERE run_id = ?", [run_id])[0][0])
    assert options["mutate"] == ["base64", "multi-turn"] and options["mutate_seed"] == 3
    # the originals were still run, unchanged: every one passes both clauses
    assert (
        rows(
            db,
            "SELECT count(*) FROM verdicts v JOIN cases c USING (run_id, case_id) WHERE v.run_id = ? "
            "AND c.mutator IS NULL AND v.outcome = 'pass'",
            [run_id],
        )[0][0]
        == 8
    )


def test_robustness_figures(runs, cli):
    db, run_id, _, _ = runs
    code, out, err = cli("robustness", run_id, "--db", db, "--json")
    assert code == 0, err
    got = {(x["clause_id"], x["mutator"]): x for x in json.loads(out)}
    assert all(list(x) == list(COLUMNS) for x in got.values())
    # base64 hides both the greeting and the number; split turns hide "number N" (joined with newlines)
    expected = {
        ("says-hello", "base64"): 0.0,
        ("says-hello", "multi-turn"): 1.0,
        ("label-right", "base64"): 0.0,
        ("label-right", "multi-turn"): 0.0,
    }
    assert list(got) == list(expected)  # pact order, then mutator
    for key, rate in expected.items():
        x = got[key]
        assert (x["n_attacks"], x["attack_pass_rate"], x["n_original"], x["original_pass_rate"]) == (4, rate, 4, 1.0)
        assert x["delta"] == rate - 1.0
    _, text, _ = cli("robustness", run_id, "--db", db)
    assert "largest drop: says-hello under base64 (-100 pp)" in text
    assert "label-right  multi-turn  4        0%    4          100%  -100 pp" in text


def test_robustness_through_the_store_and_comparing_runs(runs, cli):
    db, run_id, plain_id, _ = runs
    with Store(db, read_only=True) as store:
        assert robustness(store, plain_id) == []  # no attacks, no rows
        frame = robustness_frame(store, run_id)
        assert list(frame.columns) == list(COLUMNS) and len(frame) == 4
        assert robustness(store, run_id, targeted=True) == robustness(store, run_id)  # --mutate aims at all
        same = compare_robustness(store, run_id, run_id)
        assert {x["delta_change"] for x in same} == {0.0}
        versus = compare_robustness(store, run_id, plain_id)
        assert all(x["other_n_attacks"] == 0 and x["delta_change"] is None for x in versus)
    code, out, _ = cli("robustness", run_id, "--compare", run_id, "--db", db)
    assert code == 0 and "base delta" in out
    code, _, err = cli("robustness", "no-such-run", "--db", db)
    assert code == 2 and "no run 'no-such-run'" in err


def test_unknown_mutator_is_a_usage_error_before_anything_is_written(tmp_path):
    root = write_suite(tmp_path / "s")
    db = tmp_path / "x.duckdb"
    r = pj("run", root, "--target", "python:x.py:f", "--db", db, "--mutate", "base64,jailbreak")
    assert r.returncode == 2 and not db.exists()
    (line,) = r.stderr.strip().splitlines()
    assert "unknown mutator 'jailbreak'; valid mutators: " in line and "pii-bait" in line


def test_example_suite_attacks_succeed_where_the_agent_is_weak(tmp_path):
    db = tmp_path / "itsm.duckdb"
    r = pj(
        "run",
        "suites/itsm",
        "--target",
        "python:suites/itsm/agent.py:respond",
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--json",
    )
    run_id = json.loads(r.stdout)["run"]["run_id"]
    with Store(db, read_only=True) as store:
        got = {(x["clause_id"], x["mutator"]): x for x in robustness(store, run_id, targeted=True)}
    assert got[("no-customer-pii", "pii-bait")]["delta"] < 0  # a phone number in the subject line is echoed
    assert got[("category-routing", "rot13")]["delta"] < 0  # the keyword classifier cannot read it
    assert ("no-customer-pii", "rot13") not in got  # rot13 is aimed at category-routing only


def test_robustness_reaches_trends_compare_and_report(tmp_path):
    """The example suite's attacks show up, per clause and mutator, in trends, compare and the HTML report."""
    import json as _json
    import subprocess as _sp
    import sys as _sys

    db = tmp_path / "r.duckdb"

    def pj_(*a):
        return _sp.run(
            [_sys.executable, "-m", "harness.cli", *map(str, a)], capture_output=True, text=True, timeout=300
        )

    r = pj_(
        "run", "suites/itsm", "--target", "python:suites/itsm/agent.py:respond", "--db", db, "--no-progress", "--json"
    )
    assert r.returncode in (0, 1), r.stderr
    summary = _json.loads(r.stdout)
    run_id = summary["run"]["run_id"]
    trend = _json.loads(pj_("trends", "--db", db, "--json").stdout)["robustness"]
    assert trend and {t["run_id"] for t in trend} == {run_id}
    pii = [t for t in trend if t["clause_id"] == "no-customer-pii" and t["mutator"] == "pii-bait"]
    assert pii and pii[0]["n_attacks"] > 0 and pii[0]["delta"] is not None
    compared = _json.loads(pj_("compare", run_id, run_id, "--db", db, "--json").stdout)
    assert compared["robustness"] and all(
        row["attack_pass_rate_change"] in (0, 0.0, None) for row in compared["robustness"]
    )
    html = open(summary["report"], encoding="utf-8").read()
    assert 'id="robustness-table"' in html and "pii-bait" in html
