"""JSON checks: json-valid, json-schema, json-path."""

from __future__ import annotations

import json

import pytest
from checkhelpers import make_ctx, outcome, run, spec

from harness.checks import bind
from harness.errors import ConfigError

REVIEW = json.dumps(
    {
        "verdict": "needs-review",
        "score": 0.72,
        "escalate": False,
        "owner": None,
        "tags": ["contract", "urgent"],
        "findings": [
            {"clause_type": "termination", "severity": 3, "section": "§ 12.1"},
            {"clause_type": "liability", "severity": 5, "section": "§ 9"},
            {"clause_type": "termination", "severity": 2, "section": "§ 12.4"},
        ],
        "summary": "Zwei Kündigungsklauseln, eine Haftungsklausel.",
    }
)
SCHEMA = {
    "type": "object",
    "required": ["verdict", "findings"],
    "properties": {
        "verdict": {"enum": ["ok", "needs-review", "reject"]},
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["clause_type"],
                "properties": {"severity": {"type": "integer", "maximum": 5}},
            },
        },
    },
}


def bad(check: str, **params) -> str:
    with pytest.raises(ConfigError) as err:
        bind(spec(check, **params))
    assert repr(check) in str(err.value)
    return str(err.value)


# ---------------------------------------------------------------- json-valid


@pytest.mark.parametrize(
    "output, expected",
    [
        ('{"a": 1}', "pass"),
        ("[1, 2, 3]", "pass"),
        ('"just a string"', "pass"),
        ('  \n{"multi":\n  "line"}\n', "pass"),
        ('{"a": 1,}', "fail"),
        ('Sure, here it is: {"a": 1}', "fail"),
        ("", "fail"),
        ("   ", "fail"),
        ('{"name": "Zoë 😀"}', "pass"),
    ],
)
def test_json_valid(output, expected):
    assert outcome(output, "json-valid") == expected


def test_json_valid_details():
    r = run(make_ctx('```json\n{"a": 1}\n```'), "json-valid")
    assert r.outcome == "fail" and "code fence" in r.detail
    assert "empty" in run(make_ctx(""), "json-valid").detail
    assert "object" in run(make_ctx('{"a": 1}'), "json-valid").detail


def test_json_valid_on_embedded_string_and_negation():
    ctx = make_ctx(json.dumps({"payload": '{"inner": true}', "broken": "{nope", "obj": {"x": 1}}))
    assert run(ctx, "json-valid", path="$.payload").outcome == "pass"
    assert run(ctx, "json-valid", path="$.broken").outcome == "fail"
    assert run(ctx, "json-valid", path="$.obj").outcome == "pass"
    assert run(make_ctx("plain prose"), "json-valid", negate=True).outcome == "pass"
    assert run(make_ctx("{}"), "json-valid", negate=True).outcome == "fail"


# ---------------------------------------------------------------- json-schema


def test_json_schema_pass_and_fail():
    assert outcome(REVIEW, "json-schema", schema=SCHEMA) == "pass"
    doc = json.loads(REVIEW)
    doc["findings"][1]["severity"] = 7
    r = run(make_ctx(json.dumps(doc)), "json-schema", schema=SCHEMA)
    assert r.outcome == "fail" and "$.findings[1].severity" in r.detail and "7 is greater than" in r.detail


def test_json_schema_names_missing_property_and_counts_errors():
    r = run(make_ctx('{"summary": "x"}'), "json-schema", schema=SCHEMA)
    assert r.outcome == "fail" and "required property" in r.detail and "(+1 more)" in r.detail


def test_json_schema_non_json_output_fails_clearly():
    r = run(make_ctx("I could not produce JSON today."), "json-schema", schema=SCHEMA)
    assert r.outcome == "fail" and "not valid JSON" in r.detail


def test_json_schema_on_path_and_negation():
    ctx = make_ctx(REVIEW)
    assert run(ctx, "json-schema", path="$.tags", schema={"type": "array", "minItems": 2}).outcome == "pass"
    assert run(ctx, "json-schema", path="$.tags", schema={"type": "array", "minItems": 3}).outcome == "fail"
    assert run(ctx, "json-schema", schema={"type": "array"}, negate=True).outcome == "pass"


def test_json_schema_format_is_checked():
    schema = {"type": "object", "properties": {"contact": {"type": "string", "format": "email"}}}
    assert outcome('{"contact": "desk@example.com"}', "json-schema", schema=schema) == "pass"
    assert outcome('{"contact": "not an address"}', "json-schema", schema=schema) == "fail"


def test_json_schema_invalid_schema_rejected_at_bind():
    message = bad("json-schema", schema={"type": "objekt"})
    assert "invalid JSON Schema" in message
    bad("json-schema", schema={"properties": {"a": {"minLength": -1}}})
    bad("json-schema")


# ---------------------------------------------------------------- json-path


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"path": "$.verdict", "equals": "needs-review"}, "pass"),
        ({"path": "$.verdict", "equals": "ok"}, "fail"),
        ({"path": "$.escalate", "equals": False}, "pass"),
        ({"path": "$.escalate", "equals": 0}, "fail"),
        ({"path": "$.owner", "equals": None}, "pass"),
        ({"path": "$.tags", "equals": ["contract", "urgent"]}, "pass"),
        ({"path": "$.findings[*].severity", "equals": [3, 5, 2]}, "pass"),
        ({"path": "$.findings[*].severity", "equals": [3, 2, 5]}, "fail"),
        ({"path": "$.verdict", "one_of": ["ok", "needs-review"]}, "pass"),
        ({"path": "$.verdict", "one_of": ["ok", "reject"]}, "fail"),
        ({"path": "$.findings[*].clause_type", "one_of": ["termination", "liability"]}, "pass"),
        ({"path": "$.findings[*].clause_type", "one_of": ["termination"]}, "fail"),
        ({"path": "$.findings[*].section", "matches": r"^§\s*\d+(\.\d+)*$"}, "pass"),
        ({"path": "$.findings[*].section", "matches": r"^§ 12"}, "fail"),
        ({"path": "$.score", "min": 0.5, "max": 1}, "pass"),
        ({"path": "$.score", "min": 0.8}, "fail"),
        ({"path": "$.findings[*].severity", "max": 5}, "pass"),
        ({"path": "$.findings[*].severity", "max": 4}, "fail"),
        ({"path": "$.verdict", "min": 0}, "fail"),
        ({"path": "$.escalate", "max": 1}, "fail"),  # a boolean is not a number
        ({"path": "$.findings[*].clause_type", "contains": ["termination", "liability"]}, "pass"),
        ({"path": "$.findings[*].clause_type", "contains": ["termination", "indemnity"]}, "fail"),
        ({"path": "$.tags", "contains": ["urgent"]}, "pass"),
        ({"path": "$.verdict", "exists": True}, "pass"),
        ({"path": "$.missing", "exists": True}, "fail"),
        ({"path": "$.missing", "exists": False}, "pass"),
        ({"path": "$.verdict", "exists": False}, "fail"),
        ({"path": "$.findings[*]", "count_min": 2, "count_max": 3}, "pass"),
        ({"path": "$.findings[*]", "count_max": 2}, "fail"),
        ({"path": "$.missing[*]", "count_max": 0}, "pass"),
        ({"path": "$.findings[?severity >= 3]", "count_min": 2}, "pass"),
        ({"path": "$.summary", "matches": "Kündigung"}, "pass"),
    ],
)
def test_json_path(params, expected):
    assert outcome(REVIEW, "json-path", **params) == expected


def test_json_path_details():
    r = run(make_ctx(REVIEW), "json-path", path="$.findings[*].clause_type", contains=["indemnity", "liability"])
    assert r.outcome == "fail" and "indemnity" in r.detail and "lacks" in r.detail
    r = run(make_ctx(REVIEW), "json-path", path="$.findings[*].severity", max=4)
    assert r.outcome == "fail" and "5" in r.detail and "max 4" in r.detail and "1 of 3" in r.detail
    r = run(make_ctx(REVIEW), "json-path", path="$.findings[*]", count_max=2)
    assert "matched 3" in r.detail


def test_json_path_nothing_matched_is_an_input_failure_for_value_assertions():
    for negate in (False, True):
        r = run(make_ctx(REVIEW), "json-path", path="$.missing", equals="x", negate=negate)
        assert r.outcome == "fail" and "matched nothing" in r.detail


def test_json_path_negation_of_exists_and_count():
    ctx = make_ctx(REVIEW)
    assert run(ctx, "json-path", path="$.missing", exists=True, negate=True).outcome == "pass"
    assert run(ctx, "json-path", path="$.findings[*]", count_max=1, negate=True).outcome == "pass"
    assert run(ctx, "json-path", path="$.verdict", equals="ok", negate=True).outcome == "pass"


def test_json_path_on_non_json_output_fails_even_for_exists_false():
    r = run(make_ctx("no JSON here"), "json-path", path="$.secret", exists=False)
    assert r.outcome == "fail" and "not valid JSON" in r.detail


def test_json_path_equals_expectation():
    ctx = make_ctx('{"priority": "P2"}', expected={"priority": "P2"})
    assert run(ctx, "json-path", path="$.priority", equals={"expected": "priority"}).outcome == "pass"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"equals": "x"}, "path"),
        ({"path": "$.a"}, "exactly one assertion"),
        ({"path": "$.a", "equals": "x", "exists": True}, "exactly one assertion"),
        ({"path": "$.a", "min": 1, "count_min": 1}, "exactly one assertion"),
        ({"path": "$.a", "min": 5, "max": 1}, "greater than"),
        ({"path": "$.a", "count_min": 5, "count_max": 1}, "greater than"),
        ({"path": "$.a", "matches": "(unclosed"}, "invalid regex"),
        ({"path": "$.a", "one_of": []}, "one_of"),
        ({"path": "$.a", "count_min": -1}, "count_min"),
        ({"path": "$..[[", "exists": True}, "invalid JSON path"),
    ],
)
def test_json_path_bad_params(params, message):
    assert message in bad("json-path", **params)
