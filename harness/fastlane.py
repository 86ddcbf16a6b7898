"""The fast lane: OpenAI-compatible chat completions over a pooled aiohttp client, without litellm.

Taken by `openai/...` and `hosted_vllm/...` models and by bare model names given an api_base, for plain chat
requests; harness/llm.py decides per call, owns retries, error text and pricing, and sends every other model
through litellm. A failure is raised as FastLaneError carrying its kind, so that classifying it costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import weakref
from dataclasses import dataclass
from typing import Any

from harness.types import ToolCall

# Models whose parameters litellm rewrites (max_completion_tokens, no temperature): they keep to litellm.
_REWRITTEN = re.compile(r"^(o\d|gpt-5|codex)")
_KINDS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    408: "Timeout",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


@dataclass(frozen=True)
class Route:
    url: str  # the chat-completions endpoint
    name: str  # the model name sent (the prefix stripped, as litellm does)
    api_key: str | None


class FastLaneError(Exception):
    """A failed call, already sorted: `kind` is one of harness.llm's ErrorKind values."""

    def __init__(self, kind: str, message: str, status: int | None = None, headers: Any = None):
        super().__init__(message)
        self.fast_lane_kind = kind
        self.status_code = status
        self.response_headers = headers or {}


def route(
    model: str, api_base: str | None, api_key: str | None, *, tools: bool = False, extra: bool = False
) -> Route | None:
    """Where this call goes in the fast lane, or None when it belongs to litellm."""
    if extra:
        return None  # litellm-specific keyword arguments: only litellm knows what they mean
    prefix, _, name = model.partition("/") if "/" in model else ("", "", model)
    base: str | None
    if prefix == "openai" or (not prefix and api_base):
        if _REWRITTEN.match(name) or (not prefix and not _bare_is_openai(name)):
            return None
        base = (
            api_base
            or os.environ.get("OPENAI_BASE_URL")
            or os.environ.get("OPENAI_API_BASE")
            or "https://api.openai.com/v1"
        )
        key = api_key or os.environ.get("OPENAI_API_KEY")
    elif prefix == "hosted_vllm" and not tools:  # litellm rewrites vLLM tool schemas
        base = api_base or os.environ.get("HOSTED_VLLM_API_BASE")
        key = api_key or os.environ.get("HOSTED_VLLM_API_KEY") or "fake-api-key"
        if not base:
            return None
    else:
        return None
    return Route(url=base.rstrip("/") + "/chat/completions", name=name, api_key=key)


def _bare_is_openai(name: str) -> bool:
    """A bare model name at an api_base is OpenAI-compatible unless litellm's table gives it another provider
    (a bare `claude-...` goes to Anthropic's API, even at an api_base)."""
    from harness import pricing

    if not pricing.available():
        return False  # without the table we cannot tell: litellm decides
    return pricing.provider_of_name(name) in (None, "openai", "text-completion-openai")


def body(route: Route, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """The request body: model, messages and the parameters given (None ones left out, as litellm does)."""
    out: dict[str, Any] = {"model": route.name, "messages": messages}
    out.update((k, v) for k, v in params.items() if v is not None)
    return out


@dataclass(frozen=True)
class Read:
    text: str
    tool_calls: tuple[ToolCall, ...]
    tokens_in: int | None
    tokens_out: int | None


def read(reply: dict[str, Any]) -> Read:
    """Text, tool calls and token counts of a chat-completion reply (post checked it has a first choice)."""
    message = reply["choices"][0].get("message")
    message = message if isinstance(message, dict) else {}
    text = message.get("content")
    usage = reply.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Read(
        text=text if isinstance(text, str) else "",
        tool_calls=_tool_calls(message),
        tokens_in=_count(usage.get("prompt_tokens")),
        tokens_out=_count(usage.get("completion_tokens")),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _tool_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    calls = message.get("tool_calls")
    out = []
    for tc in calls if isinstance(calls, list) else ():
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            out.append(ToolCall(name=fn.get("name") or "", arguments=fn.get("arguments") or "{}"))
    return tuple(out)


# ---------------------------------------------------------------- the pool, one per event loop


class _Pool:
    def __init__(self) -> None:
        import urllib.request

        import aiohttp

        self.aiohttp = aiohttp
        # Connections are bounded by the harness's own semaphores; a proxy from the environment is honoured as
        # litellm's httpx client would (trust_env costs a lookup per request, so only when one is set).
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
            trust_env=bool(urllib.request.getproxies()),
            skip_auto_headers=("User-Agent",),
            headers={"User-Agent": "pactjury"},
        )
        self.closer = self._close_at_shutdown()

    async def _close_at_shutdown(self) -> Any:
        # An async generator parked at its yield: asyncio.run's shutdown_asyncgens() closes it, and with it the
        # session, so a pool never outlives its loop's run and never warns "Unclosed client session".
        try:
            yield
        finally:
            _POOLS.pop(asyncio.get_running_loop(), None)
            await self.session.close()


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


async def _pool() -> _Pool:
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None or pool.session.closed:
        pool = _POOLS[loop] = _Pool()
        await pool.closer.__anext__()
    return pool


async def close() -> None:
    """Close this loop's pool now (asyncio.run does it anyway at its end)."""
    pool = _POOLS.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.session.close()


# ---------------------------------------------------------------- one call


async def post(route: Route, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST one chat completion; the parsed reply, or FastLaneError (never an aiohttp exception)."""
    pool = await _pool()
    aiohttp = pool.aiohttp
    headers = {"Authorization": f"Bearer {route.api_key}"} if route.api_key else None
    start = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            async with pool.session.post(route.url, json=payload, headers=headers) as resp:
                raw = await resp.read()
                status, resp_headers = resp.status, resp.headers
    except TimeoutError:
        raise FastLaneError(
            "timeout", f"Timeout: no reply within {timeout_s:g}s ({time.monotonic() - start:.1f}s elapsed)"
        ) from None
    except aiohttp.ClientResponseError as exc:  # a response too broken to read
        raise FastLaneError("server", f"InternalServerError: unreadable response: {exc.message}") from None
    except (aiohttp.ClientConnectionError, OSError) as exc:
        raise FastLaneError("connection", f"APIConnectionError: {type(exc).__name__}: {exc}") from None
    if status >= 400:
        raise _http_error(status, raw, resp_headers)
    try:
        reply = json.loads(raw)
    except ValueError:
        reply = None
    if (
        not isinstance(reply, dict)
        or not isinstance(reply.get("choices"), list)
        or not reply["choices"]
        or not isinstance(reply["choices"][0], dict)
    ):
        # litellm reports an unparseable 200 as InternalServerError(500): the same kind here
        raise FastLaneError("server", f"InternalServerError: malformed response body: {raw[:200]!r}", status)
    return reply


def _http_error(status: int, raw: bytes, headers: Any) -> FastLaneError:
    try:
        detail = json.loads(raw)
        message = detail.get("error", {}).get("message") if isinstance(detail, dict) else None
        if not isinstance(message, str):
            message = detail.get("message") if isinstance(detail, dict) else None
    except (ValueError, AttributeError):
        message = None
    text = message if isinstance(message, str) and message else raw[:300].decode(errors="replace")
    kind = "timeout" if status == 408 else "rate_limit" if status == 429 else "server" if status >= 500 else "client"
    name = _KINDS.get(status, "InternalServerError" if status >= 500 else "APIError")
    return FastLaneError(kind, f"{name}: HTTP {status}: {text}", status, headers)
