"""An OpenAI-compatible chat server (aiohttp) serving whatever a responder coroutine decides: `pactjury serve-model`
runs the embedded model on it, and harness/testing/openai_server.py the scripted replies of tests and benchmarks.

`build_app(responder)` turns `async responder(request_json) -> Reply | Fault` into `/v1/chat/completions` (plain
JSON or SSE streaming), `/v1/models`, `/health` and `/stats` (requests in flight, for benchmarks).
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Union

from aiohttp import web

# ---------------------------------------------------------------- what a responder returns


@dataclass(frozen=True)
class Reply:
    """A successful completion. Token counts left None are estimated as word counts."""

    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None  # reported as usage.prompt_tokens_details.cached_tokens when set
    delay_s: float = 0.0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fault:
    """A failure: an HTTP error status, a 200 with a malformed body, or (status 0) a dead server."""

    status: int
    message: str = ""
    retry_after: float | None = None  # seconds, sent as a Retry-After header
    delay_s: float = 0.0
    malformed: bool = False


Outcome = Union[Reply, Fault]
Responder = Callable[[dict[str, Any]], Awaitable[Outcome]]

# ---------------------------------------------------------------- OpenAI response shapes


def _content_text(content: Any) -> str:
    # Content is a string or a list of typed parts; only text parts count.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    """Accept full OpenAI tool calls or the short {"name", "arguments"} form; arguments go out as JSON text."""
    out = []
    for i, tc in enumerate(reply.tool_calls):
        fn = tc.get("function", tc)
        args = fn.get("arguments", {})
        out.append(
            {
                "id": tc.get("id") or f"call_{i}_{uuid.uuid4().hex[:8]}",
                "type": "function",
                "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
        )
    return out


def _usage(request_json: dict[str, Any], reply: Reply, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = sum(
            _words(_content_text(m.get("content"))) for m in request_json.get("messages") or [] if isinstance(m, dict)
        )
    completion = reply.completion_tokens
    if completion is None:
        completion = _words(reply.text) + sum(
            _words(tc["function"]["name"] + " " + tc["function"]["arguments"]) for tc in tool_calls
        )
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return usage


def _finish_reason(reply: Reply, tool_calls: list[dict[str, Any]]) -> str:
    return "tool_calls" if tool_calls and reply.finish_reason == "stop" else reply.finish_reason


def completion_body(request_json: dict[str, Any], reply: Reply) -> dict[str, Any]:
    tool_calls = _tool_calls(reply)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text if reply.text or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request_json.get("model", ""),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(reply, tool_calls)}
        ],
        "usage": _usage(request_json, reply, tool_calls),
    }


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def stream_chunks(request_json: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    """The SSE chunk sequence for a reply: role, text pieces, tool calls, finish, then usage if asked for."""
    tool_calls = _tool_calls(reply)
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request_json.get("model", ""),
    }
    chunks = [_chunk(base, {"role": "assistant", "content": ""})]
    pieces = reply.text.split(" ")
    chunks += [_chunk(base, {"content": p if i == 0 else " " + p}) for i, p in enumerate(pieces) if reply.text]
    if tool_calls:
        chunks.append(_chunk(base, {"tool_calls": [{"index": i, **tc} for i, tc in enumerate(tool_calls)]}))
    chunks.append(_chunk(base, {}, _finish_reason(reply, tool_calls)))
    if (request_json.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage(request_json, reply, tool_calls)})
    return chunks


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {"message": message or f"scripted fault {status}", "type": kind, "param": None, "code": str(status)}
    }


# ---------------------------------------------------------------- the aiohttp app


async def _send_fault(request: web.Request, fault: Fault) -> web.StreamResponse:
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if fault.status == 0:
        # A dead server: drop the connection without a response. Raising after closing the
        # transport makes aiohttp discard the request quietly instead of answering 500.
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError()
    if fault.malformed:
        return web.Response(status=200, text='{"id": "chatcmpl-broken", "choices": [', content_type="application/json")
    headers = {}
    if fault.retry_after is not None:
        ra = fault.retry_after
        headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else f"{ra:g}"
    return web.json_response(_error_body(fault.status, fault.message), status=fault.status, headers=headers)


async def _send_stream(request: web.Request, request_json: dict[str, Any], reply: Reply) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    for chunk in stream_chunks(request_json, reply):
        await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


class InFlight:
    """Chat requests in flight at the server, integrated over time: mean in flight = busy_s / span_s."""

    def __init__(self) -> None:
        self.now = 0
        self.reset()

    def reset(self) -> None:  # requests still in flight stay counted
        self.peak, self.requests, self.busy_s, self.first, self.last = self.now, 0, 0.0, 0.0, 0.0
        self._mark = time.monotonic()

    def step(self, delta: int) -> None:
        t = time.monotonic()
        if self.requests == 0 and delta > 0:
            self.first = self._mark = t
        self.busy_s += self.now * (t - self._mark)
        self._mark, self.last, self.now = t, t, self.now + delta
        self.requests += delta > 0
        self.peak = max(self.peak, self.now)

    def snapshot(self) -> dict[str, Any]:
        span = max(0.0, self.last - self.first)
        return {
            "in_flight": self.now,
            "peak": self.peak,
            "requests": self.requests,
            "busy_s": self.busy_s,
            "span_s": span,
            "mean_in_flight": self.busy_s / span if span > 0 else 0.0,
        }


def build_app(responder: Responder) -> web.Application:
    inflight = InFlight()

    async def chat(request: web.Request) -> web.StreamResponse:
        inflight.step(1)
        try:
            return await _chat(request)
        finally:
            inflight.step(-1)

    async def _chat(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(_error_body(400, "request body is not valid JSON"), status=400)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return web.json_response(_error_body(400, "expected a JSON object with a 'messages' list"), status=400)
        outcome = await responder(body)
        if isinstance(outcome, Fault):
            return await _send_fault(request, outcome)
        if outcome.delay_s:
            await asyncio.sleep(outcome.delay_s)
        if body.get("stream"):
            return await _send_stream(request, body, outcome)
        return web.json_response(completion_body(body, outcome))

    async def models(request: web.Request) -> web.Response:
        names: list[str] = getattr(responder, "model_names", lambda: [])()
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "pactjury"} for n in names]
        return web.json_response({"object": "list", "data": data})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def stats(request: web.Request) -> web.Response:
        """GET: the in-flight counters (benchmarks read them); POST: read them and start again."""
        body = inflight.snapshot()
        if request.method == "POST":
            inflight.reset()
        return web.json_response(body)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat)
        app.router.add_get(f"{prefix}/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats", stats)
    return app


async def _start(responder: Responder, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that gave up (timeout) cancels its hanging handler.
    # shutdown_timeout: stopping must not wait for scripted hangs to finish.
    runner = web.AppRunner(build_app(responder), access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


# ---------------------------------------------------------------- running it


class ServerHandle:
    """A server running on its own event loop in a daemon thread."""

    def __init__(self, responder: Responder, host: str, port: int):
        self.responder = responder
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._serve, args=(port,), name="pactjury-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"OpenAI-compatible server failed to start on {host}:{port}: {self._error}")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    def _serve(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner, self.port = self._loop.run_until_complete(_start(self.responder, self.host, port))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        if self._runner is not None:
            self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def stop(self) -> None:
        if self._thread.is_alive() and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(responder: Responder, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
    return ServerHandle(responder, host, port)


async def serve_forever(responder: Responder, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; prints `READY <url>` once listening."""
    runner, bound = await _start(responder, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY http://{host}:{bound}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
