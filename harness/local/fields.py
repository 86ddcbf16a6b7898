"""Schema-guided JSON for flat objects on the embedded model: fixed text read in one batch, enum and boolean
values chosen from their log-probabilities (optionally calibrated), free strings generated under a grammar."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .prompt import _Grammar, _last_logprobs, _logits, _pick

_SCALARS = (str, int, float, bool)
_STRING_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'


@dataclass(frozen=True)
class Field:
    name: str
    options: tuple[Any, ...] = ()  # enum values (booleans: true, false); empty for a free string
    max_length: int | None = None  # free strings only


def flat_fields(schema: dict[str, Any] | None) -> list[Field] | None:
    """The fields of a schema this path can write exactly: an object whose properties are all enums of
    scalars, booleans or strings with at most a maxLength, written in the schema's order (every property,
    so `required` is met whatever it lists). None for anything else, which takes the general grammar path."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not schema.get("properties"):
        return None
    if set(schema) - {"type", "properties", "required", "additionalProperties", "title", "description", "$schema"}:
        return None
    fields = []
    for name, prop in schema["properties"].items():
        if not name:
            return None  # "" is where write() reports its choices
        extra = set(prop) - {"type", "enum", "maxLength", "title", "description"}
        enum = prop.get("enum")
        if extra or not isinstance(prop, dict):
            return None
        if enum is not None:
            if not enum or not all(isinstance(v, _SCALARS) for v in enum) or "maxLength" in prop:
                return None
            fields.append(Field(name, tuple(enum)))
        elif prop.get("type") == "boolean":
            fields.append(Field(name, (True, False)))
        elif prop.get("type") == "string":
            fields.append(Field(name, max_length=prop.get("maxLength")))
        else:
            return None
    return fields


@dataclass
class Writer:
    """Writes one flat object into the context, which must end at the prompt's last token (logits ready).

    `feed(tokens)` evaluates tokens; `logprobs()` gives the last position's log-softmax; `rewind(n)` drops
    the context back to n tokens; `tokenize(text)`; `string_tokens(cap)` generates a JSON string body and
    its closing quote (or stops at the budget) and returns (tokens, text, finished)."""

    feed: Callable[[list[int]], None]
    logprobs: Callable[[], np.ndarray]
    rewind: Callable[[int], None]
    position: Callable[[], int]
    tokenize: Callable[[str], list[int]]
    string_tokens: Callable[[int], tuple[list[int], str, bool]]
    temperature: float
    rng: np.random.Generator
    deadline: float = math.inf
    cancel: threading.Event | None = None

    def choose(self, options: Sequence[Any], baseline: dict[str, float] | None = None) -> tuple[Any, dict[str, float]]:
        """One of `options` and the distribution it was drawn from. An option's probability is the product
        of its tokens' probabilities where the options branch (a token shared by every remaining option is
        forced, as under a grammar), normalised over the options; with a baseline, divided by it and
        renormalised (contextual calibration, Zhao et al. 2021, "Calibrate Before Use")."""
        seqs = [self.tokenize(json.dumps(v)) for v in options]
        probs = self._branch(seqs, list(range(len(seqs))), 0)
        keys = [json.dumps(v) for v in options]
        dist = {k: probs[i] for i, k in enumerate(keys)}
        if baseline:
            dist = {k: p / max(baseline.get(k, 1.0), 1e-9) for k, p in dist.items()}
            total = sum(dist.values())
            dist = {k: p / total for k, p in dist.items()}
        if self.temperature <= 0:
            pick = max(range(len(keys)), key=lambda i: dist[keys[i]])
        else:
            w = np.array([dist[k] for k in keys]) ** (1.0 / self.temperature)
            pick = int(self.rng.choice(len(keys), p=w / w.sum()))
        self.feed(seqs[pick])
        return options[pick], dist

    def _branch(self, seqs: list[list[int]], idx: list[int], depth: int) -> dict[int, float]:
        """Probabilities of the options `idx`, which share their first `depth` tokens (already in context)."""
        if len(idx) == 1:
            return {idx[0]: 1.0}
        groups: dict[int, list[int]] = {}
        for i in idx:
            if depth >= len(seqs[i]):  # an option that is a prefix of another ends here: its own group
                groups.setdefault(-1 - i, []).append(i)
            else:
                groups.setdefault(seqs[i][depth], []).append(i)
        if len(groups) == 1:
            ((token, members),) = groups.items()
            self.feed([token])
            single = self._branch(seqs, members, depth + 1)
            self.rewind(self.position() - 1)
            return single
        lp = self.logprobs()
        # An option that ends here competes with what follows the shared prefix: it gets the mass of the
        # model's likeliest non-continuing token, an approximation the flat schemas we accept never need.
        weights = {t: math.exp(float(lp[t])) if t >= 0 else math.exp(float(np.max(lp))) for t in groups}
        total = sum(weights.values())
        out: dict[int, float] = {}
        for token, members in groups.items():
            share = weights[token] / total
            if len(members) == 1:
                out[members[0]] = share
                continue
            self.feed([token])
            for i, p in self._branch(seqs, members, depth + 1).items():
                out[i] = share * p
            self.rewind(self.position() - 1)
        return out

    def write(
        self, fields: Sequence[Field], budget: int, baselines: dict[str, dict[str, float]] | None = None
    ) -> tuple[str, int, str, dict[str, dict[str, Any]]]:
        """(JSON text, tokens written, finish reason, each enum field's distribution and, under "", the
        choices made). `baselines` is such a result for a content-free input."""
        start, finish = self.position(), "stop"
        parts: list[str] = []
        dists: dict[str, dict[str, Any]] = {}  # enum distributions (floats) and, under "", the choices (strings)
        chosen: dict[str, str] = {}
        same = True
        for i, field in enumerate(fields):
            self._check()
            key = (" {" if i == 0 else ", ") + json.dumps(field.name) + ": "  # " {": as after "Assistant:"
            parts.append(key.lstrip())
            if field.options:
                self.feed(self.tokenize(key))
                # A baseline holds for a field only while every earlier choice equals the content-free one: a
                # field that depends on an earlier answer (a route on its category) is not calibrated against
                # the distribution that followed a different answer.
                base = (baselines or {}).get(field.name) if same else None
                value, dists[field.name] = self.choose(field.options, base)
                chosen[field.name] = json.dumps(value)
                same = same and chosen[field.name] == (baselines or {}).get("", {}).get(field.name)
                parts.append(json.dumps(value))
                continue
            self.feed(self.tokenize(key + '"'))
            used = self.position() - start
            room = max(0, budget - used - 2 * (len(fields) - i))
            cap = room if field.max_length is None else min(field.max_length, room)
            tokens, text, finished = self.string_tokens(cap)
            parts.append('"' + text + '"')
            if not finished:
                finish = "length"
        parts.append("}")
        dists[""] = chosen  # the choices themselves, under the empty name no property can have
        return "".join(parts), self.position() - start, finish, dists

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("local model call exceeded its timeout")
        if self.cancel is not None and self.cancel.is_set():
            raise InterruptedError("cancelled")


def string_grammar(cap: int) -> str:
    """GBNF for a JSON string's body (at most `cap` characters) and its closing quote."""
    return f'root ::= char{{0,{max(0, cap)}}} "\\""\n{_STRING_CHAR}\n'


def _closes(body: str) -> bool:
    try:
        json.loads('"' + body)
        return True
    except ValueError:
        return False


def make_writer(
    llm: Any, temperature: float, rng: np.random.Generator, deadline: float, cancel: threading.Event | None
) -> Writer:
    from llama_cpp import llama_cpp as lib

    def string_tokens(cap: int) -> tuple[list[int], str, bool]:
        grammar = _Grammar(llm, string_grammar(cap))
        out: list[int] = []
        try:
            while len(out) <= cap:
                if time.monotonic() > deadline or (cancel is not None and cancel.is_set()):
                    break
                logits = _logits(llm)
                token = _pick(logits, temperature, rng)
                if not grammar.allows(token):
                    token = _pick(grammar.mask(logits), temperature, rng)
                lib.llama_sampler_accept(grammar.ptr, token)
                out.append(token)
                llm.eval([token])
                body = llm.detokenize(out).decode("utf-8", errors="ignore")
                if body.endswith('"') and _closes(body):  # the grammar allows a bare quote only at the end
                    return out, body[:-1], True
        finally:
            lib.llama_sampler_free(grammar.ptr)
        body = llm.detokenize(out).decode("utf-8", errors="ignore")
        while body:  # cut short: drop a half-written escape so the string still parses
            try:
                json.loads('"' + body + '"')
                break
            except ValueError:
                body = body[:-1]
        return out, body, False

    def rewind(n: int) -> None:
        llm.n_tokens = n  # the next eval drops the KV cache beyond it

    return Writer(
        feed=lambda toks: llm.eval(toks) if toks else None,
        logprobs=lambda: _last_logprobs(llm),
        rewind=rewind,
        position=lambda: llm.n_tokens,
        tokenize=lambda text: llm.tokenize(text.encode("utf-8"), add_bos=False, special=False),
        string_tokens=string_tokens,
        temperature=temperature,
        rng=rng,
        deadline=deadline,
        cancel=cancel,
    )
