"""`pactjury import csv|jsonl|promptfoo`: a suite directory that validates and runs, with what could not be mapped
listed and kept; existing files kept unless --force; bad input a one-line error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from evidence_store import cli
from suitefiles import write_panel
from test_run_cli import rows

from harness.testing.openai_server import Reply

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).resolve().parent / "data"
PROMPTFOO = DATA / "promptfoo" / "promptfooconfig.yaml"
AGENT = f"python:{DATA / 'promptfoo' / 'agent.py'}:respond"
PASS = '{"rationale": "A faithful translation, no self-reference.", "verdict": "pass"}'
ECHO_AGENT = """
def respond(case):
    text = case["input"] if isinstance(case["input"], str) else case["messages"][-1]["content"]
    answers = {"France": "Paris", "Germany": "It is Berlin.", "2 + 2": "Four", "hello": "hello!", "bye": "bye"}
    return {"output": next((a for k, a in answers.items() if k in text), "no idea")}
"""


def test_promptfoo_config_imports_validates_and_runs(tmp_path, fake_llm):
    out = tmp_path / "suites" / "translate"
    r = cli("import", "promptfoo", PROMPTFOO, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["cases"] == 6  # five tests, one of them two combinations of its list-valued vars
    assert set(summary["jury_clauses"]) == {
        "llm-rubric",
        "factuality",
        "model-graded-closedqa",
        "model-graded-closedqa-2",
    }
    unmapped = "\n".join(summary["unmapped"])
    for item in (
        "prompts[1]: file://prompt2.txt",
        "tests[0].assert[1]: type javascript",
        "tests[1].assert[0]: type similar",
        "tests[4].assert[3]: type python",
    ):
        assert item in unmapped
    assert len(summary["unmapped"]) == 4
    text = (out / "suite.yaml").read_text()
    assert "# Not mapped (left out of this suite):\n#   - prompts[1]: file://prompt2.txt" in text
    assert "\n#   - tests[0].assert[1]: type javascript output.toLowerCase().includes('bonjour')" in text
    suite = yaml.safe_load(text)
    by_id = {c["id"]: c for c in suite["cases"]}
    assert by_id["French-greeting"]["input"] == "Translate the following text to French: Hello world"
    assert by_id["thanks-2"]["expected"]["not_contains"] == "Thank you"  # {{input}} rendered in the value
    assert "llm-rubric" not in by_id["JSON-reply"]["clauses"]  # options.disableDefaultAsserts
    pact = yaml.safe_load((out / "pact.yaml").read_text())
    checks = {c["id"]: c.get("checks") for c in pact["clauses"]}
    assert checks["not-icontains"] == [{"check": "icontains", "negate": True, "value": {"expected": "not_icontains"}}]
    assert checks["contains-any"] == [{"check": "contains", "values": {"expected": "contains_any"}, "mode": "any"}]

    assert cli("validate", out, "--strict").returncode == 0

    fake_llm.script("pf-judge", *[Reply(PASS)] * 12)
    panel = write_panel(tmp_path / "panels", fake_llm.url, [{"name": "pf-judge"}])
    db = tmp_path / "pj.duckdb"
    r = cli("run", out, "--target", AGENT, "--panel", panel, "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr
    statuses = dict(rows(db, "SELECT clause_id, status FROM clause_results"))
    assert len(statuses) == 15 and set(statuses.values()) == {"met"}, statuses
    assert rows(db, "SELECT count(*) FROM votes WHERE label = 'pass'") == [(8,)]


def test_import_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "s"
    assert cli("import", "promptfoo", PROMPTFOO, "--out", out).returncode == 0
    (out / "suite.yaml").write_text("id: mine\n")
    r = cli("import", "promptfoo", PROMPTFOO, "--out", out)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert f"{out / 'pact.yaml'} exists; use --force" in r.stderr
    assert (out / "suite.yaml").read_text() == "id: mine\n"
    assert cli("import", "promptfoo", PROMPTFOO, "--out", out, "--force").returncode == 0
    assert "Translate" in (out / "suite.yaml").read_text() and not list(out.glob(".*importing"))


def test_csv_import_with_named_columns_runs(tmp_path):
    out = tmp_path / "qa"
    r = cli("import", "csv", DATA / "qa.csv", "--out", out, "--input-col", "question", "--expected-col", "answer")
    assert r.returncode == 0, r.stderr
    assert "column 'source': not imported" in r.stdout
    suite = yaml.safe_load((out / "suite.yaml").read_text())
    assert [c["id"] for c in suite["cases"]] == ["capital-fr", "capital-de", "two-plus-two"]
    assert suite["cases"][0] == {
        "id": "capital-fr",
        "clauses": ["matches-expected"],
        "input": "What is the capital of France?",
        "expected": {"answer": "Paris"},
    }
    assert cli("validate", out, "--strict").returncode == 0
    (out / "agent.py").write_text(ECHO_AGENT)
    db = tmp_path / "pj.duckdb"
    r = cli("run", out, "--target", f"python:{out / 'agent.py'}:respond", "--db", db)
    assert r.returncode == 0, r.stdout + r.stderr  # icontains: "Four" matches "four"
    assert rows(db, "SELECT count(*) FROM verdicts WHERE outcome = 'pass'") == [(3,)]


def test_jsonl_import_keeps_chat_inputs_and_can_use_the_jury(tmp_path):
    out = tmp_path / "chat"
    r = cli("import", "jsonl", DATA / "qa.jsonl", "--out", out, "--match", "jury", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["jury_clauses"] == ["matches-expected"]
    suite = yaml.safe_load((out / "suite.yaml").read_text())
    assert suite["cases"][1]["input"] == [{"role": "user", "content": "Say bye"}]
    assert cli("validate", out).returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["csv", "qa.csv", "--input-col", "prompt"],
            "qa.csv: --input-col prompt: no such column; columns: id, question",
        ),
        (["csv", "missing.csv"], "missing.csv: file not found"),
        (["promptfoo", "bad.yaml"], "bad.yaml:4: tests[0].assert[0]: an assertion must be a mapping with a type"),
        (["promptfoo", "promptfoo/promptfooconfig.yaml", "--id-col", "x"], "are for csv and jsonl imports"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(tmp_path, args, needle):
    work = tmp_path / "data"
    shutil.copytree(DATA, work)
    (work / "bad.yaml").write_text("prompts: ['{{q}}']\ntests:\n  - assert:\n      - just a string\n")
    r = cli("import", args[0], work / args[1], *args[2:], "--out", tmp_path / "out")
    assert r.returncode == 2 and needle in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "out").exists()
