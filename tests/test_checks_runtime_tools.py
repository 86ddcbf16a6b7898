"""Runtime checks (latency-max, cost-max, tokens-max) and tool-call checks."""

from __future__ import annotations

import pytest
from checkhelpers import make_ctx, run, spec

from harness.checks import bind
from harness.errors import ConfigError
from harness.types import ToolCall


def bad(check: str, **params) -> str:
    with pytest.raises(ConfigError) as err:
        bind(spec(check, **params))
    assert repr(check) in str(err.value)
    return str(err.value)


# ---------------------------------------------------------------- latency-max


@pytest.mark.parametrize(
    "latency, ms, expected", [(800.0, 1000, "pass"), (1000.0, 1000, "pass"), (1000.4, 1000, "fail"), (0.0, 1, "pass")]
)
def test_latency_max(latency, ms, expected):
    assert run(make_ctx("ok", latency_ms=latency), "latency-max", ms=ms).outcome == expected


def test_latency_detail_and_negation():
    r = run(make_ctx("ok", latency_ms=2345.6), "latency-max", ms=2000)
    assert r.outcome == "fail" and "2346 ms" in r.detail and "2000 ms" in r.detail
    assert run(make_ctx("ok", latency_ms=2345.6), "latency-max", ms=2000, negate=True).outcome == "pass"


def test_latency_bad_params():
    assert "ms" in bad("latency-max", ms=0)
    bad("latency-max")
    assert "takes no path" in bad("latency-max", ms=10, path="$.a")


# ---------------------------------------------------------------- cost-max


@pytest.mark.parametrize(
    "cost, params, expected",
    [
        (0.004, {"usd": 0.01}, "pass"),
        (0.01, {"usd": 0.01}, "pass"),
        (0.02, {"usd": 0.01}, "fail"),
        (0.0, {"usd": 0}, "pass"),
        (None, {"usd": 1.0}, "fail"),
        (None, {"usd": 1.0, "allow_unknown": True}, "pass"),
    ],
)
def test_cost_max(cost, params, expected):
    assert run(make_ctx("ok", cost_usd=cost), "cost-max", **params).outcome == expected


def test_cost_unknown_detail():
    r = run(make_ctx("ok", cost_usd=None), "cost-max", usd=1)
    assert r.detail == "cost unknown"
    # Negated, an unknown cost passes (the positive check failed), and the detail still says why.
    assert "cost unknown" in run(make_ctx("ok", cost_usd=None), "cost-max", usd=1, negate=True).detail


def test_cost_bad_params():
    bad("cost-max", usd=-0.01)
    bad("cost-max")


# ---------------------------------------------------------------- tokens-max


@pytest.mark.parametrize(
    "tin, tout, params, expected",
    [
        (100, 50, {"max": 150}, "pass"),
        (100, 51, {"max": 150}, "fail"),
        (100, 51, {"max": 60, "which": "out"}, "pass"),
        (100, 51, {"max": 99, "which": "in"}, "fail"),
        (None, 51, {"max": 1000}, "fail"),
        (None, 51, {"max": 60, "which": "out"}, "pass"),
        (100, None, {"max": 1000, "which": "out"}, "fail"),
    ],
)
def test_tokens_max(tin, tout, params, expected):
    assert run(make_ctx("ok", tokens_in=tin, tokens_out=tout), "tokens-max", **params).outcome == expected


def test_tokens_unknown_detail_names_the_missing_count():
    r = run(make_ctx("ok", tokens_in=None, tokens_out=5), "tokens-max", max=10)
    assert r.outcome == "fail" and "unknown" in r.detail and "tokens_in" in r.detail and "tokens_out" not in r.detail


def test_tokens_bad_params():
    bad("tokens-max", max=0)
    bad("tokens-max", max=10, which="both")


# ---------------------------------------------------------------- tool-called / tool-not-called

CALLS = [
    ("search_kb", {"query": "vpn outage", "limit": 5}),
    ("lookup_user", {"email": "ana@example.com"}),
    ("search_kb", {"query": "vpn client reinstall", "limit": 10, "filters": {"site": "HQ"}}),
    ("create_ticket", {"priority": "P1", "assignee": None, "notify": True}),
]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"name": "search_kb"}, "pass"),
        ({"name": "search_kb", "min_times": 2}, "pass"),
        ({"name": "search_kb", "min_times": 3}, "fail"),
        ({"name": "search_kb", "max_times": 1}, "fail"),
        ({"name": "create_ticket", "max_times": 1}, "pass"),
        ({"name": "delete_user"}, "fail"),
        ({"name": "delete_user", "min_times": 0, "max_times": 0}, "pass"),
        ({"name": "Search_KB"}, "fail"),  # tool names are exact
    ],
)
def test_tool_called(params, expected):
    assert run(make_ctx("done", tool_calls=CALLS), "tool-called", **params).outcome == expected


def test_tool_called_details():
    r = run(make_ctx("done", tool_calls=CALLS), "tool-called", name="search_kb", max_times=1)
    assert "2 times" in r.detail
    r = run(make_ctx("done", tool_calls=CALLS), "tool-called", name="delete_user")
    assert "not called" in r.detail and "lookup_user" in r.detail
    assert "no tools were called" in run(make_ctx("done"), "tool-called", name="x").detail


def test_tool_not_called_is_tool_called_negated():
    ctx = make_ctx("done", tool_calls=CALLS)
    for name in ("delete_user", "search_kb", "create_ticket"):
        plain = run(ctx, "tool-not-called", name=name).outcome
        negated = run(ctx, "tool-called", name=name, negate=True).outcome
        assert plain == negated
    assert run(ctx, "tool-not-called", name="delete_user").outcome == "pass"
    assert run(ctx, "tool-not-called", name="lookup_user").outcome == "fail"
    assert run(make_ctx("no tools"), "tool-not-called", name="lookup_user").outcome == "pass"
    assert run(ctx, "tool-not-called", name="lookup_user", negate=True).outcome == "pass"


def test_tool_called_bad_params():
    assert "max_times" in bad("tool-called", name="x", min_times=3, max_times=1)
    bad("tool-called", name="")
    bad("tool-not-called", name="x", min_times=-1)
    bad("tool-called", name="x", path="$.a")


# ---------------------------------------------------------------- tool-args


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"name": "search_kb", "args": {"query": "vpn outage"}}, "pass"),
        ({"name": "search_kb", "args": {"query": "vpn client reinstall", "limit": 10}}, "pass"),
        ({"name": "search_kb", "args": {"query": "vpn outage", "limit": 10}}, "fail"),  # both in one call
        ({"name": "search_kb", "args": {"filters": {"site": "HQ"}}}, "pass"),
        ({"name": "search_kb", "args": {"filters": {"site": "Annex"}}}, "fail"),
        ({"name": "search_kb", "args": {"limit": 5.0}}, "pass"),
        ({"name": "create_ticket", "args": {"notify": True}}, "pass"),
        ({"name": "create_ticket", "args": {"notify": 1}}, "fail"),
        ({"name": "create_ticket", "args": {"assignee": None}}, "pass"),
        ({"name": "create_ticket", "args": {"team": None}}, "fail"),  # absent is not null
        ({"name": "lookup_user", "args": {"email": "ana@example.com"}}, "pass"),
        ({"name": "delete_user", "args": {"email": "ana@example.com"}}, "fail"),
        ({"name": "search_kb", "args": {"query": r"\breinstall\b"}, "match": "regex"}, "pass"),
        ({"name": "search_kb", "args": {"query": "^wifi"}, "match": "regex"}, "fail"),
        ({"name": "search_kb", "args": {"limit": r"^\d+$", "query": "client"}, "match": "regex"}, "pass"),
        ({"name": "create_ticket", "args": {"priority": "^P[12]$"}, "match": "regex"}, "pass"),
    ],
)
def test_tool_args(params, expected):
    assert run(make_ctx("done", tool_calls=CALLS), "tool-args", **params).outcome == expected


def test_tool_args_details():
    r = run(make_ctx("done", tool_calls=CALLS), "tool-args", name="search_kb", args={"query": "wifi"})
    assert r.outcome == "fail" and "query=" in r.detail and "'wifi'" in r.detail and "1 other call" in r.detail
    r = run(make_ctx("done", tool_calls=CALLS), "tool-args", name="create_ticket", args={"team": "net"})
    assert "no argument 'team'" in r.detail


def test_tool_args_with_openai_style_json_string_arguments():
    call = ToolCall(name="create_ticket", arguments='{"priority": "P2", "site": "HQ"}')
    ctx = make_ctx("done", tool_calls=[call])
    assert run(ctx, "tool-args", name="create_ticket", args={"priority": "P2"}).outcome == "pass"
    assert run(ctx, "tool-args", name="create_ticket", args={"priority": "P1"}, negate=True).outcome == "pass"


def test_tool_args_from_expectation():
    ctx = make_ctx("done", tool_calls=CALLS, expected={"prio": "P1"})
    assert run(ctx, "tool-args", name="create_ticket", args={"priority": {"expected": "prio"}}).outcome == "pass"


def test_tool_args_bad_params():
    assert "regex" in bad("tool-args", name="x", args={"q": "(open"}, match="regex")
    assert "regex string" in bad("tool-args", name="x", args={"q": 3}, match="regex")
    bad("tool-args", name="x", args={})
    bad("tool-args", name="x", args={"q": 1}, match="glob")
    bad("tool-args", name="x")


# ---------------------------------------------------------------- tool-sequence

SEQ = [("lookup_user", {}), ("search_kb", {}), ("search_kb", {}), ("create_ticket", {}), ("notify", {})]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"names": ["lookup_user", "create_ticket"]}, "pass"),
        ({"names": ["search_kb", "search_kb", "notify"]}, "pass"),
        ({"names": ["create_ticket", "lookup_user"]}, "fail"),  # order matters
        ({"names": ["search_kb", "search_kb", "search_kb"]}, "fail"),
        ({"names": ["lookup_user", "search_kb"], "mode": "prefix"}, "pass"),
        ({"names": ["search_kb"], "mode": "prefix"}, "fail"),
        ({"names": ["lookup_user", "search_kb", "search_kb", "create_ticket", "notify"], "mode": "exact"}, "pass"),
        ({"names": ["lookup_user", "search_kb", "create_ticket", "notify"], "mode": "exact"}, "fail"),
    ],
)
def test_tool_sequence(params, expected):
    assert run(make_ctx("done", tool_calls=SEQ), "tool-sequence", **params).outcome == expected


def test_tool_sequence_no_calls_and_details():
    assert run(make_ctx("done"), "tool-sequence", names=["a"]).outcome == "fail"
    r = run(make_ctx("done", tool_calls=SEQ), "tool-sequence", names=["create_ticket", "lookup_user"])
    assert "'lookup_user' not called after 'create_ticket'" in r.detail and "calls: [" in r.detail
    r = run(make_ctx("done", tool_calls=SEQ), "tool-sequence", names=["create_ticket", "lookup_user"], negate=True)
    assert r.outcome == "pass"


def test_tool_sequence_bad_params():
    bad("tool-sequence", names=[])
    bad("tool-sequence", names=["a"], mode="any")
