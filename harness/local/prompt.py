"""Prompts, output grammars and sampling for the embedded model: chat messages as a base-model transcript,
JSON schemas as llama.cpp grammars, tokens drawn from logits."""

from __future__ import annotations

import ctypes
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Gemma 3 270M's GGUF carries no chat template, and Gemma's turn markup (<start_of_turn>user ...) made this
# base model echo the question and drift into other languages, while a plain "System: / User: / Assistant:"
# transcript gave coherent continuations: messages are rendered as that.
_ROLES = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
TURN_STOPS = ("\nUser:", "\nSystem:", "\nAssistant:", "\nTool:")  # a base model writes the next turns too


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else "" if content is None else str(content)


def render_segments(messages: Sequence[dict[str, Any]], tail: str = "") -> list[str]:
    """Chat messages as a plain transcript, one piece per message, the last ending with an open assistant
    turn (and `tail`, what the assistant is made to have begun with). Joined, the pieces are the prompt."""
    turns = [f"{_ROLES.get(str(m.get('role')), 'User')}: {_text(m.get('content')).strip()}" for m in messages]
    pieces = [turn if i == 0 else "\n\n" + turn for i, turn in enumerate(turns)]
    end = "Assistant:" + tail
    return [*pieces[:-1], pieces[-1] + "\n\n" + end] if pieces else [end]


def render_prompt(messages: Sequence[dict[str, Any]]) -> str:
    """Chat messages as one plain transcript ending with an open assistant turn."""
    return "".join(render_segments(messages))


def tokenize_segments(llm: Any, pieces: Sequence[str], room: int = 1) -> list[list[int]]:
    """Each piece tokenized on its own (the first after BOS), never with special tokens, so no message can
    smuggle control tokens in. Piece by piece, a message's tokens do not depend on the messages after it,
    which is what lets a prefix of messages be cached."""
    segments = [llm.tokenize(p.encode("utf-8"), add_bos=i == 0, special=False) for i, p in enumerate(pieces)]
    total = sum(map(len, segments))
    if total + room > llm.n_ctx():
        raise ValueError(
            f"prompt of {total} tokens does not fit the local model's context of {llm.n_ctx()} "
            "tokens (set PACTJURY_LOCAL_CTX)"
        )
    return [s for s in segments if s]


def _schema_of(response_format: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
    """(constrain to JSON?, the schema if one was given) for an OpenAI or llama.cpp style response_format."""
    kind = (response_format or {}).get("type") or "text"
    if kind == "text":
        return False, None
    if kind not in ("json_schema", "json_object"):
        raise ValueError(f"unsupported response_format type {kind!r} (text, json_object or json_schema)")
    fmt = response_format or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if kind == "json_schema" else fmt.get("schema")
    if kind == "json_schema" and not isinstance(schema, dict):
        raise ValueError("response_format json_schema needs a 'schema' object")
    return True, schema if isinstance(schema, dict) else None


def _free_strings(node: Any) -> int:
    """How many string values of unbounded length the schema has (the ones that could eat the token budget)."""
    if isinstance(node, dict):
        own = int(node.get("type") == "string" and not {"enum", "const", "maxLength", "pattern"} & node.keys())
        return own + sum(_free_strings(v) for k, v in node.items() if k not in ("enum", "const"))
    return sum(_free_strings(v) for v in node) if isinstance(node, list) else 0


def grammar_for(llm: Any, schema: dict[str, Any] | None, max_tokens: int) -> str:
    """GBNF for the schema (any JSON when None). Unbounded strings get a length cap that fits the token
    budget, so a rambling model still closes its JSON; strings never hold raw control characters."""
    from llama_cpp import llama_grammar

    if schema is None:
        return llama_grammar.JSON_GBNF
    try:
        gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # the converter raises assorted errors for what it cannot express
        raise ValueError(f"response_format schema not supported by the local model: {exc}") from exc
    # llama-cpp-python's converter lets raw newlines into strings, which json.loads rejects.
    gbnf = gbnf.replace('char ::= [^"\\\\] |', 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |')
    if slots := _free_strings(schema):
        overhead = len(llm.tokenize(json.dumps(schema).encode(), add_bos=False)) // 2 + 8  # keys, quotes, enums
        cap = max(8, (max_tokens - overhead) // slots)  # a character costs at most about one token
        gbnf = gbnf.replace('"\\"" char* "\\""', f'"\\"" char{{0,{cap}}} "\\""')
    return gbnf


class _Grammar:
    """A llama.cpp grammar sampler used as a filter: check the drawn token alone (cheap), and mask the whole
    262k-token vocabulary only when that token is not allowed (as llama.cpp's own common sampler does)."""

    def __init__(self, llm: Any, gbnf: str):
        from llama_cpp import llama_cpp as lib

        self.lib = lib
        self.ptr = lib.llama_sampler_init_grammar(lib.llama_model_get_vocab(llm.model), gbnf.encode(), b"root")
        if not self.ptr:
            raise ValueError("response_format schema could not be turned into a grammar")
        dtype = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        self.all, self.one = np.zeros(llm.n_vocab(), dtype=dtype), np.zeros(1, dtype=dtype)
        self.all["id"] = np.arange(llm.n_vocab())

    def _apply(self, arr: np.ndarray) -> np.ndarray:
        cur = self.lib.llama_token_data_array(
            data=arr.ctypes.data_as(self.lib.llama_token_data_p), size=arr.size, selected=-1, sorted=False
        )
        self.lib.llama_sampler_apply(self.ptr, ctypes.byref(cur))
        return arr["logit"]

    def allows(self, token: int) -> bool:
        self.one[0] = (token, 0.0, 0.0)
        return bool(np.isfinite(self._apply(self.one)[0]))

    def mask(self, logits: np.ndarray) -> np.ndarray:
        self.all["logit"] = logits
        return self._apply(self.all)


# ---------------------------------------------------------------- sampling


def _logits(llm: Any) -> np.ndarray:
    """The last position's logits (a view into llama.cpp's buffer, valid until the next decode)."""
    from llama_cpp import llama_cpp as lib

    return np.ctypeslib.as_array(lib.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))


def _pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else a draw from softmax(logits / T) (masked logits are -inf: never drawn)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    cum = np.cumsum(np.exp(z - z.max()))
    return min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), cum.size - 1)


def _last_logprobs(llm: Any) -> np.ndarray:
    logits = _logits(llm).astype(np.float64)
    return logits - (logits.max() + math.log(float(np.exp(logits - logits.max()).sum())))
