"""Adversarial suites: the `adversarial:` block of suite.yaml and `run --mutate`, turning cases into attacks.

    adversarial:
      seed: 7                      # optional (default 0): the same seed gives the same attacks
      variants: 1                  # optional (default 1): attacks per case and mutator, ids <case>~<m>-2, -3 ...
      mutators:                    # clause id (or "*" for every clause) -> the mutators aimed at it
        no-customer-pii: [pii-bait, authority, base64]
        "*": [typos]
      params:                      # optional: parameters per mutator
        padding: {target_chars: 6000}

`mutators` may also be a plain list, aimed at every clause. A case gets each mutator selected by any clause it
tests, once, aimed at the clauses that selected it. The originals stay in the suite, unchanged, and run too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from harness.errors import ConfigError
from harness.mutators import MUTATORS, check_name, mutate, mutated_id, params_for
from harness.mutators.base import NoParams
from harness.types import Case, Clause, Pact

BLOCK_KEYS = ("seed", "variants", "mutators", "params")
EVERY = "*"


@dataclass(frozen=True)
class Selection:
    """Which mutators are aimed at which clauses, with their parameters."""

    seed: int = 0
    variants: int = 1
    by_clause: dict[str, tuple[str, ...]] = field(default_factory=dict)  # clause id or "*" -> mutator names
    params: dict[str, NoParams] = field(default_factory=dict)

    def for_case(self, case: Case) -> dict[str, list[str]]:
        """mutator -> the clauses of `case` that aim it (in selection order)."""
        out: dict[str, list[str]] = {}
        for clause_id, names in self.by_clause.items():
            aimed = list(case.clause_ids) if clause_id == EVERY else [clause_id] if clause_id in case.clause_ids else []
            for name in names:
                for c in aimed:
                    if c not in out.setdefault(name, []):
                        out[name].append(c)
        return {name: clauses for name, clauses in out.items() if clauses}


# ---------------------------------------------------------------- the suite.yaml block


def parse_block(doc: Any, pact: Pact) -> Selection:
    """Validate `adversarial:` of a suite document; errors name the file, line and field."""
    raw = doc.data.get("adversarial")
    where: tuple[Any, ...] = ("adversarial",)
    if not isinstance(raw, dict):
        raise doc.error(where, "adversarial must be a mapping with mutators (and optionally seed, variants, params)")
    for key in raw:
        if key not in BLOCK_KEYS:
            raise doc.error(where + (key,), f"unknown field {key!r}; valid fields: {', '.join(BLOCK_KEYS)}")
    seed, variants = raw.get("seed", 0), raw.get("variants", 1)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise doc.error(where + ("seed",), f"seed must be an integer (got {seed!r})")
    if not isinstance(variants, int) or isinstance(variants, bool) or not 1 <= variants <= 20:
        raise doc.error(where + ("variants",), f"variants must be an integer from 1 to 20 (got {variants!r})")
    if "mutators" not in raw:
        raise doc.error(where, "missing required field 'mutators'")
    mutators = raw["mutators"]
    known = [c.id for c in pact.clauses]
    by_clause: dict[str, tuple[str, ...]] = {}
    if isinstance(mutators, list):
        by_clause[EVERY] = _names(doc, where + ("mutators",), mutators)
    elif isinstance(mutators, dict) and mutators:
        for clause_id, names in mutators.items():
            loc = where + ("mutators", clause_id)
            if clause_id != EVERY and clause_id not in known:
                raise doc.error(
                    loc,
                    f"unknown clause {clause_id!r}; pact {pact.id} has: {', '.join(known)} "
                    f"(or {EVERY!r} for every clause)",
                )
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list):
                raise doc.error(loc, "expected a list of mutator names")
            by_clause[str(clause_id)] = _names(doc, loc, names)
    else:
        raise doc.error(
            where + ("mutators",),
            "mutators must be a list of mutator names or a mapping of clause id -> list of mutator names",
        )
    params: dict[str, NoParams] = {}
    raw_params = raw.get("params") or {}
    if not isinstance(raw_params, dict):
        raise doc.error(where + ("params",), "params must be a mapping of mutator name -> parameters")
    for name, values in raw_params.items():
        loc = where + ("params", name)
        if values is not None and not isinstance(values, dict):
            raise doc.error(loc, "expected a mapping of parameter names to values")
        try:
            params[name] = params_for(name, values)
        except ConfigError as exc:
            raise doc.error(loc, str(exc)) from None
    return Selection(seed=seed, variants=variants, by_clause=by_clause, params=params)


def _names(doc: Any, loc: tuple[Any, ...], names: list[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for i, name in enumerate(names):
        try:
            check_name(name if isinstance(name, str) else repr(name))
        except ConfigError as exc:
            raise doc.error(loc + (i,), str(exc)) from None
        if name not in out:
            out.append(name)
    return tuple(out)


# ---------------------------------------------------------------- expansion


def attacks(cases: Iterable[Case], selection: Selection, pact: Pact) -> list[Case]:
    """The mutated cases a selection makes of `cases` (originals only), in case then selection order."""
    clauses = {c.id: c for c in pact.clauses}
    out: list[Case] = []
    for case in cases:
        if case.mutated_from is not None:
            continue  # no attacks on attacks
        for name, aimed in selection.for_case(case).items():
            targets: tuple[Clause, ...] = tuple(clauses[c] for c in aimed if c in clauses)
            for variant in range(1, selection.variants + 1):
                out.append(
                    mutate(
                        case,
                        name,
                        seed=selection.seed,
                        params=selection.params.get(name),
                        targets=targets,
                        pact=pact,
                        variant=variant,
                    )
                )
    return out


def extend_plan(plan: Any, mutated: list[Case], suite_hash: str | None = None, doc: Any = None) -> Any:
    """The plan with `mutated` cases appended; each reuses its original's bound checks (same expectations)."""
    ids = {c.id for c in plan.suite.cases}
    checks = dict(plan.checks)
    new: list[Case] = []
    for case in mutated:
        if case.id in ids:
            message = f"mutated case id {case.id!r} is already a case of suite {plan.suite.id}"
            raise doc.error(("adversarial",), message) if doc is not None else ConfigError(message)
        ids.add(case.id)
        new.append(case)
        for clause_id in case.clause_ids:
            checks[(case.id, clause_id)] = plan.checks[(case.mutated_from, clause_id)]
    suite = plan.suite.model_copy(
        update={"cases": plan.suite.cases + tuple(new), **({"hash": suite_hash} if suite_hash else {})}
    )
    return replace(plan, suite=suite, checks=checks)


def apply_block(plan: Any, doc: Any) -> Any:
    """load_plan's hook: expand the suite's `adversarial:` block (the block is part of the suite's hash)."""
    selection = parse_block(doc, plan.pact)
    mutated = attacks(plan.suite.cases, selection, plan.pact)
    plan = extend_plan(plan, mutated, doc=doc)
    tested = {c for case in plan.suite.cases for c in case.clause_ids}
    idle = [c for c in selection.by_clause if c != EVERY and c not in tested]
    if idle:
        warnings = tuple(f"{doc.path}: adversarial: clause {c!r} selects mutators but no case tests it" for c in idle)
        plan = replace(plan, warnings=plan.warnings + warnings)
    return plan


def parse_mutate_option(text: str) -> tuple[str, ...]:
    """`--mutate base64,typos` -> names; an unknown name is a one-line error listing the valid ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--mutate: give one or more mutator names; valid mutators: {', '.join(MUTATORS)}")
    for name in names:
        try:
            check_name(name)
        except ConfigError as exc:
            raise ConfigError(f"--mutate: {exc}") from None
    return tuple(dict.fromkeys(names))


def mutate_plan(plan: Any, names: Iterable[str], seed: int = 0) -> Any:
    """`run --mutate`: every original case also attacked by each named mutator, aimed at all its clauses.

    Attacks the suite's own block already made (same id) are not made twice. The plan's suite hash becomes
    that of (suite, mutators, seed), so a run with --mutate is never comparable by hash to one without.
    """
    from harness.pact import content_hash

    names = tuple(names)
    selection = Selection(seed=seed, by_clause={EVERY: names})
    have = {c.id for c in plan.suite.cases}
    mutated = [c for c in attacks(plan.suite.cases, selection, plan.pact) if c.id not in have]
    digest = content_hash({"suite": plan.suite.hash, "mutate": list(names), "seed": seed})
    return extend_plan(plan, mutated, suite_hash=digest)


def mutator_table() -> list[dict[str, Any]]:
    return [dict(name=m.name, summary=m.summary, params=list(m.params.model_fields)) for m in MUTATORS.values()]


__all__ = [
    "Selection",
    "apply_block",
    "attacks",
    "extend_plan",
    "mutate_plan",
    "mutated_id",
    "mutator_table",
    "parse_block",
    "parse_mutate_option",
]
