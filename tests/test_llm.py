"""harness.llm through real litellm over real HTTP against the scripted server: replies, failures, retries."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.llm import LLMRequest, LLMResponse, classify, complete, provider_of, retry_after_s, scrub
from harness.testing.openai_server import Fault, Reply
from harness.types import ToolCall

pytestmark = pytest.mark.timeout(20)

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-not-real"


def ask(fake_llm, name: str, text: str = "Hello judge", **kw) -> LLMRequest:
    kw.setdefault("api_key", KEY)
    kw.setdefault("timeout_s", 10.0)
    return LLMRequest(
        model=f"openai/{name}",
        messages=[{"role": "user", "content": text}],
        api_base=fake_llm.url if fake_llm else None,
        **kw,
    )


def timed(req: LLMRequest) -> tuple[LLMResponse, float]:
    start = time.perf_counter()
    resp = asyncio.run(complete(req))
    return resp, time.perf_counter() - start


@pytest.mark.asyncio
async def test_text_reply_tokens_and_what_was_sent(fake_llm):
    fake_llm.script("judge-a", Reply("The answer is 42.", prompt_tokens=11, completion_tokens=5))
    resp = await complete(ask(fake_llm, "judge-a", temperature=0.0, max_tokens=64, seed=7))
    assert resp.ok and resp.error is None and resp.error_kind is None
    assert resp.text == "The answer is 42." and resp.tool_calls == ()
    assert (resp.tokens_in, resp.tokens_out) == (11, 5)
    assert resp.attempts == 1 and resp.latency_ms > 0 and resp.model == "openai/judge-a"
    (sent,) = fake_llm.requests
    assert sent["model"] == "judge-a"  # litellm strips the openai/ prefix
    assert sent["messages"] == [{"role": "user", "content": "Hello judge"}]
    assert (sent["temperature"], sent["max_tokens"], sent["seed"]) == (0.0, 64, 7)
    assert not sent.get("stream")


@pytest.mark.asyncio
async def test_tool_calls_are_parsed(fake_llm):
    fake_llm.script(
        "agent",
        Reply(
            tool_calls=[
                {"name": "lookup_order", "arguments": {"order_id": "A1", "full": True}},
                {"name": "noop", "arguments": "{}"},
            ]
        ),
    )
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    resp = await complete(ask(fake_llm, "agent", tools=tools))
    assert resp.ok and resp.text == ""
    assert resp.tool_calls == (
        ToolCall(name="lookup_order", arguments={"order_id": "A1", "full": True}),
        ToolCall(name="noop", arguments={}),
    )
    assert fake_llm.requests[0]["tools"] == tools
    assert set(fake_llm.requests[0]) <= {"model", "messages", "tools", "stream"}  # no private kwargs leak


@pytest.mark.asyncio
async def test_cost_is_unknown_for_an_unpriced_model_and_priced_for_a_known_name(fake_llm):
    # litellm raises ModelNotMappedError for openai/<name-not-in-its-table>: cost stays None, never 0.
    unknown = await complete(ask(fake_llm, "local-judge"))
    assert unknown.ok and unknown.cost_usd is None and unknown.tokens_in == 2  # word-count estimate
    # A known name is priced by name from litellm's bundled table, even when served by our local server.
    fake_llm.script("gpt-4o-mini", Reply("ok", prompt_tokens=1000, completion_tokens=1000))
    known = await complete(ask(fake_llm, "gpt-4o-mini"))
    assert known.ok and known.cost_usd is not None and known.cost_usd > 0


def test_timeout_is_reported_within_the_timeout(fake_llm):
    fake_llm.script("slow", Reply("late", delay_s=10))
    resp, elapsed = timed(ask(fake_llm, "slow", timeout_s=0.5))
    assert resp.error_kind == "timeout" and resp.error and resp.attempts == 1
    assert elapsed < 0.5 + 1.0


def test_server_error_then_success_with_retries(fake_llm):
    fake_llm.script("flaky", Fault(500, "boom"), Reply("recovered"))
    resp, _ = timed(ask(fake_llm, "flaky", retries=2))
    assert resp.ok and resp.text == "recovered" and resp.attempts == 2
    assert len(fake_llm.requests) == 2  # neither litellm nor the OpenAI client retried on its own


def test_without_retries_a_server_error_is_returned_not_raised(fake_llm):
    fake_llm.script("down", Fault(503, "overloaded"))
    resp, _ = timed(ask(fake_llm, "down"))
    assert resp.error_kind == "server" and "overloaded" in resp.error and resp.attempts == 1
    assert len(fake_llm.requests) == 1


def test_retry_after_is_honoured(fake_llm):
    fake_llm.script("limited", Fault(429, "slow down", retry_after=1.5), Reply("thanks"))
    resp, elapsed = timed(ask(fake_llm, "limited", retries=1))
    assert resp.ok and resp.attempts == 2
    assert elapsed >= 1.5


def test_rate_limit_after_the_last_retry(fake_llm):
    fake_llm.script("limited", Fault(429, "slow down"), Fault(429, "slow down"), Fault(429, "still no"))
    resp, _ = timed(ask(fake_llm, "limited", retries=2))
    assert resp.error_kind == "rate_limit" and "still no" in resp.error
    assert resp.attempts == 3 and len(fake_llm.requests) == 3


def test_client_errors_are_not_retried(fake_llm):
    fake_llm.script("strict", Fault(400, "bad request: unknown field"))
    resp, _ = timed(ask(fake_llm, "strict", retries=3))
    assert resp.error_kind == "client" and resp.attempts == 1


def test_malformed_body_is_an_error(fake_llm):
    fake_llm.script("garbled", Fault(200, malformed=True))
    resp, _ = timed(ask(fake_llm, "garbled"))
    assert not resp.ok and resp.error and resp.text == ""
    assert resp.error_kind == "server"  # litellm raises InternalServerError(500) for an unparseable body


def test_api_key_never_appears_in_the_error(fake_llm):
    fake_llm.script("auth", Fault(401, f"Incorrect API key provided: {KEY}. Also saw sk-other-leaked-key-123."))
    resp, _ = timed(ask(fake_llm, "auth"))
    assert resp.error_kind == "client"
    assert KEY not in resp.error and "sk-other-leaked-key-123" not in resp.error
    assert "\n" not in resp.error and len(resp.error) <= 300
    odd_key = "plain-secret-token-98765"
    fake_llm.script("auth2", Fault(401, f"token {odd_key} rejected"))
    resp, _ = timed(ask(fake_llm, "auth2", api_key=odd_key))
    assert odd_key not in resp.error and "rejected" in resp.error
    assert KEY not in repr(ask(fake_llm, "auth"))  # the request's repr hides the key too


def test_connection_refused(fake_llm):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    req = LLMRequest(
        model="openai/nobody",
        messages=[{"role": "user", "content": "hi"}],
        api_base=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        timeout_s=5,
    )
    resp, elapsed = timed(req)
    assert resp.error_kind == "connection" and resp.attempts == 1 and elapsed < 5


def test_server_dropping_the_connection_is_a_connection_error(fake_llm):
    fake_llm.script("dead", Fault(0, delay_s=0.1), Fault(0, delay_s=0.1), Reply("back"))
    resp, _ = timed(ask(fake_llm, "dead"))
    assert resp.error_kind == "connection"
    resp, _ = timed(ask(fake_llm, "dead", retries=1))
    assert resp.ok and resp.text == "back" and resp.attempts == 2


def test_concurrent_calls_overlap(fake_llm):
    fake_llm.responder.latency_s = 0.05

    async def run() -> list[LLMResponse]:
        return await asyncio.gather(*(complete(ask(fake_llm, "bench", text=f"q{i}")) for i in range(64)))

    asyncio.run(complete(ask(fake_llm, "warm")))  # litellm's first call pays lazy imports
    start = time.perf_counter()
    resps = asyncio.run(run())
    assert all(r.ok for r in resps) and sorted(r.text for r in resps) == sorted(f"q{i}" for i in range(64))
    assert time.perf_counter() - start < 5.0


def test_import_does_not_import_litellm_and_prefix_provider_is_cheap():
    code = (
        "import sys, harness.llm as m; assert m.provider_of('openai/x') == 'openai'; "
        "assert m.provider_of('anthropic/claude-x') == 'anthropic'; "
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_provider_of_without_prefix_asks_litellm():
    assert provider_of("gpt-4o-mini") == "openai"
    assert provider_of("no-such-model-xyz") == "unknown"


def test_helpers():
    class Exc(Exception):
        litellm_response_headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}

    assert retry_after_s(Exc()) == 0.0  # a date in the past means: go now
    Exc.litellm_response_headers = {"retry-after-ms": "250"}
    assert retry_after_s(Exc()) == 0.25
    Exc.litellm_response_headers = {}
    assert retry_after_s(Exc()) is None
    assert classify(TimeoutError()) == "timeout" and classify(ValueError("x")) == "other"
    assert classify(ConnectionRefusedError()) == "connection"
    import litellm

    try:  # litellm labels internal failures APIConnectionError too; without a transport error it is "other"
        try:
            raise ModuleNotFoundError("No module named 'mcp'")
        except ImportError as inner:
            raise litellm.APIConnectionError("No module named 'mcp'", "openai", "openai/x") from inner
    except Exception as exc:
        assert classify(exc) == "other"
    leaked = "sk-proj-" + "Ab3" * 10
    assert scrub(f"key {leaked} and mine", api_key="mine") == f"key sk-proj-…{leaked[-4:]} and ***"
