"""Case selection for `run`: by id, tag or clause, a seeded sample, the first N, or the failures of an earlier run.

A selection is recorded in the run's options (`selection`), so `show` states it and `--resume` replays it; it
never changes the suite's hash (the cases run are a subset of one suite version, compared by case id).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError

MAX_LISTED = 30  # valid names an error lists before "and N more": the line stays readable on a big suite


class CaseSelection(BaseModel):
    """Which cases of a plan run. Values of one criterion are alternatives; different criteria all apply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cases: tuple[str, ...] = ()  # a case id selects the case and the attacks made from it
    tags: tuple[str, ...] = ()
    clauses: tuple[str, ...] = ()  # cases that test any of these clauses
    rerun_failed: str | None = None  # a run id: its cases with a failed or errored verdict or a target error
    sample: int | None = Field(default=None, ge=1)  # then this many at random, in suite order
    seed: int = 0  # of the sample
    limit: int | None = Field(default=None, ge=1)  # then the first this many

    @property
    def empty(self) -> bool:
        return not (self.cases or self.tags or self.clauses or self.rerun_failed or self.sample or self.limit)

    def describe(self) -> str:
        """The selection as the `run` options that make it, e.g. `--tag refunds --sample 5 --sample-seed 7`."""
        parts = [f"--case {c}" for c in self.cases] + [f"--tag {t}" for t in self.tags]
        parts += [f"--clause {c}" for c in self.clauses]
        if self.rerun_failed:
            parts.append(f"--rerun-failed {self.rerun_failed}")
        if self.sample:
            parts.append(f"--sample {self.sample} --sample-seed {self.seed}")
        if self.limit:
            parts.append(f"--limit {self.limit}")
        return " ".join(parts)

    def recorded(self) -> dict[str, Any]:
        """What the run's options keep (JSON): only the criteria given."""
        return self.model_dump(mode="json", exclude_defaults=True) | ({"seed": self.seed} if self.sample else {})


def _listing(kind: str, names: Iterable[str]) -> str:
    names = sorted(set(names))
    if not names:
        return f"the suite has no {kind}s"
    shown = ", ".join(names[:MAX_LISTED])
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return f"valid {kind}s: {shown}{more}"


def _require_known(
    flag: str,
    kind: str,
    given: Iterable[str],
    known: Collection[str],
    suite_id: str,
    listed: Collection[str] | None = None,
    note: str = "",
) -> None:
    unknown = [g for g in given if g not in known]
    if unknown:
        raise ConfigError(
            f"{flag} {unknown[0]}: no {kind} {unknown[0]!r} in suite {suite_id}; "
            f"{_listing(kind, known if listed is None else listed)}{note}"
        )


def select(plan: Any, selection: CaseSelection, failed: Collection[str] | None = None) -> Any:
    """The plan with only the selected cases (and their bound checks). `failed`: the case ids
    `--rerun-failed` names (see `Store.failed_case_ids`). Unknown names and an empty result are ConfigErrors."""
    if selection.empty:
        return plan
    suite = plan.suite
    cases = list(suite.cases)
    originals = {c.id for c in cases if c.mutated_from is None}
    attacked = len(originals) < len(cases)  # attacks are selectable by id, but only their originals are listed
    _require_known(
        "--case",
        "case",
        selection.cases,
        {c.id for c in cases},
        suite.id,
        originals,
        " (each with its attacks, ID~MUTATOR)" if attacked else "",
    )
    _require_known("--tag", "tag", selection.tags, {t for c in cases for t in c.tags}, suite.id)
    _require_known("--clause", "clause", selection.clauses, {k for c in cases for k in c.clause_ids}, suite.id)
    if selection.cases:
        wanted = set(selection.cases)
        cases = [c for c in cases if c.id in wanted or c.mutated_from in wanted]
    if selection.tags:
        cases = [c for c in cases if set(c.tags) & set(selection.tags)]
    if selection.clauses:
        cases = [c for c in cases if set(c.clause_ids) & set(selection.clauses)]
    if selection.rerun_failed:
        cases = [c for c in cases if c.id in (failed or ())]
    if selection.sample and selection.sample < len(cases):
        keep = set(random.Random(selection.seed).sample(range(len(cases)), selection.sample))
        cases = [c for i, c in enumerate(cases) if i in keep]
    if selection.limit:
        cases = cases[: selection.limit]
    if not cases:
        why = (
            f"run {selection.rerun_failed} has no failed case left in it"
            if selection.rerun_failed and not failed
            else "no case matches all of it"
        )
        raise ConfigError(f"case selection `{selection.describe()}` selects no case of suite {suite.id}: {why}")
    ids = {c.id for c in cases}
    checks = {key: bound for key, bound in plan.checks.items() if key[0] in ids}
    return replace(plan, suite=suite.model_copy(update={"cases": tuple(cases)}), checks=checks)


def check_rerun_source(run: Mapping[str, Any], suite_id: str) -> None:
    """`--rerun-failed RUN_ID` must name a run of the same suite (case ids mean nothing across suites)."""
    if run["suite_id"] != suite_id:
        raise ConfigError(f"--rerun-failed {run['run_id']}: that run is of suite {run['suite_id']}, not {suite_id}")
