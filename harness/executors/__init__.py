"""Where a run's cases execute: in this process, on worker processes (--workers), or as Ray tasks (--executor ray)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.pipeline import RunOutcome, RunSettings, cache_worth_asking, execute
from harness.store import Store
from harness.suite import Plan
from harness.target import Target, TargetOptions
from harness.types import Case

# Below this many cases a worker costs more to start (a Python, our imports, its share of the plan) than it saves.
MIN_CASES_PER_WORKER = 250


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _embedded(target: Target, settings: RunSettings) -> bool:
    """The embedded model (local/...) already uses every core in one process; more would only contend."""
    models = [getattr(target, "model", "") or ""]
    if settings.jury is not None:
        models += [j.model for j in settings.jury.judges]
    return any(m.startswith("local/") for m in models)


def preload_llm(target: Target, jury: Any) -> None:
    """Import litellm before the first call when there will be model calls, so its cost is no case's latency."""
    from harness.llm import preload_for

    # only for models that go through litellm: a run whose calls all take the fast lane never imports it
    t: Any = target  # a model target (harness/target.py ModelTarget) has .model and .options
    models = [(t.model, t.options.base_url, True)] if hasattr(t, "model") else []
    preload_for(models + [(j.model, j.api_base, j.fast_lane) for j in (jury.judges if jury is not None else ())])


def local_workers(requested: int | None, n_todo: int, concurrency: int, embedded: bool = False) -> int:
    """How many worker processes: as asked, or by default one per core when the suite is big enough; never more
    than there are cases to do or cases allowed in flight (each worker has at least one)."""
    if requested is None:
        requested = 1 if embedded else min(cores(), n_todo // MIN_CASES_PER_WORKER)
    return max(1, min(requested, n_todo, concurrency))


@dataclass
class Executor:
    """`pactjury run`'s --executor, --workers and --ray-address, called as pipeline.execute is."""

    kind: str = "local"
    workers: int | None = None  # None: by default (see local_workers; on Ray, the cluster's CPUs)
    ray_address: str | None = None
    target_ref: str = ""  # the --target as given, rebuilt in each worker
    target_options: TargetOptions = field(default_factory=TargetOptions)

    cpus: int | None = None  # the Ray cluster's, once joined
    preloads = True  # litellm is imported where the calls are made (not in a driver that makes none)

    def __post_init__(self) -> None:
        if self.kind not in STARTERS:
            raise ConfigError(f"unknown executor {self.kind!r}; valid: {', '.join(STARTERS)}")

    def connect(self) -> None:
        """Join (or start) the Ray cluster now, before a run is written; nothing to do for local workers."""
        if self.kind == "ray" and self.cpus is None:
            from harness.executors.raytasks import connect

            self.cpus = connect(self.ray_address)

    async def __call__(
        self, store: Store, plan: Plan, target: Target, run_id: str, settings: RunSettings
    ) -> RunOutcome:
        from harness.executors.driver import execute_sharded

        settings = cache_worth_asking(store, settings)
        done = store.done_case_ids(run_id)
        n_todo = sum(c.id not in done for c in plan.suite.cases)
        start = STARTERS[self.kind](self, plan, target, run_id, settings, n_todo)
        if start is None:  # one worker: today's in-process path, nothing to ship anywhere
            preload_llm(target, settings.jury)
            return await execute(store, plan, target, run_id, settings)
        return await execute_sharded(store, plan, run_id, settings, start)

    def job_for(self, target: Target, run_id: str, settings: RunSettings, workers: int) -> Callable[[int], Any]:
        """The ShardJob of worker i of `workers`: its share of --concurrency and of the panel's limits."""
        from harness.executors.shard import ShardJob, panel_share, shares

        jury = settings.jury
        slots = shares(settings.concurrency, workers)
        panel = panel_share(jury.panel, workers) if jury is not None else None

        def job(i: int) -> ShardJob:
            return ShardJob(
                run_id=run_id,
                target_ref=self.target_ref,
                target_options=self.target_options,
                target_spec=target.spec,
                concurrency=max(1, slots[i % workers]),
                panel=panel,
                rubrics_dir=str(jury.rubrics.directory) if jury is not None else None,
                use_cache=jury.use_cache if jury is not None else False,
                cwd=os.getcwd(),
            )

        return job


def _start_local(
    ex: Executor, plan: Plan, target: Target, run_id: str, settings: RunSettings, n_todo: int
) -> Callable[[Sequence[Case]], Any] | None:
    from harness.executors.processes import ProcessSource

    n = local_workers(ex.workers, n_todo, settings.concurrency, _embedded(target, settings))
    if n <= 1:
        return None
    job_for = ex.job_for(target, run_id, settings, n)
    return lambda todo: ProcessSource(job_for, plan, todo, n)


def _start_ray(
    ex: Executor, plan: Plan, target: Target, run_id: str, settings: RunSettings, n_todo: int
) -> Callable[[Sequence[Case]], Any]:
    from harness.executors.raytasks import RaySource

    ex.connect()
    n = max(1, min(ex.workers or ex.cpus or 1, n_todo or 1, settings.concurrency))
    job_for = ex.job_for(target, run_id, settings, n)
    return lambda todo: RaySource(job_for, plan, todo, n)


STARTERS: dict[str, Callable[..., Any]] = {"local": _start_local, "ray": _start_ray}
