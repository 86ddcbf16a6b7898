"""Tool-using agents: a suite's `tools:` reaches a model target's calls (fast lane and litellm), the tool-call checks
assert on the calls, and suites/tools-demo runs against the scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from evidence_store import cli
from test_run_cli import rows

from harness.pyload import load_callable
from harness.testing.openai_server import Reply, ScriptedResponder, last_user_text, start_in_thread

pytestmark = pytest.mark.timeout(90)

DEMO = Path(__file__).resolve().parents[1] / "suites" / "tools-demo"
TOOLS = yaml.safe_load((DEMO / "suite.yaml").read_text())["tools"]
AGENT = load_callable(f"{DEMO / 'agent.py'}:respond")


def scripted_model(request: dict) -> Reply:
    """A model that acts as suites/tools-demo/agent.py does, through the OpenAI wire format."""
    reply = AGENT({"input": last_user_text(request), "tools": request.get("tools") or []})
    return Reply(text=reply["output"], tool_calls=reply["tool_calls"])


@pytest.fixture()
def server():
    responder = ScriptedResponder(default=scripted_model)
    with start_in_thread(responder) as handle:
        yield handle, responder


@pytest.mark.parametrize("lane", ["fast-lane", "litellm"])
def test_tools_demo_against_a_model_target(tmp_path, server, lane):
    handle, responder = server
    db = tmp_path / "pj.duckdb"
    extra = ["--no-fast-lane"] if lane == "litellm" else []
    r = cli(
        "run",
        DEMO,
        "--target",
        "openai/tools-model",
        "--target-base-url",
        handle.url,
        "--db",
        db,
        "--no-report",
        *extra,
    )
    assert r.returncode == 1, r.stdout + r.stderr  # the stand-in model's flaw breaches two critical clauses
    sent = responder.requests_for("tools-model")
    assert len(sent) == 4
    for request in sent:
        assert request["tools"] == TOOLS  # the suite's schemas, on every call
        assert request["messages"][0]["role"] == "system" and "order-support agent" in request["messages"][0]["content"]
    calls = dict(rows(db, "SELECT case_id, tool_calls FROM transcripts"))
    assert '"issue_refund"' in calls["refund-c300"] and '"lookup_order"' in calls["status-b200"]
    failed = rows(db, "SELECT case_id, clause_id FROM verdicts WHERE outcome = 'fail' ORDER BY 1, 2")
    assert failed == [("refund-c300", "no-unapproved-refund"), ("refund-c300", "valid-tool-calls")]
    statuses = dict(rows(db, "SELECT clause_id, status FROM clause_results"))
    assert statuses == {
        "valid-tool-calls": "breached",
        "no-unapproved-refund": "breached",
        "right-order": "met",
        "lookup-before-cancel": "met",
    }
    detail = rows(
        db, "SELECT detail FROM check_results WHERE case_id = 'refund-c300' AND check_name = 'tool-calls-valid'"
    )
    assert "amount_eur: 'all' is not of type 'number'" in detail[0][0]


def test_the_python_demo_agent_reads_the_offered_tools(tmp_path):
    r = cli(
        "run",
        DEMO,
        "--target",
        f"python:{DEMO / 'agent.py'}:respond",
        "--db",
        tmp_path / "pj.duckdb",
        "--no-report",
        "--json",
    )
    assert r.returncode == 1, r.stderr
    assert "SUSPEND" in r.stdout.upper()


def test_undeclared_tools_and_bad_arguments_fail_the_check(tmp_path, server):
    handle, responder = server
    suite = tmp_path / "s"
    shutil.copytree(DEMO, suite)
    data = yaml.safe_load((suite / "suite.yaml").read_text())
    data["tools"] = data["tools"][:1]  # only lookup_order is offered now
    data["cases"] = [c for c in data["cases"] if c["id"] == "refund-c300"]  # the model calls issue_refund anyway
    (suite / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    db = tmp_path / "pj.duckdb"
    r = cli("run", suite, "--target", "openai/tools-model", "--target-base-url", handle.url, "--db", db, "--no-report")
    assert r.returncode == 1
    (detail,) = rows(db, "SELECT detail FROM check_results WHERE check_name = 'tool-calls-valid'")[0]
    assert detail == "call 2 names 'issue_refund', not an offered tool (offered: lookup_order)"
    assert len(responder.requests_for("tools-model")[0]["tools"]) == 1


@pytest.mark.parametrize(
    ("tools", "needle"),
    [
        ({"name": "x"}, "tools must be a list"),
        (
            [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}],
            "tools[1].function.name: duplicate tool name 'a'",
        ),
        (
            [{"type": "function", "function": {"name": "a", "parameters": {"type": "array"}}}],
            "parameters must be a JSON Schema of type object",
        ),
    ],
)
def test_a_bad_tools_block_is_one_line_naming_the_field(tmp_path, tools, needle):
    suite = tmp_path / "s"
    shutil.copytree(DEMO, suite)
    data = yaml.safe_load((suite / "suite.yaml").read_text())
    data["tools"] = tools
    (suite / "suite.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    r = cli("validate", suite)
    assert r.returncode == 2 and needle in r.stderr and "suite.yaml:" in r.stderr and r.stderr.count("\n") == 1, (
        r.stderr
    )
