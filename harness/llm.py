"""The one door to LLM providers: async chat completion through litellm, with our retries and failures as data."""

from __future__ import annotations

import os

# litellm reads these at import. Without them it downloads its price table (and, on Anthropic calls,
# a beta-header table) from GitHub, and loads any `.env` found from the working directory into
# os.environ. setdefault, so a user can still opt back in from the environment.
for _var in ("LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "LITELLM_LOCAL_BLOG_POSTS",
             "LITELLM_LOCAL_AUTOROUTER_PRESETS", "LITELLM_LOCAL_POLICY_TEMPLATES"):
    os.environ.setdefault(_var, "True")
os.environ.setdefault("LITELLM_MODE", "PRODUCTION")

import asyncio  # noqa: E402
import email.utils  # noqa: E402
import functools  # noqa: E402
import time  # noqa: E402
from typing import Any, Literal  # noqa: E402

from pydantic import Field, SecretStr  # noqa: E402

from harness.secrets import redact  # noqa: E402
from harness.types import Record, ToolCall  # noqa: E402

ErrorKind = Literal["timeout", "rate_limit", "server", "client", "connection", "other"]
RETRYABLE: frozenset[str] = frozenset({"timeout", "rate_limit", "server", "connection"})
MAX_RETRY_AFTER_S = 60.0  # a server asking for longer than this gets this
TIMEOUT_GRACE_S = 1.0  # litellm's own timeout should fire first; ours is the backstop


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
    for name in ("callbacks", "success_callback", "failure_callback", "_async_success_callback",
                 "_async_failure_callback", "input_callback", "service_callback"):
        if isinstance(getattr(litellm, name, None), list):
            getattr(litellm, name).clear()  # no logging integration may ship calls anywhere
    if "LITELLM_LOG" not in os.environ:
        # Failures reach callers as data; litellm's warnings (e.g. "event loop changed") are noise here.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
    _register_local(litellm)
    return litellm


def is_local(model: str) -> bool:
    """A `local/...` model: the embedded llama.cpp model (harness.local.provider), free and in-process."""
    return model.startswith("local/")


def _register_local(litellm: Any) -> None:
    """Route `local/<model>` to harness.local.provider as a litellm custom provider, so the embedded model is a
    model string like any other (targets and judges). litellm strips the prefix and hands us its
    optional_params (temperature, max_tokens, seed, response_format, ...)."""
    if any(item.get("provider") == "local" for item in litellm.custom_provider_map):
        return

    def respond(model_response: Any, model: str, result: Any) -> Any:
        model_response.choices[0].message.content = result.text
        model_response.choices[0].finish_reason = result.finish_reason
        model_response.model = f"local/{model}"
        model_response.usage = litellm.Usage(prompt_tokens=result.prompt_tokens,
                                             completion_tokens=result.completion_tokens,
                                             total_tokens=result.prompt_tokens + result.completion_tokens,
                                             prompt_tokens_details={"cached_tokens": result.cached_tokens})
        return model_response

    def seconds(timeout: Any) -> float | None:
        return float(timeout) if isinstance(timeout, (int, float)) else getattr(timeout, "read", None)

    def failure(exc: Exception, model: str) -> Exception:  # litellm's own kinds pass through its mapping as they are
        if isinstance(exc, TimeoutError):
            return litellm.Timeout(message=str(exc), model=f"local/{model}", llm_provider="local")
        if isinstance(exc, ValueError):  # an unknown model, a bad response_format, a prompt too long
            return litellm.BadRequestError(message=str(exc), model=f"local/{model}", llm_provider="local")
        return exc

    class LocalProvider(litellm.CustomLLM):  # litellm calls these with keyword arguments only
        def completion(self, *, model: str, messages: list, model_response: Any, optional_params: dict,
                       timeout: Any = None, **_: Any) -> Any:
            from harness.local import provider as local_model

            try:
                result = local_model.complete_model(model, messages, **optional_params, timeout_s=seconds(timeout))
            except (TimeoutError, ValueError) as exc:
                raise failure(exc, model) from exc
            return respond(model_response, model, result)

        async def acompletion(self, *, model: str, messages: list, model_response: Any, optional_params: dict,
                              timeout: Any = None, **_: Any) -> Any:
            from harness.local import provider as local_model

            try:
                result = await local_model.acomplete_model(model, messages, **optional_params,
                                                           timeout_s=seconds(timeout))
            except (TimeoutError, ValueError) as exc:
                raise failure(exc, model) from exc
            return respond(model_response, model, result)

    litellm.custom_provider_map.append({"provider": "local", "custom_handler": LocalProvider()})


def preload() -> None:
    """Pay litellm's import cost (and its OpenAI client's, ~0.7 s more) now, not inside the first timed call."""
    _litellm()
    import litellm.llms.openai.openai  # noqa: F401
    import openai.resources  # noqa: F401


def provider_of(model: str) -> str:
    """The provider a model string routes to: its `provider/` prefix, else litellm's guess, else 'unknown'."""
    if "/" in model:
        return model.split("/", 1)[0]
    try:
        return _litellm().get_llm_provider(model)[1]
    except Exception:
        return "unknown"


@functools.cache
def supports_response_schema(model: str) -> bool:
    """Whether the model takes a JSON-schema `response_format`: litellm's table says, except for `local/`
    models, whose embedded provider constrains decoding to the schema itself. Unknown means no."""
    if model.startswith("local/"):
        return True
    try:
        return bool(_litellm().supports_response_schema(model=model))
    except Exception:
        return False


# ---------------------------------------------------------------- errors


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def classify(exc: BaseException) -> ErrorKind:
    """Sort a failure into a kind. litellm reports connection failures as InternalServerError(500) and
    wraps internal failures (an ImportError, say) as APIConnectionError, so the cause chain decides first."""
    import httpx
    import openai

    chain = _chain(exc)
    if any(isinstance(e, (TimeoutError, openai.APITimeoutError, httpx.TimeoutException)) for e in chain):
        return "timeout"
    if any(isinstance(e, (ConnectionError, httpx.TransportError)) or (isinstance(e, openai.APIConnectionError)
           and type(e).__module__.startswith("openai")) for e in chain):  # the OpenAI SDK's, not litellm's
        return "connection"
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.APIConnectionError) or not isinstance(status, int):
        return "other"  # for litellm's APIConnectionError the status_code 500 is made up
    if status in (408, 429):
        return "timeout" if status == 408 else "rate_limit"
    return "server" if status >= 500 else "client" if status >= 400 else "other"


def retry_after_s(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or HTTP-date) or retry-after-ms."""
    # litellm rebuilds exc.response without the provider's headers; they survive on
    # exc.litellm_response_headers (an httpx.Headers).
    raw = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    headers = {str(k).lower(): v for k, v in dict(raw or {}).items()}
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def scrub(text: str, api_key: str | None = None) -> str:
    """Remove the request's own key (whatever its shape), then every key-shaped secret (`sk-...` and co)."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, "***")
    return redact(text)


def _error_text(exc: BaseException, api_key: str | None) -> str:
    text = scrub(" ".join(str(exc).split()) or type(exc).__name__, api_key)  # scrub before cutting
    return text if len(text) <= 300 else text[:297] + "..."


# ---------------------------------------------------------------- the call


def _kwargs(req: LLMRequest) -> dict[str, Any]:
    optional = {"temperature": req.temperature, "max_tokens": req.max_tokens, "seed": req.seed,
                "api_base": req.api_base, "response_format": req.response_format, "tools": req.tools}
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
    return LLMResponse(model=req.model, text=message.content or "", tool_calls=_tool_calls(message),
                       tokens_in=tokens_in, tokens_out=tokens_out,
                       cost_usd=0.0 if is_local(req.model)  # free, and known to be
                       else _cost(response, tokens_in is not None or tokens_out is not None),
                       latency_ms=latency_ms, attempts=attempts)


async def complete(req: LLMRequest) -> LLMResponse:
    """One chat completion. Never raises for a failed call: the failure is in `error` / `error_kind`."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    attempts = 0

    async def attempt() -> Any:
        nonlocal attempts
        attempts += 1
        return await _call_once(req)

    retrying = AsyncRetrying(stop=stop_after_attempt(req.retries + 1), wait=_wait, reraise=True,
                             retry=retry_if_exception(lambda e: classify(e) in RETRYABLE))
    start = time.perf_counter()
    try:
        response = await retrying(attempt)
        return _success(req, response, (time.perf_counter() - start) * 1000.0, attempts)
    except Exception as exc:  # every call failure becomes data; cancellation still propagates
        api_key = req.api_key.get_secret_value() if req.api_key else None
        return LLMResponse(model=req.model, latency_ms=(time.perf_counter() - start) * 1000.0, attempts=attempts,
                           error=_error_text(exc, api_key), error_kind=classify(exc))
