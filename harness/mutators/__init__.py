"""The mutator registry (name -> Mutator) and `mutate()`, which turns one case into one attack on it.

A mutated case is a new Case: id `<original>~<mutator>` (`-k` for the k-th variant, k >= 2), `mutated_from`
the original's id, tags plus `adversarial` and `mut:<name>`, the same clauses and expectations (an attack
must not change what compliance means), and `mutator` / `mutation` recording what was done. Every mutator is
deterministic for a (seed, case, mutator, variant): its only randomness is the `random.Random` seeded from them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.mutators.attacks import MUTATORS as _ATTACKS
from harness.mutators.base import MutationInput, Mutator, NoParams, request_text
from harness.mutators.obfuscation import MUTATORS as _OBFUSCATION
from harness.types import Case, Clause, Pact

MUTATORS: dict[str, Mutator] = {m.name: m for m in [*_ATTACKS, *_OBFUSCATION]}

__all__ = ["MUTATORS", "Mutator", "check_name", "mutate", "mutated_id", "params_for", "request_text"]


def check_name(name: str) -> Mutator:
    try:
        return MUTATORS[name]
    except KeyError:
        raise ConfigError(f"unknown mutator {name!r}; valid mutators: {', '.join(MUTATORS)}") from None


def params_for(name: str, raw: dict[str, Any] | None) -> NoParams:
    """A mutator's parameters, validated; errors are one line naming the mutator and the parameter."""
    mutator = check_name(name)
    try:
        return mutator.params.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        known = ", ".join(mutator.params.model_fields) or "none"
        msg = f"unknown parameter {loc!r} (parameters: {known})" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(
            f"mutator {name!r}: " + (f"{loc}: " if loc and err["type"] != "extra_forbidden" else "") + msg
        ) from None


def mutated_id(case_id: str, name: str, variant: int = 1) -> str:
    return f"{case_id}~{name}" + (f"-{variant}" if variant > 1 else "")


def mutate(
    case: Case,
    name: str,
    *,
    seed: int = 0,
    params: dict[str, Any] | NoParams | None = None,
    targets: Iterable[Clause] = (),
    pact: Pact | None = None,
    variant: int = 1,
) -> Case:
    """One attack on `case`. `targets` are the clauses it is aimed at (default: the case's clauses in `pact`)."""
    from harness.pact import content_hash

    mutator = check_name(name)
    p = params if isinstance(params, NoParams) else params_for(name, params)
    aimed = tuple(targets) or (
        tuple(pact.clause(c) for c in case.clause_ids if c in {x.id for x in pact.clauses}) if pact is not None else ()
    )
    rng = random.Random(f"pactjury-mutate:{seed}:{case.id}:{name}:{variant}")
    out = mutator.fn(MutationInput(case=case, rng=rng, params=p, targets=aimed, pact=pact))
    detail = {
        "seed": seed,
        "variant": variant,
        "params": p.model_dump(mode="json"),
        "targets": [c.id for c in aimed],
        **out.detail,
    }
    fields: dict[str, Any] = dict(
        id=mutated_id(case.id, name, variant),
        suite_id=case.suite_id,
        clause_ids=case.clause_ids,
        input=out.input,
        system=case.system,
        context=out.context,
        expected=case.expected,
        tags=tuple(dict.fromkeys((*case.tags, "adversarial", f"mut:{name}"))),
        mutated_from=case.id,
        mutator=name,
        mutation=detail,
    )
    draft = Case.model_validate(fields)
    digest = content_hash(draft.model_dump(mode="json", exclude={"tags", "hash"}))
    return draft.model_copy(update={"hash": digest})
