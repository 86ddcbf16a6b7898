"""Pact and suite loading: identity by content hash, and one-line errors naming file, line and field."""

from __future__ import annotations

import copy

import pytest
import yaml
from suitefiles import BASIC_PACT, basic_suite, write_suite

from harness.errors import ConfigError, LoadError
from harness.pact import load_pact, parse_duration
from harness.suite import load_plan


def test_basic_plan_loads_and_binds_expectations(tmp_path):
    plan = load_plan(write_suite(tmp_path))
    assert plan.pact.id == "demo-pact"
    assert plan.pact.freshness_s == 7 * 86400
    assert len(plan.suite.cases) == 4
    # the json-path check is bound per case with that case's expected label
    ((_, params),) = plan.checks[("case-001", "label-right")]
    assert params.equals == "odd"
    assert plan.checks[("case-000", "tone")] == ()
    assert plan.warnings == ()


def test_hash_ignores_formatting_but_not_content(tmp_path):
    a = load_pact(write_suite(tmp_path / "a") / "pact.yaml")
    text = yaml.safe_dump(BASIC_PACT, sort_keys=True, default_flow_style=True)
    b = load_pact(write_suite(tmp_path / "b", pact_text="# a comment\n" + text) / "pact.yaml")
    assert a.hash == b.hash
    edited = copy.deepcopy(BASIC_PACT)
    edited["clauses"][0]["threshold"] = 0.6
    c = load_pact(write_suite(tmp_path / "c", pact=edited) / "pact.yaml")
    assert c.hash != a.hash


@pytest.mark.parametrize("text,expected", [("7d", 604800), ("12h", 43200), ("90m", 5400), ("2w", 1209600), (30, 30)])
def test_durations(text, expected):
    assert parse_duration(text) == expected


def _error(tmp_path, pact=None, suite=None, pact_text=None, suite_text=None) -> str:
    root = write_suite(tmp_path, pact=pact, suite=suite, pact_text=pact_text, suite_text=suite_text)
    with pytest.raises(ConfigError) as info:
        load_plan(root)
    message = str(info.value)
    assert "\n" not in message
    return message


def _pact(**changes):
    p = copy.deepcopy(BASIC_PACT)
    for path, value in changes.items():
        target = p
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        if value is KeyError:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return p


def test_malformed_yaml_names_file_and_line(tmp_path):
    msg = _error(tmp_path, pact_text="id: x\nclauses: [1, 2\nversion: 1\n")
    assert "pact.yaml:3" in msg and "invalid YAML" in msg


def test_unknown_field_in_clause(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__1__treshold=0.5))
    assert "pact.yaml:" in msg and "clauses[1].treshold" in msg and "unknown field" in msg


def test_wrong_type_threshold(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__0__threshold="high"))
    assert "clauses[0].threshold" in msg


def test_threshold_out_of_range(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__0__threshold=1.5))
    assert "clauses[0].threshold" in msg and "less than or equal to 1" in msg


def test_bad_enum(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__0__verify="vibes"))
    assert "clauses[0].verify" in msg and "'vibes'" in msg


def test_unknown_check_lists_valid_names(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__0__checks=[{"check": "containz", "value": "x"}]))
    assert "clauses[0].checks[0]" in msg and "unknown check 'containz'" in msg and "icontains" in msg


def test_bad_check_parameter(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__0__checks=[{"check": "regex", "pattern": "([unclosed"}]))
    assert "clauses[0].checks[0]" in msg and "regex" in msg


def test_duplicate_clause_id(tmp_path):
    p = _pact()
    p["clauses"][1]["id"] = "says-hello"
    msg = _error(tmp_path, pact=p)
    assert "clauses[1].id" in msg and "duplicate clause id" in msg


def test_duplicate_yaml_key(tmp_path):
    text = yaml.safe_dump(BASIC_PACT, sort_keys=False).replace("tier: high\n", "tier: high\ntier: low\n")
    msg = _error(tmp_path, pact_text=text)
    assert "duplicate key 'tier'" in msg and "pact.yaml:" in msg


def test_jury_clause_with_checks_rejected(tmp_path):
    msg = _error(tmp_path, pact=_pact(clauses__2__checks=[{"check": "json-valid"}]))
    assert "use verify: hybrid" in msg


def test_missing_pact_file(tmp_path):
    root = write_suite(tmp_path)
    (root / "pact.yaml").unlink()
    with pytest.raises(LoadError) as info:
        load_plan(root)
    assert "pact.yaml" in str(info.value) and "file not found" in str(info.value)


def test_missing_suite_dir(tmp_path):
    with pytest.raises(LoadError):
        load_plan(tmp_path / "nope")


def test_bad_consequence_condition(tmp_path):
    msg = _error(tmp_path, pact=_pact(consequences=[{"when": {"colour": "red"}, "action": "suspend"}]))
    assert "consequences[0].when.colour" in msg and "unknown condition" in msg


def test_bad_consequence_action(tmp_path):
    msg = _error(tmp_path, pact=_pact(consequences=[{"action": "shrug"}]))
    assert "consequences[0].action" in msg


def test_case_names_unknown_clause(tmp_path):
    s = basic_suite()
    s["cases"][2]["clauses"] = ["says-hello", "no-such-clause"]
    msg = _error(tmp_path, suite=s)
    assert "suite.yaml:" in msg and "cases[2].clauses[1]" in msg and "no-such-clause" in msg


def test_duplicate_case_id(tmp_path):
    s = basic_suite()
    s["cases"][3]["id"] = "case-000"
    msg = _error(tmp_path, suite=s)
    assert "cases[3].id" in msg and "duplicate case id" in msg


def test_case_missing_expected_key_for_check(tmp_path):
    s = basic_suite()
    del s["cases"][1]["expected"]["label"]
    msg = _error(tmp_path, suite=s)
    assert "cases[1]" in msg and "expected.label" in msg


def test_case_unknown_field(tmp_path):
    s = basic_suite()
    s["cases"][0]["expect"] = {}
    msg = _error(tmp_path, suite=s)
    assert "cases[0].expect" in msg


def test_case_input_wrong_type(tmp_path):
    s = basic_suite()
    s["cases"][0]["input"] = 42
    msg = _error(tmp_path, suite=s)
    assert "cases[0].input" in msg


def test_untested_clause_is_a_warning(tmp_path):
    s = basic_suite()
    for c in s["cases"]:
        c["clauses"] = ["says-hello", "label-right"]
    plan = load_plan(write_suite(tmp_path, suite=s))
    assert len(plan.warnings) == 1 and "'tone' is tested by no case" in plan.warnings[0]


def test_chat_message_input_and_context(tmp_path):
    s = basic_suite(1)
    s["cases"][0]["input"] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yes?"},
        {"role": "user", "content": "hello number 0"},
    ]
    s["cases"][0]["context"] = [{"id": "doc-1", "title": "Policy", "text": "Be nice."}]
    s["system"] = "You are a test agent."
    plan = load_plan(write_suite(tmp_path, suite=s))
    msgs = plan.suite.cases[0].messages()
    assert msgs[0]["role"] == "system" and "You are a test agent." in msgs[0]["content"]
    assert "[document doc-1: Policy]" in msgs[0]["content"]
    assert [m["role"] for m in msgs[1:]] == ["user", "assistant", "user"]
