"""What every mutator shares: its input, its result, its parameters, and the request text it rewrites."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ConfigDict

from harness.types import Case, Clause, ContextDoc, Message, Pact

CaseInput = Union[str, tuple[Message, ...]]


class NoParams(BaseModel):
    """Base of every mutator's parameters: frozen, and unknown names are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class MutationInput:
    case: Case
    rng: random.Random  # seeded from (seed, case id, mutator, variant): the only source of randomness
    params: Any  # the mutator's validated parameters (a NoParams subclass)
    targets: tuple[Clause, ...]  # the clauses the attack is aimed at; may be empty (no pact at hand)
    pact: Pact | None = None


@dataclass(frozen=True)
class Mutated:
    input: CaseInput
    context: tuple[ContextDoc, ...]
    detail: dict[str, Any]  # JSON-serialisable record of what was done, stored with the case


MutateFn = Callable[[MutationInput], Mutated]


@dataclass(frozen=True)
class Mutator:
    name: str
    summary: str
    fn: MutateFn
    params: type[NoParams] = NoParams


# ---------------------------------------------------------------- the request text


def request_text(case: Case) -> tuple[str, str]:
    """The text an attack rewrites and where it is: the plain input, or the last user turn of a chat."""
    if isinstance(case.input, str):
        return case.input, "input"
    for i in range(len(case.input) - 1, -1, -1):
        if case.input[i].role == "user":
            return case.input[i].content, f"input[{i}].content"
    return "", "input"


def with_request(case: Case, text: str) -> CaseInput:
    """The case's input with its request text replaced (the rest of a chat kept as it was)."""
    if isinstance(case.input, str):
        return text
    msgs = list(case.input)
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].role == "user":
            msgs[i] = Message(role="user", content=text)
            return tuple(msgs)
    return tuple(msgs) + (Message(role="user", content=text),)


def rewrite(inp: MutationInput, text: str, detail: dict[str, Any]) -> Mutated:
    """A mutation that only rewrites the request text."""
    _, where = request_text(inp.case)
    return Mutated(input=with_request(inp.case, text), context=inp.case.context, detail={"field": where, **detail})


def pick(rng: random.Random, options: list[str] | tuple[str, ...]) -> tuple[int, str]:
    i = rng.randrange(len(options))
    return i, options[i]
