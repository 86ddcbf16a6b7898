"""The pytest plugin (harness/pytest_plugin.py, a pytest11 entry point), run with pytester: clauses as test items
that fail when breached, the pactjury_run fixture, JUnit from pytest, and inertness without its options."""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET

import pytest
from suitefiles import basic_suite, write_agent, write_suite

pytest_plugins = ("pytester",)
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _quiet_ini(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")  # pytest-asyncio warns without it


@pytest.fixture()
def suite(tmp_path):
    cases = basic_suite(4)
    for case in cases["cases"][1:]:  # the agent labels parity right: label-right now fails three cases in four
        case["expected"]["label"] = "odd" if case["expected"]["label"] == "even" else "even"
    root = write_suite(tmp_path / "suite", suite=cases)
    write_agent(root)
    return root


def test_the_plugin_is_a_pytest11_entry_point():
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "pactjury"]
    assert entry.value == "harness.pytest_plugin"


def test_each_clause_is_a_test_that_fails_when_breached(pytester, suite, tmp_path):
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest(
        "-c",
        str(pytester.path / "tox.ini"),
        "--pactjury",
        str(suite),
        "--pactjury-target",
        f"python:{suite / 'agent.py'}:respond",
        "--pactjury-db",
        str(tmp_path / "pj.duckdb"),
        "-m",
        "pactjury",
        "-rA",
        f"--junitxml={junit}",
    )
    result.assert_outcomes(passed=1, failed=1, skipped=1)  # says-hello met, label-right breached, tone pending-jury
    result.stdout.fnmatch_lines([f"PASSED *pactjury:{suite}::says-hello*", f"FAILED *pactjury:{suite}::label-right*"])
    result.stdout.fnmatch_lines(
        ["*clause label-right (major) breached: pass rate 25.0%*failing cases: case-001, case-002, case-003*"]
    )
    result.stdout.fnmatch_lines(["*SKIPPED*clause tone pending-jury*"])
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"says-hello", "label-right", "tone"} <= set(cases)
    assert cases["label-right"].find("failure") is not None and cases["says-hello"].find("failure") is None


def test_a_run_that_cannot_start_is_one_failing_item(pytester, tmp_path):
    result = pytester.runpytest(
        "-c",
        str(pytester.path / "tox.ini"),
        "--pactjury",
        str(tmp_path / "nowhere"),
        "--pactjury-target",
        "python:x.py:f",
        "--pactjury-db",
        str(tmp_path / "pj.duckdb"),
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*pactjury run * exited 2 without a summary: pactjury: error: *nowhere*"])


def test_the_target_is_required(pytester, suite):
    result = pytester.runpytest("-c", str(pytester.path / "tox.ini"), "--pactjury", str(suite))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pactjury needs --pactjury-target*"])


def test_the_fixture_runs_a_suite_from_a_test(pytester, suite):
    pytester.makepyfile(f"""
        def test_gate(pactjury_run):
            run = pactjury_run({str(suite)!r}, "python:{suite / "agent.py"}:respond")
            assert run.returncode == 1 and run.breached == ["label-right"]
            assert run.clauses["says-hello"]["status"] == "met" and run.decision == "restrict"
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_without_its_options_the_plugin_adds_nothing_and_imports_nothing_heavy(pytester):
    pytester.makepyfile("""
        import sys

        def test_plain(request):
            assert request.config.pluginmanager.has_plugin("pactjury")
            heavy = {"harness.suite", "harness.pipeline", "harness.store", "litellm", "duckdb", "pydantic"}
            assert not heavy & set(sys.modules), sorted(heavy & set(sys.modules))
    """)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


def test_the_github_actions_example_runs_a_suite_and_uploads_report_and_junit():
    import shlex
    from pathlib import Path

    import yaml

    from harness.cli.main import _parser

    workflow = yaml.safe_load((Path(__file__).resolve().parents[1] / "docs" / "github-action.example.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["evaluate"]["steps"]}
    command = steps["Run the suite (gate on breaches)"]["run"]
    for expression in ("${{ github.repository }}", "${{ github.sha }}"):
        command = command.replace(expression, "x")
    argv = shlex.split(command.replace("\\\n", " ").split("pactjury ", 1)[1])
    assert argv[:2] == ["run", "$SUITE"] and "--junit" in argv
    _parser().parse_args(argv)  # every flag it uses exists
    uploaded = steps["Upload the report, JUnit and the evidence store"]["with"]["path"]
    assert "results/*.html" in uploaded and "results/*junit.xml" in uploaded
