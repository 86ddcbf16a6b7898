"""Prompt-prefix reuse for the embedded model: KV-cache snapshots taken at message boundaries."""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_BUDGET_MB = 256  # Gemma 3 270M keeps ~18 KiB of KV cache per token: a 500-token prefix is ~9 MiB


def _key(tokens: Sequence[int]) -> str:
    return hashlib.sha256(b"".join(t.to_bytes(4, "little", signed=True) for t in tokens)).hexdigest()


@dataclass
class _Entry:
    tokens: tuple[int, ...]
    state: ctypes.Array


class PrefixCache:
    """Snapshots of sequence 0's KV cache after whole messages, least recently used evicted first.

    A prompt is evaluated message by message (see tokenize_segments); a snapshot is taken after every
    message but the last. A later call whose first messages tokenize the same restores the longest such
    prefix and evaluates only the rest. Because the cold path evaluates the same pieces in the same order,
    a restored prefix holds exactly the state that evaluating it afresh would, and results do not depend
    on what ran before. The few-shot system prompt of a classifier target is the case this is for.
    """

    def __init__(self, budget_bytes: int | None = None):
        mb = os.environ.get("PACTJURY_LOCAL_PREFIX_CACHE_MB", "")
        self.budget = (
            budget_bytes if budget_bytes is not None else (int(mb) << 20 if mb.isdigit() else DEFAULT_BUDGET_MB << 20)
        )
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.size = 0  # bytes held
        self.hits = self.misses = 0
        self.reused_tokens = 0

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def _drop(self, key: str) -> None:
        if (entry := self._entries.pop(key, None)) is not None:
            self.size -= len(entry.state)

    def prepare(self, llm: Any, segments: Sequence[Sequence[int]]) -> int:
        """Load the longest cached prefix of whole segments (never all of them: the last is always
        evaluated, which leaves its logits) and return how many segments it covers; 0 leaves an empty cache."""
        from llama_cpp import llama_cpp as lib

        prefix: list[int] = []
        best, best_n = None, 0
        for n, seg in enumerate(segments[:-1], start=1):
            prefix.extend(seg)
            entry = self._entries.get(_key(prefix))
            if entry is not None and entry.tokens == tuple(prefix):
                best, best_n = entry, n
        llm.n_tokens = 0
        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        if best is None or self.budget <= 0:
            self.misses += 1
            return 0
        if not lib.llama_state_seq_set_data(llm.ctx, best.state, len(best.state), 0):
            self._drop(_key(best.tokens))  # a snapshot the context refuses: evaluate afresh
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            self.misses += 1
            return 0
        n = len(best.tokens)
        llm.input_ids[:n] = best.tokens
        llm.n_tokens = n
        self._entries.move_to_end(_key(best.tokens))
        self.hits += 1
        self.reused_tokens += n
        return best_n

    def remember(self, llm: Any) -> None:
        """Snapshot the context as it stands (the tokens evaluated so far), unless already held."""
        from llama_cpp import llama_cpp as lib

        tokens = tuple(int(t) for t in llm.input_ids[: llm.n_tokens])
        key = _key(tokens)
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        size = lib.llama_state_seq_get_size(llm.ctx, 0)
        if size <= 0 or size > self.budget:
            return
        state = (ctypes.c_uint8 * size)()
        if lib.llama_state_seq_get_data(llm.ctx, state, size, 0) != size:
            return
        self._entries[key] = _Entry(tokens, state)
        self.size += size
        while self.size > self.budget:
            self._drop(next(iter(self._entries)))
