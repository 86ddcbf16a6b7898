"""The OpenAI-compatible fast lane against the local server: replies, failures, retries, accounting, lane choice."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from harness import fastlane, pricing
from harness.llm import LLMRequest, LLMResponse, complete, needs_litellm
from harness.testing.openai_server import Fault, Reply

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-fastlane-test-" + "Q7x" * 8
VOTE = json.dumps({"rationale": "It names the next step.", "verdict": "pass"})


def ask(url: str | None, name: str, **kw) -> LLMRequest:
    kw.setdefault("api_key", KEY)
    kw.setdefault("timeout_s", 10.0)
    return LLMRequest(model=f"openai/{name}", messages=[{"role": "user", "content": "Hello judge"}], api_base=url, **kw)


def timed(req: LLMRequest) -> tuple[LLMResponse, float]:
    start = time.perf_counter()
    resp = asyncio.run(complete(req))
    return resp, time.perf_counter() - start


# ---------------------------------------------------------------- which lane


def test_route_takes_openai_compatible_calls_only(monkeypatch):
    monkeypatch.delenv("HOSTED_VLLM_API_BASE", raising=False)
    base = "http://127.0.0.1:9/v1"
    assert fastlane.route("openai/judge", base, "k") == fastlane.Route(f"{base}/chat/completions", "judge", "k")
    vllm = fastlane.Route(f"{base}/chat/completions", "meta-llama/L-8B", "fake-api-key")  # litellm's key for vLLM
    assert fastlane.route("hosted_vllm/meta-llama/L-8B", base + "/", None) == vllm
    bare = fastlane.route("my-model", base, None)  # a bare name at an api_base
    assert bare is not None and bare.name == "my-model"
    for model, api_base, kw in [
        ("anthropic/claude-x", base, {}),
        ("local/gemma-3-270m", None, {}),
        ("openai/o3-mini", base, {}),
        ("openai/gpt-5", None, {}),  # litellm rewrites these
        ("hosted_vllm/x", None, {}),  # no base: litellm decides
        ("hosted_vllm/x", base, {"tools": True}),  # litellm rewrites vLLM tool schemas
        ("openai/x", base, {"extra": True}),
        ("claude-haiku-4-5", base, {}),
    ]:
        assert fastlane.route(model, api_base, None, **kw) is None, model
    assert not needs_litellm("openai/judge", base) and needs_litellm("openai/judge", base, fast_lane=False)
    assert needs_litellm("anthropic/claude-x")


# ---------------------------------------------------------------- calls


@pytest.mark.asyncio
async def test_success_sends_the_chat_body_and_reads_text_tokens_and_tool_calls(fake_llm):
    fake_llm.script("judge-a", Reply("The answer is 42.", prompt_tokens=11, completion_tokens=5))
    resp = await complete(
        ask(fake_llm.url, "judge-a", temperature=0.0, max_tokens=64, seed=7, response_format={"type": "json_object"})
    )
    assert resp.ok and resp.text == "The answer is 42." and (resp.tokens_in, resp.tokens_out) == (11, 5)
    assert resp.attempts == 1 and resp.latency_ms > 0 and resp.cost_usd is None  # judge-a has no price
    (sent,) = fake_llm.requests
    assert sent == {
        "model": "judge-a",
        "messages": [{"role": "user", "content": "Hello judge"}],
        "temperature": 0.0,
        "max_tokens": 64,
        "seed": 7,
        "response_format": {"type": "json_object"},
    }
    fake_llm.script("agent", Reply(tool_calls=[{"name": "lookup", "arguments": {"id": "A1"}}]))
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    resp = await complete(ask(fake_llm.url, "agent", tools=tools))
    assert (
        resp.ok and resp.text == "" and [(t.name, t.arguments) for t in resp.tool_calls] == [("lookup", {"id": "A1"})]
    )


def test_429_with_retry_after_is_waited_out(fake_llm):
    fake_llm.script("limited", Fault(429, "slow down", retry_after=1.2), Reply("thanks"))
    resp, elapsed = timed(ask(fake_llm.url, "limited", retries=1))
    assert resp.ok and resp.text == "thanks" and resp.attempts == 2 and elapsed >= 1.2
    fake_llm.script("limited2", Fault(429, "slow down"), Fault(429, "still no"))
    resp, _ = timed(ask(fake_llm.url, "limited2", retries=1))
    assert resp.error_kind == "rate_limit" and "still no" in str(resp.error) and resp.attempts == 2


def test_500_is_retried_and_400_is_not(fake_llm):
    fake_llm.script("flaky", Fault(500, "boom"), Fault(503, "busy"), Reply("recovered"))
    resp, _ = timed(ask(fake_llm.url, "flaky", retries=2))
    assert resp.ok and resp.text == "recovered" and resp.attempts == 3
    fake_llm.script("down", Fault(503, "overloaded"))
    resp, _ = timed(ask(fake_llm.url, "down"))
    assert (resp.error_kind, resp.attempts) == ("server", 1) and "overloaded" in str(resp.error)
    fake_llm.script("strict", Fault(400, "unknown field"))
    resp, _ = timed(ask(fake_llm.url, "strict", retries=3))
    assert (resp.error_kind, resp.attempts) == ("client", 1) and "unknown field" in str(resp.error)


def test_timeout_is_reported_within_the_timeout(fake_llm):
    fake_llm.script("slow", Reply("late", delay_s=10))
    resp, elapsed = timed(ask(fake_llm.url, "slow", timeout_s=0.5))
    assert resp.error_kind == "timeout" and resp.attempts == 1 and elapsed < 1.5


def test_malformed_body_and_dead_server_are_errors(fake_llm):
    fake_llm.script("garbled", Fault(200, malformed=True))
    resp, _ = timed(ask(fake_llm.url, "garbled"))
    assert resp.error_kind == "server" and resp.text == "" and "malformed" in str(resp.error)  # litellm's kind too
    fake_llm.script("dead", Fault(0, delay_s=0.05), Reply("back"))
    resp, _ = timed(ask(fake_llm.url, "dead", retries=1))
    assert resp.ok and resp.text == "back" and resp.attempts == 2


def test_api_key_never_in_the_error_text(fake_llm, monkeypatch):
    fake_llm.script("auth", Fault(401, f"Incorrect API key provided: {KEY}."))
    resp, _ = timed(ask(fake_llm.url, "auth"))
    assert resp.error_kind == "client" and KEY not in str(resp.error) and "Incorrect API key" in str(resp.error)
    odd = "plain-secret-token-98765"  # not key-shaped: scrubbed because it is the request's own key
    fake_llm.script("auth2", Fault(401, f"token {odd} rejected"))
    resp, _ = timed(ask(fake_llm.url, "auth2", api_key=odd))
    assert odd not in str(resp.error) and "rejected" in str(resp.error)
    monkeypatch.setenv("OPENAI_API_KEY", "env-secret-token-55555")  # the key the lane took from the environment
    fake_llm.script("auth3", Fault(401, "token env-secret-token-55555 rejected"))
    resp, _ = timed(ask(fake_llm.url, "auth3", api_key=None))
    assert "env-secret-token-55555" not in str(resp.error)


# ---------------------------------------------------------------- accounting: the same as litellm's


def test_tokens_and_cost_match_litellm_for_the_same_reply(fake_llm):
    cases = [
        ("gpt-4o-mini", Reply("ok", prompt_tokens=1000, completion_tokens=500)),
        ("gpt-4o-mini", Reply("ok", prompt_tokens=1000, completion_tokens=500, cached_tokens=300)),
        ("gpt-4.1-nano", Reply("ok", prompt_tokens=12345, completion_tokens=67)),
        ("judge-unpriced", Reply("ok", prompt_tokens=10, completion_tokens=2)),
    ]
    for name, reply in cases:
        fake_llm.script(name, reply, reply)
        fast = asyncio.run(complete(ask(fake_llm.url, name)))
        slow = asyncio.run(complete(ask(fake_llm.url, name, fast_lane=False)))
        assert fast.ok and slow.ok, (fast.error, slow.error)
        assert (fast.text, fast.tokens_in, fast.tokens_out) == (slow.text, slow.tokens_in, slow.tokens_out)
        if slow.cost_usd is None:
            assert fast.cost_usd is None, name  # unknown stays unknown, never 0
        else:
            assert fast.cost_usd == pytest.approx(slow.cost_usd, rel=1e-12), name
    assert fake_llm.requests[0] == fake_llm.requests[1]  # and both lanes sent the same body


def test_the_price_table_matches_litellm_for_every_openai_model():
    import litellm

    def body(name: str, cached: int | None) -> dict:
        usage: dict[str, object] = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
        if cached is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        return {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": name,
            "usage": usage,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        }

    names = [k.removeprefix("openai/") for k in pricing._table() or {}] + ["judge-0"]
    assert len(names) > 100
    compared = 0
    for name in names:
        assert pricing.supports_response_schema(f"openai/{name}") == litellm.supports_response_schema(f"openai/{name}")
        for cached in (None, 300):
            try:
                mine = pricing.cost(f"openai/{name}", body(name, cached))
            except pricing.Delegate:
                continue  # litellm's own calculator prices these (harness.llm asks it)
            try:
                ref = litellm.completion_cost(
                    completion_response=litellm.ModelResponse(**body(name, cached)), model=f"openai/{name}"
                )
            except Exception:
                ref = None
            if ref is None or mine is None:
                assert mine is None and ref is None, name  # unknown to both, never 0
            else:
                assert math.isclose(mine, ref, rel_tol=1e-9), name
            compared += 1
    assert compared > 200


# ---------------------------------------------------------------- whole runs


PACT = (
    "id: fl\nversion: '1'\ntier: low\nowner: t\nfreshness: 7d\nclauses:\n"
    "  - {id: helpful, claim: The reply is helpful., verify: jury, threshold: 0.5, severity: minor}\n"
)


def _suite(root: Path, url: str, n: int, **judge) -> tuple[Path, Path]:
    root.mkdir(parents=True)
    (root / "pact.yaml").write_text(PACT)
    cases = [{"id": f"c{i}", "clauses": ["helpful"], "input": f"Ticket {i}"} for i in range(n)]
    (root / "suite.yaml").write_text(json.dumps({"id": "fl-suite", "cases": cases}))
    panel = {
        "id": "fl-panel",
        "method": "majority",
        "judges": [
            {"name": f"j{k}", "model": f"openai/fl-judge-{k}", "api_base": url, "retries": 0, **judge} for k in range(3)
        ],
    }
    (root / "panel.json").write_text(json.dumps(panel))
    return root, root / "panel.json"


HEAVY = ("scipy", "statsmodels", "pandas", "pyarrow")  # ~140 MB between them: a run needs none of them


def _run(
    root: Path, panel: Path, url: str, db: Path, *extra: str, env: dict | None = None, report: bool = False
) -> tuple[int, bool]:
    argv = ["run", str(root), "--target", "openai/fl-agent", "--target-base-url", url, "--panel", str(panel)]
    argv += ["--db", str(db), "--no-progress", *([] if report else ["--no-report"]), *extra]
    code = (
        "import sys\nfrom harness.cli.main import main\n"
        f"rc = main({argv!r})\n"
        f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
        "print('LITELLM', 'litellm' in sys.modules, rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("LITELLM")]
    assert line, out.stderr[-2000:]
    assert "HEAVY []" in out.stdout, out.stdout  # statistics, power figures and report in NumPy alone
    _, imported, rc = line[-1].split()
    return int(rc), imported == "True"


def test_a_fast_lane_run_never_imports_litellm_and_forcing_litellm_does(fake_llm, tmp_path):
    root, panel = _suite(tmp_path / "s", fake_llm.url, 4)
    for k in range(3):
        fake_llm.script(f"fl-judge-{k}", *[Reply(VOTE)] * 8)
    rc, imported = _run(root, panel, fake_llm.url, tmp_path / "a.duckdb", report=True)
    assert rc == 0 and not imported
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    assert con.execute("SELECT count(*), count(*) FILTER (label = 'pass') FROM votes").fetchone() == (12, 12)
    con.close()
    rc, imported = _run(root, panel, fake_llm.url, tmp_path / "b.duckdb", "--no-fast-lane", "--no-cache")
    assert rc == 0 and imported  # the same run through litellm
    root2, panel2 = _suite(tmp_path / "s2", fake_llm.url, 1, fast_lane=False)  # per judge, in the panel file
    rc, imported = _run(root2, panel2, fake_llm.url, tmp_path / "c.duckdb")
    assert rc == 0 and imported


def test_a_judge_whose_key_is_echoed_abstains_without_storing_it(fake_llm, tmp_path):
    root, panel = _suite(tmp_path / "s", fake_llm.url, 2, api_key_env="FL_JUDGE_KEY")
    secret = "fl-judge-key-not-shaped-like-one-4242"
    for k in range(3):
        fake_llm.script(f"fl-judge-{k}", *[Fault(401, f"bad key {secret} for this org")] * 2)
    rc, _ = _run(root, panel, fake_llm.url, tmp_path / "k.duckdb", "--no-fail-fast", env={"FL_JUDGE_KEY": secret})
    con = duckdb.connect(str(tmp_path / "k.duckdb"), read_only=True)
    reasons = [r[0] for r in con.execute("SELECT abstain_reason FROM votes").fetchall()]
    con.close()
    assert len(reasons) == 6 and all("call failed (client)" in r and "bad key" in r for r in reasons)
    assert not any(secret in r for r in reasons)
    assert secret.encode() not in (tmp_path / "k.duckdb").read_bytes()


def test_the_server_counts_calls_in_flight(fake_llm):
    import urllib.request

    stats_url = fake_llm.url.removesuffix("/v1") + "/stats"
    urllib.request.urlopen(urllib.request.Request(stats_url, method="POST"), timeout=5).read()  # start again
    fake_llm.responder.latency_s = 0.2

    async def many() -> list[LLMResponse]:
        return await asyncio.gather(*(complete(ask(fake_llm.url, "inflight")) for _ in range(16)))

    assert all(r.ok for r in asyncio.run(many()))
    stats = json.loads(urllib.request.urlopen(stats_url, timeout=5).read())
    assert stats["requests"] == 16 and stats["in_flight"] == 0 and stats["peak"] == 16
    assert 8 < stats["mean_in_flight"] <= 16  # the pool sends them together: no client-side queueing


def test_concurrency_limits_model_calls_in_flight_target_and_judges_together(fake_llm, tmp_path):
    """`--concurrency 6` is six calls in flight at the server, never more, though the panel's own limit is 64 and
    each case makes one target call and then three judge calls; and the slots are kept busy (mean near 6)."""
    import urllib.request

    root, panel = _suite(tmp_path / "s", fake_llm.url, 24)
    fake_llm.responder.default = lambda body: Reply(VOTE if "judge" in body.get("model", "") else "On it.")
    fake_llm.responder.latency_s = 0.1
    stats_url = fake_llm.url.removesuffix("/v1") + "/stats"
    urllib.request.urlopen(urllib.request.Request(stats_url, method="POST"), timeout=5).read()
    rc, _ = _run(root, panel, fake_llm.url, tmp_path / "c.duckdb", "--concurrency", "6")
    stats = json.loads(urllib.request.urlopen(stats_url, timeout=5).read())
    assert rc == 0 and stats["requests"] == 24 * 4
    assert stats["peak"] == 6 and stats["mean_in_flight"] > 4.5
