"""A panel of judges on one (case, clause): loading panel files, concurrency limits, cache, bias controls, adaptive stop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import ConfigError
from harness.types import Ballot, Case, Clause, JudgeSpec, PanelSpec, Transcript, Vote

PANELS_DIR = Path("judges/panels")
BUILTIN_RUBRICS = Path(__file__).resolve().parents[2] / "judges" / "rubrics"

# cache_key -> a stored vote with that identity (looked up in the store, see pipeline.py)
CacheLookup = Callable[[list[str]], Awaitable[dict[str, Vote]]]


def panel_path(ref: str | Path) -> Path:
    """A panel file path, or a panel id looked up as judges/panels/<id>.yaml."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return PANELS_DIR / f"{ref}.yaml"


def load_panel(ref: str | Path, rubrics_dir: Path | None = None) -> tuple[PanelSpec, Any]:
    """Validate a panel file and render each of its rubrics once; returns the spec and its rubric library."""
    from harness.jury.aggregate import METHODS
    from harness.jury.judge import RubricLibrary
    from harness.pact import content_hash, pydantic_error
    from harness.secrets import scrub
    from harness.yamlio import load_yaml

    path = panel_path(ref)
    if not path.exists():
        known = sorted(p.stem for p in PANELS_DIR.glob("*.yaml")) if PANELS_DIR.is_dir() else []
        raise ConfigError(f"no panel file {path}" + (f"; panels in {PANELS_DIR}: {', '.join(known)}" if known else ""))
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a panel must be a mapping with id and judges")
    texts = {}
    data = dict(doc.data)
    try:
        spec = PanelSpec.model_validate({**data, "hash": ""})
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    if spec.method not in METHODS:
        raise doc.error(("method",), f"unknown aggregation method {spec.method!r}; valid: {', '.join(METHODS)}")
    n_votes = sum(j.samples for j in spec.judges)
    if spec.quorum is not None and not 1 <= spec.quorum <= n_votes:
        # A quorum no ballot can reach makes every verdict inconclusive: a silent no-op jury.
        raise doc.error(
            ("quorum",),
            f"quorum {spec.quorum} must be between 1 and the panel's {n_votes} votes "
            f"({len(spec.judges)} judges, counting samples)",
        )
    rubrics = RubricLibrary(rubrics_dir or _rubrics_dir(path, {j.rubric for j in spec.judges}))
    names = [j.name for j in spec.judges]
    for i, judge in enumerate(spec.judges):
        if names.index(judge.name) != i:
            raise doc.error(("judges", i, "name"), f"duplicate judge name {judge.name!r}")
        try:
            texts[judge.rubric] = rubrics.validate(judge.rubric)
        except ConfigError as exc:
            raise doc.error(("judges", i, "rubric"), str(exc)) from None
    # The rubric text is part of the panel's identity: an edited rubric is a new panel version. Credentials
    # (an api_base's password or ?key=) are not: the hash is of the scrubbed file, so it leaks nothing.
    spec = spec.model_copy(update={"hash": content_hash({"panel": scrub(doc.data), "rubrics": texts})})
    return spec, rubrics


def _rubrics_dir(panel_file: Path, needed: set[str]) -> Path:
    """judges/rubrics beside the panel's judges/panels when it has every rubric needed, else the built-in ones."""
    local = panel_file.resolve().parent.parent / "rubrics"
    if local.is_dir() and all((local / f"{name}.j2").exists() for name in needed):
        return local
    return BUILTIN_RUBRICS if BUILTIN_RUBRICS.is_dir() else local


def quorum(panel: PanelSpec, n_votes: int) -> int:
    """The panel's quorum, by default a strict majority of its votes: n // 2 + 1 (2 of 2, 2 of 3, 3 of 4)."""
    return panel.quorum if panel.quorum is not None else n_votes // 2 + 1


def aggregate_options(panel: PanelSpec, judges: tuple[JudgeSpec, ...] | None = None) -> Any:
    from harness.jury.aggregate import AggregateOptions

    judges = judges or panel.judges
    n_votes = sum(j.samples for j in judges)
    return AggregateOptions(
        weights={j.name: j.weight for j in judges},
        quorum=quorum(panel, n_votes),
        tie=panel.tie,
        fraction=panel.fraction,
        pass_mark=panel.pass_mark,
    )


def audited(panel: PanelSpec, case_id: str, clause_id: str) -> bool:
    """Whether every judge is asked on this ballot whatever the first votes say: always for a panel that is not
    adaptive; for an adaptive one, a fixed draw at `audit_rate` (the same on a rerun or resume)."""
    if not panel.adaptive:
        return True
    digest = hashlib.sha256(f"{panel.bias.seed}:audit:{case_id}:{clause_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < panel.audit_rate * 2**64


def shuffle_seed(panel: PanelSpec, case_id: str) -> int | None:
    if not panel.bias.shuffle_context:
        return None
    digest = hashlib.sha256(f"{panel.bias.seed}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass
class JuryStats:
    calls: int = 0
    cached: int = 0
    saved: int = 0


@dataclass(frozen=True)
class Jury:
    """Runs the panel on (case, clause) pairs: every judge of a ballot concurrently, within global and per-provider limits."""

    panel: PanelSpec
    rubrics: Any
    target_model: str | None = None
    use_cache: bool = True
    lookup: CacheLookup | None = None  # the store's cache of votes; the pipeline passes it in when use_cache
    # The run's limit on model calls in flight, target calls included (--concurrency); the pipeline passes it in.
    calls: asyncio.Semaphore | None = None
    stats: JuryStats = field(default_factory=JuryStats)
    # derived in __post_init__ from the fields above
    judges: tuple[JudgeSpec, ...] = field(init=False, repr=False, compare=False)
    options: Any = field(init=False, repr=False, compare=False)
    flags: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _global: asyncio.Semaphore = field(init=False, repr=False, compare=False)
    _providers: dict[str, asyncio.Semaphore] = field(init=False, repr=False, compare=False)
    _provider_of: Any = field(init=False, repr=False, compare=False)
    _keys: dict[str, str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Everything else a Jury needs is derived here, once: it is frozen afterwards (a changed jury, e.g. one
        given the store's cache door, is a new one made with dataclasses.replace, which runs this again)."""
        from harness.jury.families import model_vendor
        from harness.llm import provider_of

        init = object.__setattr__  # the frozen dataclass's own way to set derived fields in its constructor
        init(self, "_global", asyncio.Semaphore(self.panel.concurrency))
        init(self, "_providers", {p: asyncio.Semaphore(n) for p, n in self.panel.provider_concurrency.items()})
        init(self, "_provider_of", provider_of)
        target_vendor = model_vendor(self.target_model) if self.target_model else None
        flags: dict[str, tuple[str, ...]] = {}
        init(self, "flags", flags)
        judges = []
        for j in self.panel.judges:
            same = target_vendor is not None and model_vendor(j.family or j.model) == target_vendor
            if same and self.panel.bias.same_family == "exclude":
                continue
            flags[j.name] = ("same-family",) if same and self.panel.bias.same_family == "flag" else ()
            judges.append(j)
        if not judges:
            raise ConfigError(
                f"panel {self.panel.id}: every judge is of the target's model family and "
                "bias.same_family is exclude; add a judge from another family"
            )
        init(self, "judges", tuple(judges))
        init(self, "options", aggregate_options(self.panel, self.judges))
        from harness.target import api_key_from_env

        init(self, "_keys", {j.name: api_key_from_env(j.api_key_env, j.api_base, f"judge {j.name}") for j in judges})

    async def ballot(self, case: Case, clause: Clause, transcript: Transcript) -> Ballot:
        from harness.jury.judge import prepare

        seed = shuffle_seed(self.panel, case.id)
        calls = [
            prepare(j, self.panel, case, clause, transcript, s, self.rubrics, context_seed=seed)
            for j in self.judges
            for s in range(j.samples)
        ]
        cached = await self.lookup([c.cache_key for c in calls]) if self.lookup else {}
        if not audited(self.panel, case.id, clause.id):
            votes, saved = await self._adaptive(calls, cached)
        else:
            votes, saved = list(await asyncio.gather(*(self._vote(c, cached) for c in calls))), 0
        self.stats.saved += saved
        return Ballot(
            case_id=case.id,
            clause_id=clause.id,
            votes=tuple(votes),
            complete=saved == 0,
            calls_saved=saved,
            shuffle_seed=seed,
        )

    async def _adaptive(self, calls: list[Any], cached: dict[str, Vote]) -> tuple[list[Vote], int]:
        """Call judges one after another and stop once no remaining vote could change the verdict."""
        from harness.jury.aggregate import can_still_change

        votes: list[Vote] = []
        for i, call in enumerate(calls):
            remaining = [c.judge.name for c in calls[i:]]
            if votes and not can_still_change(self.panel.method, votes, remaining, self.options):
                return votes, len(calls) - i
            votes.append(await self._vote(call, cached))
        return votes, 0

    async def _vote(self, call: Any, cached: dict[str, Vote]) -> Vote:
        from harness.jury.judge import execute

        hit = cached.get(call.cache_key)
        if hit is not None:
            self.stats.cached += 1
            return hit.model_copy(
                update=dict(
                    case_id=call.case_id,
                    clause_id=call.clause_id,
                    sample=call.sample,
                    cached=True,
                    flags=tuple(call.flags) + self.flags[call.judge.name],
                )
            )
        provider = self._providers.get(self._provider_of(call.judge.model)) or contextlib.nullcontext()
        async with self._global, provider, self.calls or contextlib.nullcontext():
            vote = await execute(call, api_key=self._keys[call.judge.name])
        self.stats.calls += 1
        return vote.model_copy(
            update={"flags": tuple(call.flags) + self.flags[call.judge.name], "cache_key": call.cache_key}
        )
