"""Model families and vendors read from model strings: which judges share the target's family (bias controls)."""

from __future__ import annotations

import re

_FAMILIES = (  # (family, pattern searched in the model name's last path segment)
    ("gpt", r"gpt|davinci|^o\d(?:-|$)"),
    ("claude", r"claude"),
    ("gemini", r"gemini"),
    ("gemma", r"gemma"),
    ("llama", r"llama"),
    ("mistral", r"mistral|mixtral|codestral|ministral|pixtral|magistral|devstral"),
    ("qwen", r"qwen|qwq"),
    ("deepseek", r"deepseek"),
    ("phi", r"^phi"),
    ("command", r"command|^c4ai"),
    ("grok", r"grok"),
    ("nova", r"\bnova"),
)
_VENDORS = {
    "gpt": "openai",
    "claude": "anthropic",
    "gemini": "google",
    "gemma": "google",
    "llama": "meta",
    "mistral": "mistral",
    "qwen": "alibaba",
    "deepseek": "deepseek",
    "phi": "microsoft",
    "command": "cohere",
    "grok": "xai",
    "nova": "amazon",
}
# A first-party API prefix names the vendor of a model name we do not know. Not `openai/`: that prefix
# routes to any OpenAI-compatible server (vLLM, llama.cpp, our own) whatever model it serves.
_PROVIDER_VENDORS = {
    "anthropic": "anthropic",
    "gemini": "google",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "xai": "xai",
}


def model_family(model: str) -> str:
    """The family guessed from a litellm model string (gpt, claude, gemini, gemma, llama, ...); an unknown
    name gives the leading letters of its last path segment."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    hits = [(m.start(), family) for family, pattern in _FAMILIES if (m := re.search(pattern, name))]
    if hits:
        return min(hits)[1]  # the earliest mention: deepseek-r1-distill-llama is deepseek's
    lead = re.match(r"[a-z]+", name)
    return lead[0] if lead else "unknown"


def model_vendor(model: str) -> str:
    """Who trained it (openai, anthropic, google, meta, ...): the unit of the same-family bias control, since
    sibling families (gemini, gemma) share data and house style. Takes a model string, family or vendor name."""
    family = model_family(model)
    provider = model.strip().lower().split("/", 1)[0] if "/" in model else ""
    return _VENDORS.get(family) or _PROVIDER_VENDORS.get(provider, family)
