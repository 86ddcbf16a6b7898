"""Prices and JSON-schema support of OpenAI models, read from litellm's bundled table without importing litellm."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

TABLE_FILE = "model_prices_and_context_window_backup.json"
_TIERS = re.compile(r"_above_(\d+)k_tokens")
# Usage details that litellm prices apart from plain tokens; a reply carrying any of them is priced by litellm.
_SPECIAL_PROMPT = ("audio_tokens", "image_tokens", "video_tokens", "cache_creation_tokens")
_SPECIAL_COMPLETION = ("audio_tokens", "image_tokens", "reasoning_tokens")


class Delegate(Exception):
    """This reply's price needs litellm's own calculator (tiers, audio, reasoning, a service tier, ...)."""


@functools.cache
def _load() -> tuple[dict[str, dict[str, Any]], dict[str, str]] | None:
    """litellm's bundled table: its OpenAI entries, and every key's provider. None when litellm would use another
    table (the remote one) or the file is missing: then litellm prices every call."""
    if os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "").lower() != "true":
        return None
    spec = importlib.util.find_spec("litellm")  # finds the package without running it
    if spec is None or spec.origin is None:
        return None
    try:
        data = json.loads((Path(spec.origin).parent / TABLE_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    entries = {k: v for k, v in data.items() if isinstance(v, dict) and v.get("litellm_provider") == "openai"}
    return entries, {k: str(v.get("litellm_provider")) for k, v in data.items() if isinstance(v, dict)}


def _table() -> dict[str, dict[str, Any]] | None:
    loaded = _load()
    return loaded[0] if loaded else None


def available() -> bool:
    return _load() is not None


def entry(name: str) -> dict[str, Any] | None:
    """The table's entry for an OpenAI model name (without the `openai/` prefix), as litellm looks it up."""
    table = _table() or {}
    return table.get(f"openai/{name}") or table.get(name)


def provider_of_name(name: str) -> str | None:
    """The provider litellm's table gives a bare model name (claude-3-5-haiku: anthropic), or None."""
    loaded = _load()
    return loaded[1].get(name) if loaded else None


def openai_name(model: str) -> str | None:
    """The OpenAI model name litellm would price `model` as: `openai/NAME` or a bare name; None for others."""
    if model.startswith("openai/"):
        return model[len("openai/") :]
    return None if "/" in model else model


def supports_response_schema(model: str) -> bool | None:
    """litellm's answer for OpenAI models (openai/..., hosted_vllm/..., bare names), or None: ask litellm."""
    if _table() is None:
        return None
    if model.startswith("hosted_vllm/"):
        return False  # the table has no hosted_vllm entries, and litellm says no for them
    name = openai_name(model)
    if name is None or ("/" not in model and provider_of_name(name) not in (None, "openai")):
        return None
    found = entry(name)
    return bool(found.get("supports_response_schema")) if found else False


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cost(model: str, body: dict[str, Any]) -> float | None:
    """USD for one chat-completion reply of `model` (a request model string), as litellm's completion_cost
    computes it for plain text usage; None when litellm cannot price it either. Raises Delegate when the reply
    needs litellm's calculator."""
    if _table() is None:
        raise Delegate("no local price table")
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    names = [openai_name(model)] if not model.startswith("hosted_vllm/") else []
    if names and isinstance(body.get("model"), str):
        names.append(body["model"])  # litellm falls back to the model the server says answered
    found = next((e for e in (entry(n) for n in names if n) if e), None)
    if found is None or "input_cost_per_token" not in found or "output_cost_per_token" not in found:
        return None if found is None else _delegate("an entry priced otherwise than per token")
    prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    cached = _plain_details(usage, found, prompt + completion, body)
    read = found.get("cache_read_input_token_cost", found["input_cost_per_token"])
    return (
        (prompt - cached) * found["input_cost_per_token"] + cached * read + completion * found["output_cost_per_token"]
    )


def _plain_details(usage: dict[str, Any], found: dict[str, Any], tokens: int, body: dict[str, Any]) -> int:
    """The cached prompt tokens, after checking that nothing else in the reply changes its price."""
    if any(k.startswith("off_peak") or "off_peak" in k for k in found):
        _delegate("time-of-day pricing")
    tiers = [int(m[1]) * 1000 for k in found if (m := _TIERS.search(k))]
    if tiers and tokens >= min(tiers):
        _delegate("a long-context price tier")
    if body.get("service_tier") not in (None, "default", "auto"):
        _delegate("a service tier")
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    if not isinstance(prompt_details, dict) or not isinstance(completion_details, dict):
        _delegate("usage details of an unknown shape")
    if any(_int(prompt_details.get(k)) for k in _SPECIAL_PROMPT) or any(
        _int(completion_details.get(k)) for k in _SPECIAL_COMPLETION
    ):
        _delegate("usage details priced apart")
    cached = _int(prompt_details.get("cached_tokens"))
    return min(cached, _int(usage.get("prompt_tokens")))


def _delegate(why: str) -> Any:
    raise Delegate(why)
