"""The scripted OpenAI-compatible server, spoken to with plain httpx: shapes, scripts, faults, streaming."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.testing.openai_server import Fault, Reply, ScriptedResponder, start_in_thread

pytestmark = pytest.mark.timeout(20)

ROOT = Path(__file__).resolve().parents[1]


def chat(url: str, model: str, text: str = "hi", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=10, trust_env=False)


def test_reply_has_the_openai_shape(fake_llm):
    fake_llm.script("m1", Reply("hello there", prompt_tokens=7, completion_tokens=2))
    resp = chat(fake_llm.url, "m1")
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int) and body["model"] == "m1"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "hello there"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def test_per_model_fifo_scripts_then_default_echo(fake_llm):
    fake_llm.script("a", Reply("a1"), Reply("a2"))
    fake_llm.script("b", Reply("b1"))
    got = [
        chat(fake_llm.url, m, text=f"ask {m}").json()["choices"][0]["message"]["content"]
        for m in ["a", "b", "a", "a", "b"]
    ]
    assert got == ["a1", "b1", "a2", "ask a", "ask b"]
    assert fake_llm.responder.pending("a") == 0


def test_default_can_be_fixed_or_callable_and_latency_is_added():
    fixed = ScriptedResponder(Reply("always"), latency_s=0.2)
    with start_in_thread(fixed) as h:
        start = time.perf_counter()
        assert chat(h.url, "x").json()["choices"][0]["message"]["content"] == "always"
        assert time.perf_counter() - start >= 0.2
    calls = ScriptedResponder(lambda req: Reply(f"{req['model']}:{len(req['messages'])}"))
    with start_in_thread(calls) as h:
        assert chat(h.url, "y").json()["choices"][0]["message"]["content"] == "y:1"


def test_requests_are_recorded(fake_llm):
    chat(fake_llm.url, "judge", text="Is the sky green?", temperature=0, seed=7)
    (req,) = fake_llm.requests
    assert req["model"] == "judge" and req["temperature"] == 0 and req["seed"] == 7
    assert req["messages"] == [{"role": "user", "content": "Is the sky green?"}]
    assert fake_llm.responder.requests_for("other") == []


def test_estimated_usage_and_tool_calls(fake_llm):
    fake_llm.script("t", Reply(tool_calls=[{"name": "lookup", "arguments": {"id": 3}}]))
    body = chat(fake_llm.url, "t", text="one two three").json()
    message = body["choices"][0]["message"]
    assert message["content"] is None
    (tc,) = message["tool_calls"]
    assert tc["type"] == "function" and tc["function"]["name"] == "lookup"
    assert json.loads(tc["function"]["arguments"]) == {"id": 3}
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"]["prompt_tokens"] == 3  # word count of the prompt
    fake_llm.script("u", Reply("four five six seven"))
    assert chat(fake_llm.url, "u").json()["usage"]["completion_tokens"] == 4


def test_faults(fake_llm):
    fake_llm.script(
        "f",
        Fault(503, "overloaded"),
        Fault(429, "slow down", retry_after=2),
        Fault(200, malformed=True),
        Fault(0, delay_s=0.1),
    )
    r = chat(fake_llm.url, "f")
    assert r.status_code == 503 and r.json()["error"]["message"] == "overloaded"
    r = chat(fake_llm.url, "f")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    r = chat(fake_llm.url, "f")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    with pytest.raises(httpx.RemoteProtocolError):
        chat(fake_llm.url, "f")
    assert chat(fake_llm.url, "f").status_code == 200  # the server survives a dropped connection


def test_stream_mode(fake_llm):
    fake_llm.script("s", Reply("streamed reply text", prompt_tokens=3, completion_tokens=3))
    body = {
        "model": "s",
        "messages": [{"role": "user", "content": "go"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{fake_llm.url}/chat/completions", json=body, timeout=10, trust_env=False) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in resp.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln.removeprefix("data: ")) for ln in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "streamed reply text"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["usage"]["total_tokens"] == 6


def test_models_health_and_bad_requests(fake_llm):
    fake_llm.script("listed", Reply("x"))
    assert httpx.get(f"{fake_llm.handle.base_url}/health", trust_env=False).json() == {"status": "ok"}
    models = httpx.get(f"{fake_llm.url}/models", trust_env=False).json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["listed"]
    r = httpx.post(f"{fake_llm.url}/chat/completions", content=b"not json", trust_env=False)
    assert r.status_code == 400 and "error" in r.json()
    # The unversioned path works too.
    assert chat(fake_llm.handle.base_url, "listed").status_code == 200


def test_many_concurrent_delayed_requests(fake_llm):
    import aiohttp

    fake_llm.responder.latency_s = 0.2
    body = {"model": "c", "messages": [{"role": "user", "content": "hi"}]}

    async def run() -> list[int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=300)) as session:

            async def one() -> int:
                async with session.post(f"{fake_llm.url}/chat/completions", json=body) as resp:
                    await resp.read()
                    return resp.status

            return await asyncio.gather(*(one() for _ in range(200)))

    start = time.perf_counter()
    assert asyncio.run(run()) == [200] * 200
    assert time.perf_counter() - start < 5.0  # the delays overlap; 200 x 0.2 s one after another would be 40 s


def test_module_cli_prints_ready_and_serves():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.testing.openai_server",
            "--port",
            "0",
            "--latency-ms",
            "10",
            "--reply",
            "fixed text",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1"), line
        url = line.split(" ", 1)[1]
        assert chat(url, "any").json()["choices"][0]["message"]["content"] == "fixed text"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
