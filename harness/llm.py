"""The one door to LLM providers: async chat completion, with our retries and failures as data.

OpenAI-compatible calls take the fast lane (harness/fastlane.py, plain aiohttp, priced from litellm's bundled
table by harness/pricing.py); every other provider goes through litellm, imported on first use."""

from __future__ import annotations

import os

# litellm reads these at import. Without them it downloads its price table (and, on Anthropic calls,
# a beta-header table) from GitHub, and loads any `.env` found from the working directory into
# os.environ. setdefault, so a user can still opt back in from the environment.
for _var in (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_BLOG_POSTS",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS",
    "LITELLM_LOCAL_POLICY_TEMPLATES",
):
    os.environ.setdefault(_var, "True")
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

from pydantic import Field, SecretStr  # noqa: E402

# the error helpers live in llm_errors; imported here too, as they always were
from harness.llm_errors import RETRYABLE, ErrorKind, classify, error_text, retry_after_s, scrub  # noqa: E402, F401
from harness.types import Record, ToolCall  # noqa: E402

MAX_RETRY_AFTER_S = 60.0  # a server asking for longer than this gets this
TIMEOUT_GRACE_S = 1.0  # litellm's own timeout should fire first; ours is the backstop
FAST_LANE_ENV = "PACTJURY_FAST_LANE"  # "0": every call through litellm (`pactjury run --no-fast-lane`)


class LLMRequest(Record):
    model: str
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    api_base: str | None = None
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=0, ge=0)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)  # more litellm kwargs; cannot override the above
    fast_lane: bool = True  # False: through litellm even when the fast lane could take it


class LLMResponse(Record):
    model: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None  # None when litellm cannot price the model; unknown is never 0
    latency_ms: float
    attempts: int
    error: str | None = None
    error_kind: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# ---------------------------------------------------------------- litellm, lazily


@functools.cache
def _litellm() -> Any:
    """Import litellm on first use (2-4 s), configured quiet and offline."""
    import logging

    import litellm

    litellm.telemetry = False  # gone from recent litellm; older versions phoned home unless told not to
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
    for name in (
        "callbacks",
        "success_callback",
        "failure_callback",
        "_async_success_callback",
        "_async_failure_callback",
        "input_callback",
        "service_callback",
    ):
        if isinstance(getattr(litellm, name, None), list):
            getattr(litellm, name).clear()  # no logging integration may ship calls anywhere
    if "LITELLM_LOG" not in os.environ:
        # Failures reach callers as data; litellm's warnings (e.g. "event loop changed") are noise here.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
    from harness.local.bridge import register

    register(litellm)  # the module is handed over: litellm is still imported here only
    return litellm


def is_local(model: str) -> bool:
    """A `local/...` model: the embedded llama.cpp model (harness.local.provider), free and in-process."""
    return model.startswith("local/")


def preload() -> None:
    """Pay litellm's import cost (and its OpenAI client's, ~0.7 s more) now, not inside the first timed call."""
    _litellm()
    import litellm.llms.openai.openai  # noqa: F401
    import openai.resources  # noqa: F401


# ---------------------------------------------------------------- which lane


@contextlib.contextmanager
def fast_lane(enabled: bool) -> Iterator[None]:
    """The fast lane on or off, for this process and the workers it starts (they inherit the variable)."""
    before = os.environ.get(FAST_LANE_ENV)
    os.environ[FAST_LANE_ENV] = "1" if enabled else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FAST_LANE_ENV, None)
        else:
            os.environ[FAST_LANE_ENV] = before


def _route(req: LLMRequest) -> Any:
    """The fast-lane route of this call, or None: litellm takes it."""
    if not req.fast_lane or os.environ.get(FAST_LANE_ENV) == "0":
        return None
    from harness import fastlane

    key = req.api_key.get_secret_value() if req.api_key else None
    return fastlane.route(req.model, req.api_base, key, tools=bool(req.tools), extra=bool(req.extra))


def needs_litellm(model: str, api_base: str | None = None, fast_lane: bool = True) -> bool:
    """Whether calls to this model go through litellm (so that a run pays its import before the first call)."""
    return (
        _route(
            LLMRequest.model_construct(
                model=model, messages=[], api_base=api_base, api_key=None, tools=None, extra={}, fast_lane=fast_lane
            )
        )
        is None
    )


def preload_for(models: list[tuple[str, str | None, bool]]) -> None:
    """preload() when any of these (model, api_base, fast_lane) needs litellm; a fast-lane run never imports it."""
    if any(needs_litellm(*m) for m in models):
        preload()


def provider_of(model: str) -> str:
    """The provider a model string routes to: its `provider/` prefix, else litellm's guess, else 'unknown'."""
    if "/" in model:
        return model.split("/", 1)[0]
    try:
        return _litellm().get_llm_provider(model)[1]
    except Exception:
        return "unknown"


# Providers routed without asking litellm (so checking a spec does not cost litellm's import for the common ones).
_COMMON_PROVIDERS = frozenset(
    {
        "openai",
        "hosted_vllm",
        "anthropic",
        "azure",
        "gemini",
        "vertex_ai",
        "bedrock",
        "ollama",
        "ollama_chat",
        "groq",
        "mistral",
        "together_ai",
        "openrouter",
        "deepseek",
        "local",
        "text-completion-openai",
        "fireworks_ai",
        "cohere",
        "xai",
    }
)


def route_problem(model: str, api_base: str | None = None) -> str | None:
    """Why litellm could not route this model string, or None. Checked before a run, so that a typo in a
    target or judge model is an error of the command, not a run of failed calls recorded against the agent."""
    if not model or any(ch.isspace() for ch in model):
        return "a model string has no spaces (e.g. openai/gpt-4o-mini)"
    prefix = model.split("/", 1)[0] if "/" in model else None
    if prefix in _COMMON_PROVIDERS or (api_base and prefix is None):
        return None
    try:
        _litellm().get_llm_provider(model, api_base=api_base)
    except Exception:
        known = ", ".join(sorted(_COMMON_PROVIDERS - {"local"}))
        return (
            f"litellm cannot tell the provider of {model!r}; write provider/model ({known}, ... see "
            "https://docs.litellm.ai/docs/providers)"
        )
    return None


@functools.cache
def supports_response_schema(model: str) -> bool:
    """Whether the model takes a JSON-schema `response_format`: litellm's table says, except for `local/`
    models, whose embedded provider constrains decoding to the schema itself. Unknown means no."""
    if model.startswith("local/"):
        return True
    from harness import pricing

    known = pricing.supports_response_schema(model)  # the same table litellm reads, without importing litellm
    if known is not None:
        return known
    try:
        return bool(_litellm().supports_response_schema(model=model))
    except Exception:
        return False


# ---------------------------------------------------------------- the call


def _kwargs(req: LLMRequest) -> dict[str, Any]:
    optional = {
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "seed": req.seed,
        "api_base": req.api_base,
        "response_format": req.response_format,
        "tools": req.tools,
    }
    return {
        **req.extra,
        **{k: v for k, v in optional.items() if v is not None},
        "model": req.model,
        "messages": list(req.messages),
        "api_key": req.api_key.get_secret_value() if req.api_key else None,
        "timeout": req.timeout_s,
        "num_retries": 0,  # we own retries; litellm also passes this to the OpenAI client as max_retries
        "stream": False,
        # litellm 1.106 imports its MCP gateway (and the optional `mcp` package) whenever `tools` is
        # given, failing with "No module named 'mcp'"; we never use that gateway, so skip it.
        **({"_skip_mcp_handler": True} if req.tools else {}),
    }


async def _call_once(req: LLMRequest) -> Any:
    litellm = _litellm()
    if is_local(req.model):  # calls queue for the one local model; its timeout counts time on the model only
        return await litellm.acompletion(**_kwargs(req))
    return await asyncio.wait_for(litellm.acompletion(**_kwargs(req)), req.timeout_s + TIMEOUT_GRACE_S)


def _wait(retry_state: Any) -> float:
    from tenacity import wait_exponential_jitter

    backoff = wait_exponential_jitter(multiplier=0.2, max=8.0, jitter=0.2)(retry_state)
    asked = retry_after_s(retry_state.outcome.exception())
    return max(backoff, min(asked, MAX_RETRY_AFTER_S)) if asked is not None else backoff


def _cost(response: Any, tokens_known: bool) -> float | None:
    # litellm raises for models missing from its price table (e.g. `openai/<local-name>`); a 0.0 computed
    # without token counts would be a made-up number, so that is unknown too.
    if not tokens_known:
        return None
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:
        # litellm already priced the call (None when it could not); pricing again costs ~1 ms a call
        cost = hidden["response_cost"]
        return float(cost) if cost is not None else None
    try:
        cost = _litellm().completion_cost(completion_response=response)
    except Exception:
        return None
    return float(cost) if cost is not None else None


def _tool_calls(message: Any) -> tuple[ToolCall, ...]:
    out = []
    for tc in getattr(message, "tool_calls", None) or ():
        fn = tc.function
        out.append(ToolCall(name=fn.name or "", arguments=fn.arguments or "{}"))
    return tuple(out)


def _success(req: LLMRequest, response: Any, latency_ms: float, attempts: int) -> LLMResponse:
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    tokens_in = getattr(usage, "prompt_tokens", None)
    tokens_out = getattr(usage, "completion_tokens", None)
    return LLMResponse(
        model=req.model,
        text=message.content or "",
        tool_calls=_tool_calls(message),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=0.0
        if is_local(req.model)  # free, and known to be
        else _cost(response, tokens_in is not None or tokens_out is not None),
        latency_ms=latency_ms,
        attempts=attempts,
    )


async def complete(req: LLMRequest) -> LLMResponse:
    """One chat completion. Never raises for a failed call: the failure is in `error` / `error_kind`."""
    route = _route(req)
    attempts = 0
    if route is not None:
        from harness import fastlane

        payload = fastlane.body(
            route,
            req.messages,
            {
                "temperature": req.temperature,
                "max_tokens": req.max_tokens,
                "seed": req.seed,
                "response_format": req.response_format,
                "tools": req.tools,
            },
        )

    async def attempt() -> Any:
        nonlocal attempts
        attempts += 1
        if route is not None:
            return await fastlane.post(route, payload, req.timeout_s)
        return await _call_once(req)

    start = time.perf_counter()
    try:
        response = await _attempts(req, attempt)
        if route is not None:
            return await _fast_success(req, response, (time.perf_counter() - start) * 1000.0, attempts)
        return _success(req, response, (time.perf_counter() - start) * 1000.0, attempts)
    except Exception as exc:  # every call failure becomes data; cancellation still propagates
        api_key = req.api_key.get_secret_value() if req.api_key else None
        text = error_text(exc, api_key)
        if route is not None and route.api_key and route.api_key != api_key:  # a key taken from the environment
            text = scrub(text, route.api_key)
        return LLMResponse.model_construct(
            model=req.model,
            latency_ms=(time.perf_counter() - start) * 1000.0,
            attempts=attempts,
            error=text,
            error_kind=classify(exc),
        )


async def _attempts(req: LLMRequest, attempt: Callable[[], Awaitable[Any]]) -> Any:
    """The first attempt, then the retries by the tenacity policy (backoff, Retry-After) if it failed retryably.
    Only failures pay for tenacity's machinery (~0.1 ms a call): the first failure is replayed to it as attempt 1,
    from outside the except block, so that no later failure carries it as its context."""
    replay: list[Exception] = []
    try:
        return await attempt()
    except Exception as exc:
        if req.retries == 0 or classify(exc) not in RETRYABLE:
            raise
        replay.append(exc)
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    async def again() -> Any:
        if replay:
            raise replay.pop()
        return await attempt()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(req.retries + 1),
        wait=_wait,
        reraise=True,
        retry=retry_if_exception(lambda e: classify(e) in RETRYABLE),
    )
    return await retrying(again)


# ---------------------------------------------------------------- fast-lane replies


async def _fast_success(req: LLMRequest, body: dict[str, Any], latency_ms: float, attempts: int) -> LLMResponse:
    """An LLMResponse from a fast-lane reply, read and checked by fastlane.read, so built without re-validation."""
    from harness import fastlane

    reply = fastlane.read(body)
    known = reply.tokens_in is not None or reply.tokens_out is not None
    return LLMResponse.model_construct(
        model=req.model,
        text=reply.text,
        tool_calls=reply.tool_calls,
        tokens_in=reply.tokens_in,
        tokens_out=reply.tokens_out,
        cost_usd=await _fast_cost(req.model, body) if known else None,
        latency_ms=latency_ms,
        attempts=attempts,
        error=None,
        error_kind=None,
    )


async def _fast_cost(model: str, body: dict[str, Any]) -> float | None:
    """Priced from the table as litellm would; what only litellm's calculator knows (price tiers, audio or
    reasoning tokens, ...) is asked of litellm, imported on a thread so that the event loop keeps going."""
    from harness import pricing

    try:
        return pricing.cost(model, body)
    except pricing.Delegate:
        return await asyncio.to_thread(_litellm_cost, model, body)


def _litellm_cost(model: str, body: dict[str, Any]) -> float | None:
    litellm = _litellm()
    try:
        cost = litellm.completion_cost(completion_response=litellm.ModelResponse(**body), model=model)
    except Exception:
        return None
    return float(cost) if cost is not None else None
