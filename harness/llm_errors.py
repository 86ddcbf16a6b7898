"""Failed model calls: sorting them into kinds, the waits servers ask for, and their text without secrets."""

from __future__ import annotations

import email.utils
import time
from typing import Literal

from harness.secrets import redact

ErrorKind = Literal["timeout", "rate_limit", "server", "client", "connection", "other"]
RETRYABLE: frozenset[str] = frozenset({"timeout", "rate_limit", "server", "connection"})


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def classify(exc: BaseException) -> ErrorKind:
    """Sort a failure into a kind. litellm reports connection failures as InternalServerError(500) and
    wraps internal failures (an ImportError, say) as APIConnectionError, so the cause chain decides first."""
    kind = getattr(exc, "fast_lane_kind", None)
    if kind is not None:
        return kind  # sorted where it happened (harness/fastlane.py)
    import httpx
    import openai

    chain = _chain(exc)
    if any(isinstance(e, (TimeoutError, openai.APITimeoutError, httpx.TimeoutException)) for e in chain):
        return "timeout"
    if any(
        isinstance(e, (ConnectionError, httpx.TransportError))
        or (isinstance(e, openai.APIConnectionError) and type(e).__module__.startswith("openai"))
        for e in chain
    ):  # the OpenAI SDK's, not litellm's
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
    raw = (
        getattr(exc, "response_headers", None)
        or getattr(exc, "litellm_response_headers", None)
        or getattr(getattr(exc, "response", None), "headers", None)
    )
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


def error_text(exc: BaseException, api_key: str | None) -> str:
    text = scrub(" ".join(str(exc).split()) or type(exc).__name__, api_key)  # scrub before cutting
    return text if len(text) <= 300 else text[:297] + "..."
