"""Text checks: equals, contains, icontains, regex, starts-with, one-of, length, similarity."""

from __future__ import annotations

import json

import pytest
from checkhelpers import make_ctx, outcome, run, spec

from harness.checks import CHECKS, bind
from harness.errors import ConfigError

CATALOGUE = {
    "equals",
    "contains",
    "icontains",
    "regex",
    "starts-with",
    "one-of",
    "length",
    "similarity",
    "json-valid",
    "json-schema",
    "json-path",
    "latency-max",
    "cost-max",
    "tokens-max",
    "tool-called",
    "tool-not-called",
    "tool-args",
    "tool-sequence",
    "tool-calls-valid",
    "refusal",
    "citation",
    "no-pii-leak",
    "no-secret-leak",
    "python",
}
TRIAGE = json.dumps({"priority": "P1", "escalate": True, "count": 3, "reply": "  Hello Ana,\nthe VPN is down.  "})


def test_registry_holds_exactly_the_catalogue():
    assert set(CHECKS) == CATALOGUE
    assert all(d.summary for d in CHECKS.values())


def bad(check: str, **params) -> str:
    with pytest.raises(ConfigError) as err:
        bind(spec(check, **params))
    message = str(err.value)
    assert repr(check) in message  # the check is named, so `validate` points at the right entry
    return message


# ---------------------------------------------------------------- equals


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("P1", {"value": "P1"}, "pass"),
        ("  P1\n", {"value": "P1"}, "pass"),
        ("  P1\n", {"value": "P1", "strip": False}, "fail"),
        ("p1", {"value": "P1"}, "fail"),
        ("p1", {"value": "P1", "case_sensitive": False}, "pass"),
        ("P2", {"value": "P1"}, "fail"),
        ("", {"value": "P1"}, "fail"),
        ("", {"value": ""}, "pass"),
        ("42", {"value": 42}, "pass"),  # YAML reads 42 as an int; the text is still "42"
        ("straße", {"value": "STRASSE", "case_sensitive": False}, "pass"),
        ("cafe\u0301", {"value": "caf\u00e9"}, "pass"),  # decomposed vs composed é
    ],
)
def test_equals_text(output, params, expected):
    assert outcome(output, "equals", **params) == expected


@pytest.mark.parametrize(
    "path, value, expected",
    [
        ("$.priority", "P1", "pass"),
        ("$.priority", "P2", "fail"),
        ("$.escalate", True, "pass"),
        ("$.escalate", 1, "fail"),  # JSON true is not the number 1
        ("$.count", 3, "pass"),
        ("$.count", 3.0, "pass"),
        ("$.count", "3", "fail"),  # a non-string JSON value compares structurally
        ("$.reply", "Hello Ana,\nthe VPN is down.", "pass"),
    ],
)
def test_equals_json_value(path, value, expected):
    assert run(make_ctx(TRIAGE), "equals", path=path, value=value).outcome == expected


def test_equals_detail_says_found_and_expected():
    r = run(make_ctx('{"priority": "P3"}'), "equals", path="$.priority", value="P1")
    assert r.outcome == "fail" and "'P3'" in r.detail and "'P1'" in r.detail


def test_equals_from_case_expectation():
    ctx = make_ctx('{"priority": "P2"}', expected={"priority": "P2"})
    assert run(ctx, "equals", path="$.priority", value={"expected": "priority"}).outcome == "pass"
    ctx = make_ctx('{"priority": "P2"}', expected={"priority": "P4"})
    assert run(ctx, "equals", path="$.priority", value={"expected": "priority"}).outcome == "fail"


def test_path_on_non_json_output_fails_with_reason_even_when_negated():
    for negate in (False, True):
        r = run(make_ctx("Sure! The priority is P1."), "equals", path="$.priority", value="P1", negate=negate)
        assert r.outcome == "fail" and "not valid JSON" in r.detail


def test_path_matching_nothing_fails_with_reason():
    r = run(make_ctx('{"prio": "P1"}'), "equals", path="$.priority", value="P1")
    assert r.outcome == "fail" and "$.priority" in r.detail and "matched nothing" in r.detail


def test_equals_negated():
    r = run(make_ctx("P2"), "equals", value="P1", negate=True)
    assert r.outcome == "pass" and r.negated and r.detail.startswith("negated:")
    assert run(make_ctx("P1"), "equals", value="P1", negate=True).outcome == "fail"


def test_equals_bad_params():
    assert "value" in bad("equals")
    assert "unknown_field" in bad("equals", value="x", unknown_field=1)
    assert "invalid JSON path" in bad("equals", value="x", path="$.[[")


# ---------------------------------------------------------------- contains / icontains


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("The VPN is down", {"value": "VPN"}, "pass"),
        ("The VPN is down", {"value": "vpn"}, "fail"),
        ("The VPN is down", {"value": "vpn", "case_sensitive": False}, "pass"),
        ("The VPN is down", {"values": ["wifi", "VPN"]}, "pass"),
        ("The VPN is down", {"values": ["wifi", "VPN"], "mode": "all"}, "fail"),
        ("The VPN and wifi are down", {"values": ["wifi", "VPN"], "mode": "all"}, "pass"),
        ("", {"value": "VPN"}, "fail"),
        ("Error 404 returned", {"value": 404}, "pass"),
        ("line one\nline two\nRESOLVED", {"value": "two\nRESOLVED"}, "pass"),
        ("Grüße aus Köln 🎉", {"value": "köln 🎉", "case_sensitive": False}, "pass"),
    ],
)
def test_contains(output, params, expected):
    assert outcome(output, "contains", **params) == expected


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("The VPN is DOWN", {"value": "down"}, "pass"),
        ("The VPN is DOWN", {"values": ["up", "vpn"], "mode": "all"}, "fail"),
        ("The VPN is DOWN", {"values": ["down", "vpn"], "mode": "all"}, "pass"),
        ("STRASSE gesperrt", {"value": "straße"}, "pass"),
        ("nothing here", {"value": "vpn"}, "fail"),
    ],
)
def test_icontains(output, params, expected):
    assert outcome(output, "icontains", **params) == expected


def test_contains_details():
    r = run(make_ctx("The VPN and wifi are down"), "contains", values=["VPN", "printer", "DNS"], mode="all")
    assert r.outcome == "fail" and "printer" in r.detail and "DNS" in r.detail and "1 of 3" in r.detail
    r = run(make_ctx("The VPN is down"), "contains", values=["printer", "VPN"])
    assert r.outcome == "pass" and "'VPN'" in r.detail


def test_contains_on_path_and_negation():
    ctx = make_ctx(TRIAGE)
    assert run(ctx, "icontains", path="$.reply", value="vpn").outcome == "pass"
    assert run(ctx, "icontains", path="$.priority", value="vpn").outcome == "fail"
    assert run(ctx, "contains", value="password", negate=True).outcome == "pass"
    assert run(ctx, "contains", value="VPN", negate=True).outcome == "fail"


def test_contains_bad_params():
    assert "exactly one of value or values" in bad("contains")
    assert "exactly one of value or values" in bad("contains", value="a", values=["b"])
    bad("contains", values=[])
    bad("contains", value="")
    bad("contains", value="a", mode="some")
    bad("icontains", value="a", case_sensitive=True)


# ---------------------------------------------------------------- regex


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("We will respond within 4 hours.", {"pattern": r"\bwithin \d+ hours\b"}, "pass"),
        ("We will respond soon.", {"pattern": r"\bwithin \d+ hours\b"}, "fail"),
        ("WITHIN 4 HOURS", {"pattern": r"within \d+ hours"}, "fail"),
        ("WITHIN 4 HOURS", {"pattern": r"within \d+ hours", "flags": "i"}, "pass"),
        ("intro\nP1\noutro", {"pattern": r"^P\d$"}, "fail"),
        ("intro\nP1\noutro", {"pattern": r"^P\d$", "flags": "m"}, "pass"),
        ("a\nb", {"pattern": "a.b"}, "fail"),
        ("a\nb", {"pattern": "a.b", "flags": "s"}, "pass"),
        ("P1", {"pattern": r"P[1-4]", "mode": "fullmatch"}, "pass"),
        ("P1\n", {"pattern": r"P[1-4]", "mode": "fullmatch"}, "pass"),  # a trailing newline is not the answer
        ("P1 (urgent)", {"pattern": r"P[1-4]", "mode": "fullmatch"}, "fail"),
        ("P12", {"pattern": r"P \d  # x flag: spaces and comments ignored", "flags": "x"}, "pass"),
        ("", {"pattern": r".+"}, "fail"),
        ("Привет, мир", {"pattern": r"\bмир\b"}, "pass"),
    ],
)
def test_regex(output, params, expected):
    assert outcome(output, "regex", **params) == expected


def test_regex_detail_shows_the_match():
    r = run(make_ctx("ETA: within 12 hours, maybe"), "regex", pattern=r"within \d+ hours")
    assert "'within 12 hours'" in r.detail


def test_regex_bad_params_name_the_regex_error():
    message = bad("regex", pattern="within (\\d+ hours")
    assert "missing ), unterminated subpattern" in message and "pattern" in message
    assert "unknown regex flag" in bad("regex", pattern="a", flags="iq")
    bad("regex", pattern="a", mode="match")
    bad("regex")


# ---------------------------------------------------------------- starts-with


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("Dear customer, ...", {"value": "Dear customer"}, "pass"),
        ("\n  Dear customer, ...", {"value": "Dear customer"}, "pass"),
        ("\n  Dear customer, ...", {"value": "Dear customer", "strip": False}, "fail"),
        ("dear customer", {"value": "Dear"}, "fail"),
        ("dear customer", {"value": "Dear", "case_sensitive": False}, "pass"),
        ("Hi there", {"value": "Dear"}, "fail"),
        ("", {"value": "Dear"}, "fail"),
    ],
)
def test_starts_with(output, params, expected):
    assert outcome(output, "starts-with", **params) == expected


def test_starts_with_detail_and_negation():
    r = run(make_ctx("Hi there, your ticket"), "starts-with", value="Dear")
    assert r.outcome == "fail" and "'Hi there" in r.detail and "'Dear'" in r.detail
    assert run(make_ctx("Hi there"), "starts-with", value="Dear", negate=True).outcome == "pass"
    bad("starts-with", value="")


# ---------------------------------------------------------------- one-of


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("P2", {"values": ["P1", "P2", "P3"]}, "pass"),
        (" P2\n", {"values": ["P1", "P2", "P3"]}, "pass"),
        ("P5", {"values": ["P1", "P2", "P3"]}, "fail"),
        ("p2", {"values": ["P1", "P2"]}, "fail"),
        ("p2", {"values": ["P1", "P2"], "case_sensitive": False}, "pass"),
        ("2", {"values": [1, 2, 3]}, "pass"),
        ("", {"values": ["P1"]}, "fail"),
    ],
)
def test_one_of_text(output, params, expected):
    assert outcome(output, "one-of", **params) == expected


def test_one_of_json_values():
    ctx = make_ctx(TRIAGE)
    assert run(ctx, "one-of", path="$.priority", values=["P1", "P2"]).outcome == "pass"
    assert run(ctx, "one-of", path="$.count", values=[1, 2, 3]).outcome == "pass"
    assert run(ctx, "one-of", path="$.count", values=["3"]).outcome == "fail"
    assert run(ctx, "one-of", path="$.escalate", values=[1]).outcome == "fail"
    r = run(ctx, "one-of", path="$.priority", values=["P3", "P4"])
    assert r.outcome == "fail" and "'P1'" in r.detail and "P3" in r.detail


def test_one_of_bad_params():
    assert "values" in bad("one-of", values=[])
    bad("one-of")


# ---------------------------------------------------------------- length


@pytest.mark.parametrize(
    "output, params, expected",
    [
        ("hello", {"max": 5}, "pass"),
        ("hello!", {"max": 5}, "fail"),
        ("hello", {"min": 6}, "fail"),
        ("one two  three\nfour", {"min": 4, "max": 4, "unit": "words"}, "pass"),
        ("one two three", {"max": 2, "unit": "words"}, "fail"),
        ("a\nb\nc\n", {"max": 3, "unit": "lines"}, "pass"),
        ("a\nb\nc\nd", {"max": 3, "unit": "lines"}, "fail"),
        ("", {"min": 1}, "fail"),
        ("", {"max": 0, "unit": "lines"}, "pass"),
        ("naïve 日本語", {"min": 9, "max": 9}, "pass"),  # characters, not bytes
    ],
)
def test_length(output, params, expected):
    assert outcome(output, "length", **params) == expected


def test_length_detail_and_bad_params():
    r = run(make_ctx("one two three"), "length", max=2, unit="words")
    assert "3 words" in r.detail and "max 2" in r.detail
    assert "give min, max or both" in bad("length")
    assert "greater than max" in bad("length", min=10, max=5)
    bad("length", max=-1)
    bad("length", max=5, unit="tokens")


# ---------------------------------------------------------------- similarity


def test_similarity_token_set_ignores_order_and_case():
    r = run(make_ctx("VPN down for the HQ building"), "similarity", expected="the HQ building vpn down", threshold=0.8)
    assert r.outcome == "pass" and "similarity 1.00" in r.detail


def test_similarity_threshold_and_methods():
    ctx = make_ctx("The printer on floor 3 is jammed")
    assert run(ctx, "similarity", expected="The VPN is down for everyone", threshold=0.8).outcome == "fail"
    assert run(ctx, "similarity", expected="printer on floor 3", method="partial_ratio").outcome == "pass"
    assert run(ctx, "similarity", expected="printer on floor 3", method="ratio").outcome == "fail"
    assert run(ctx, "similarity", expected="printer on floor 3", method="ratio", threshold=0.5).outcome == "pass"
    assert run(ctx, "similarity", expected="The VPN is down", threshold=0.8, negate=True).outcome == "pass"


def test_similarity_case_sensitivity():
    ctx = make_ctx("THE VPN IS DOWN")
    assert run(ctx, "similarity", expected="the vpn is down", method="ratio").outcome == "pass"
    assert run(ctx, "similarity", expected="the vpn is down", method="ratio", case_sensitive=True).outcome == "fail"


def test_similarity_reference_from_case():
    ctx = make_ctx(
        "Restart the VPN client, then sign in again.", expected={"answer": "restart the vpn client and sign in"}
    )
    r = run(ctx, "similarity", expected={"expected": "answer"}, threshold=0.7)
    assert r.outcome == "pass" and "token_set_ratio" in r.detail


def test_similarity_empty_output_fails():
    assert outcome("", "similarity", expected="anything at all", threshold=0.8) == "fail"


def test_similarity_bad_params():
    assert "threshold" in bad("similarity", expected="x", threshold=1.5)
    bad("similarity", expected="x", method="levenshtein")
    bad("similarity", expected="", threshold=0.8)
    bad("similarity")


def test_similarity_with_only_expected_text():
    # a params mapping holding only `expected: <text>` is a parameter, not an {expected: KEY} reference
    assert outcome("the VPN is down", "similarity", expected="the vpn is down") == "pass"
