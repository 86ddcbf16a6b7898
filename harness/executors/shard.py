"""One shard of a run's cases, run where a worker is (a process, a Ray task): results stream out in batches."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from harness.errors import ConfigError
from harness.failwatch import Observed
from harness.suite import Plan
from harness.target import Target, TargetOptions
from harness.types import Case, CaseResult, PanelSpec, Vote


@dataclass(frozen=True)
class Packed:
    """A batch of finished cases as it travels to the writer: the store's rows (store/sql.py result_rows) and what
    the writer's progress bar and failure watch need of each case. Built in the worker, so that the one writer
    only inserts: unpickling the records and turning them into rows there would be the whole run's bottleneck."""

    rows: dict[str, list[dict[str, Any]]]
    observed: list[Observed]

    @classmethod
    def of(cls, run_id: str, batch: Sequence[CaseResult]) -> Packed:
        from harness.clock import stamp
        from harness.failwatch import observe
        from harness.store.sql import result_rows  # row shapes only: the worker never opens the store

        return cls(result_rows(run_id, batch, stamp()), [observe(r) for r in batch])


class Channel(Protocol):
    """A worker's one line back to the run's writer: batches of finished cases out, the store's vote cache in."""

    async def put(self, batch: Packed) -> None: ...

    async def lookup(self, keys: list[str]) -> dict[str, Vote]: ...


@dataclass(frozen=True)
class ShardJob:
    """What a worker needs besides its cases, all picklable: targets and juries are rebuilt where they run,
    each with its own event loop and HTTP pools."""

    run_id: str
    target_ref: str  # the --target as given (python:..., cmd:..., a model)
    target_options: TargetOptions
    target_spec: str  # what the run recorded: the rebuilt target must say the same
    concurrency: int  # model calls (and cases) in flight in this worker
    panel: PanelSpec | None = None  # its concurrency limits already this worker's share
    rubrics_dir: str | None = None
    use_cache: bool = True
    cwd: str = ""  # the driver's: relative paths in the target and panel are relative to it


def sub_plan(plan: Plan, cases: Sequence[Case]) -> Plan:
    """The plan cut down to some of its cases (and their bound checks), to ship to a worker."""
    checks = {(c.id, cid): plan.checks[(c.id, cid)] for c in cases for cid in c.clause_ids}
    return replace(plan, suite=plan.suite.model_copy(update={"cases": tuple(cases)}), checks=checks, warnings=())


def panel_share(panel: PanelSpec, workers: int) -> PanelSpec:
    """A panel's concurrency limits are the run's totals: each of `workers` gets its share (at least 1)."""
    return panel.model_copy(
        update={
            "concurrency": max(1, panel.concurrency // workers),
            "provider_concurrency": {p: max(1, n // workers) for p, n in panel.provider_concurrency.items()},
        }
    )


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole shares, largest first."""
    return [total // parts + (i < total % parts) for i in range(parts)]


@contextmanager
def driver_cwd(job: ShardJob) -> Iterator[None]:
    """Work in the driver's directory when this machine has it (worker processes, a local Ray cluster); on other
    cluster nodes the job's working directory (`ray job submit --working-dir`) holds the same relative paths."""
    before = os.getcwd()
    moved = bool(job.cwd) and job.cwd != before and Path(job.cwd).is_dir()
    if moved:
        os.chdir(job.cwd)
    try:
        yield
    finally:
        if moved:
            os.chdir(before)


def build_target(job: ShardJob) -> Target:
    from harness.target import make_target

    target = make_target(job.target_ref, job.target_options)
    if target.spec != job.target_spec:
        raise ConfigError(
            f"worker: --target {job.target_ref!r} resolves to {target.spec!r} here, "
            f"not {job.target_spec!r} as on the driver"
        )
    return target


def build_jury(job: ShardJob, target: Target, channel: Channel) -> Any:
    if job.panel is None:
        return None
    from harness.jury.coalesce import Coalesced
    from harness.jury.judge import RubricLibrary
    from harness.jury.panel import Jury

    rubrics = Path(job.rubrics_dir or ".")
    if not rubrics.is_dir() and job.cwd and rubrics.is_relative_to(job.cwd):
        rubrics = Path.cwd() / rubrics.relative_to(job.cwd)  # the same files under this node's working directory
    return Jury(
        panel=job.panel,
        rubrics=RubricLibrary(rubrics),
        target_model=getattr(target, "model", None),
        use_cache=job.use_cache,
        # merged while one is in flight, as in-process: one round trip to the writer per burst, not per ballot
        lookup=Coalesced(channel.lookup) if job.use_cache else None,
    )


class _Batches:
    """Finished cases, sent on in batches (as the in-process writer flushes): every 200 cases or half a second."""

    def __init__(self, channel: Channel, run_id: str):
        from harness.pipeline import FLUSH_EVERY_CASES, FLUSH_EVERY_S

        self.channel, self.run_id, self.every, self.every_s = channel, run_id, FLUSH_EVERY_CASES, FLUSH_EVERY_S
        self.pending: list[CaseResult] = []
        self.last = time.monotonic()

    async def add(self, result: CaseResult) -> None:
        self.pending.append(result)
        if len(self.pending) >= self.every or time.monotonic() - self.last >= self.every_s:
            await self.flush()

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        self.last = time.monotonic()
        if batch:
            await self.channel.put(Packed.of(self.run_id, batch))


async def run_shard(job: ShardJob, plan: Plan, channel: Channel) -> None:
    """Run the plan's cases `job.concurrency` at a time. Cancelled (the driver stops the run), what finished is
    still sent before the cancellation goes on; cases in flight are left for a resume."""
    from harness.executors import preload_llm
    from harness.pipeline import call_gate, run_case

    target = build_target(job)
    jury = build_jury(job, target, channel)
    preload_llm(target, jury)
    gate, jury = call_gate(jury, job.concurrency)
    batches = _Batches(channel, job.run_id)
    cases = iter(plan.suite.cases)  # shared by the loops below: each case is taken by exactly one
    stopping = False

    async def loop() -> None:
        for case in cases:
            if stopping:  # asyncio.wait_for in 3.11 can swallow a cancellation: a stopped loop must not go on
                return
            await batches.add(await run_case(plan, target, jury, gate, case, job.run_id))

    tasks = [asyncio.create_task(loop()) for _ in range(max(1, min(job.concurrency, len(plan.suite.cases))))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await batches.flush()
        raise
    await batches.flush()


def one_line(exc: BaseException) -> str:
    """An exception as the one line a worker reports to the driver (which prints it)."""
    from harness.errors import PactjuryError
    from harness.secrets import redact

    text = str(exc) if isinstance(exc, PactjuryError) else f"{type(exc).__name__}: {exc}"
    return redact((text.splitlines() or [""])[0])[:500]
