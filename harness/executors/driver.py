"""The driver of a sharded run: starts the shards, and is the one writer to the store of what they send back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from harness.executors.shard import Packed
from harness.pipeline import RunOutcome, RunSettings, begin, failed, finish
from harness.progress import Progress
from harness.store import Store
from harness.suite import Plan
from harness.types import Case


class Source(Protocol):
    """Running shards, as a stream of events read by the writer thread:
    ("results", Packed), ("lookup", cache keys, reply(votes)), ("lost", why a shard ended early).
    Once `stop` is set the shards are told to stop; the stream ends when every shard has."""

    def events(self, stop: threading.Event) -> Iterator[tuple[Any, ...]]: ...

    def close(self) -> None: ...


StartShards = Callable[[Sequence[Case]], Source]


class _Pump:
    """The writer thread's loop: the only user of the store while shards run."""

    def __init__(self, store: Store, run_id: str, outcome: RunOutcome, progress: Progress, fail_fast: bool):
        from harness.failwatch import FailureWatch

        self.store, self.run_id, self.outcome, self.progress = store, run_id, outcome, progress
        self.watch = FailureWatch() if fail_fast else None
        self.stop = threading.Event()
        self.lost: list[str] = []
        self.stored = 0

    def run(self, source: Source) -> None:
        for event in source.events(self.stop):
            if event[0] == "results":
                self._results(event[1])
            elif event[0] == "lookup":
                event[2](self.store.cached_votes(event[1]))
            else:
                self.lost.append(event[1])
                self.stop.set()

    def _results(self, batch: Packed) -> None:
        self.store.write_rows(batch.rows)
        self.stored += len(batch.observed)
        for calls in batch.observed:
            self.progress.advance(calls[0][1] is not None)
            if self.watch is not None:
                self.watch.add(calls)
        if self.watch is not None and self.outcome.failed is None and (cause := self.watch.cause()) is not None:
            self.outcome.failed = cause  # the other shards' calls would fail the same way: stop them now
            self.stop.set()


async def execute_sharded(
    store: Store, plan: Plan, run_id: str, settings: RunSettings, start: StartShards
) -> RunOutcome:
    """Run every case not yet stored for `run_id` on shards; the same outcomes, events and resume as
    pipeline.execute: on Ctrl-C/SIGTERM or the deadline what finished is stored and the run can be resumed."""
    todo, outcome = begin(store, plan, run_id)
    total, started = outcome.total, time.monotonic()
    with Progress(total, outcome.done, enabled=settings.progress) as progress:
        pump = _Pump(store, run_id, outcome, progress, settings.fail_fast)
        if todo:
            reason = await _drive(pump, start, todo, settings.deadline_s)
            if reason is not None:
                return _aborted(store, outcome, total, reason)
    if pump.lost:
        return _aborted(store, outcome, total, pump.lost[0])
    if failed(store, outcome, pump.watch, resumed=len(todo) < total, started=started):
        return outcome
    if pump.stored < len(todo):  # a shard that ended without a word: never count missing cases as done
        return _aborted(store, outcome, total, f"{len(todo) - pump.stored} cases came back from no shard")
    outcome.done = total
    outcome.clause_results, outcome.decision = finish(store, plan, run_id, settings.jury, settings.confidence)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


async def _drive(pump: _Pump, start: StartShards, todo: Sequence[Case], deadline_s: float | None) -> str | None:
    """Start the shards and pump their events on a thread until they end; the reason, if the run was aborted."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-store")
    source = start(todo)
    running = pool.submit(pump.run, source)
    try:
        async with asyncio.timeout(deadline_s):
            await asyncio.shield(asyncio.wrap_future(running))
    except (asyncio.CancelledError, TimeoutError) as exc:
        pump.stop.set()
        running.result()  # the shards send what they finished, and it is stored, before we go on
        if isinstance(exc, asyncio.CancelledError):
            _aborted(pump.store, pump.outcome, pump.outcome.total, "interrupted")
            raise
        return f"deadline of {deadline_s:g}s reached"
    finally:
        source.close()
        pool.shutdown(wait=True)
    return None


def _aborted(store: Store, outcome: RunOutcome, total: int, reason: str) -> RunOutcome:
    outcome.done = len(store.done_case_ids(outcome.run_id))
    outcome.aborted, outcome.abort_reason = True, reason
    store.add_event(outcome.run_id, "aborted", f"{reason}: {outcome.done} of {total} cases stored")
    return outcome
