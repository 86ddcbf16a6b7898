"""Shards as Ray tasks (pactjury[ray]): each streams its batches back to the driver, the one writer to the store;
an actor carries the workers' vote-cache lookups to the driver's store and the answers back."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from harness.errors import ConfigError
from harness.executors.shard import Packed, ShardJob, driver_cwd, one_line, run_shard, sub_plan
from harness.suite import Plan
from harness.types import Case, Vote

SHARD_CASES = 2000  # the most cases one task takes: bounds a task's memory and what a lost task costs to redo
STOP_GRACE_S = 10.0
_END = "end"  # a shard's last word on its queue


def connect(address: str | None) -> int:
    """Join the cluster at `address` (auto, ray://..., host:port), or start a local one; its CPU count."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # an evaluation run does not report home
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'pactjury[ray]'") from None
    if not ray.is_initialized():
        options: dict[str, Any] = dict(logging_level=logging.WARNING, configure_logging=True)
        if address is None:
            options["include_dashboard"] = False
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"--ray-address {address or '(local)'}: cannot join the Ray cluster: {one_line(exc)}"
            ) from None
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class ShardFailed(Exception):
    """What ended a shard early, as the one line its worker reported."""


# ---------------------------------------------------------------- in the Ray task


class _TaskChannel:
    def __init__(self, out: queue.Queue[Any], desk: Any):
        self.out, self.desk = out, desk

    async def put(self, batch: Packed) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.out.put, batch)  # blocks while the queue is full

    async def lookup(self, keys: list[str]) -> dict[str, Vote]:
        import ray

        ref = self.desk.ask.remote(keys)
        answer: dict[str, Vote] = await asyncio.get_running_loop().run_in_executor(None, ray.get, ref)
        return answer


def shard_task(job: ShardJob, plan: Plan, desk: Any) -> Iterator[Packed]:
    """A Ray generator task: the shard runs on an event loop in a thread, this yields its batches as they come."""
    out: queue.Queue[Any] = queue.Queue(maxsize=2)
    started: dict[str, Any] = {}

    async def main() -> None:
        started["loop"], started["task"] = asyncio.get_running_loop(), asyncio.current_task()
        try:
            await run_shard(job, plan, _TaskChannel(out, desk))
        except asyncio.CancelledError:
            pass

    def body() -> None:
        try:
            with driver_cwd(job):
                asyncio.run(main())
            out.put(_END)
        except BaseException as exc:  # noqa: BLE001 (sent to the driver, which aborts the run resumably)
            out.put(ShardFailed(one_line(exc)))

    thread = threading.Thread(target=body, name="pactjury-shard", daemon=True)
    thread.start()
    try:
        while (item := out.get()) != _END:
            if isinstance(item, ShardFailed):
                raise item
            yield item
    except BaseException:  # cancelled by the driver: stop the loop and let its thread end
        if "task" in started:
            started["loop"].call_soon_threadsafe(started["task"].cancel)
        while thread.is_alive():
            try:
                out.get(timeout=0.1)
            except queue.Empty:
                pass
        raise


class VoteDesk:
    """An async actor: workers ask it for cached votes; the driver collects the questions and answers them."""

    def __init__(self) -> None:
        self.questions: asyncio.Queue[tuple[int, list[str]]] = asyncio.Queue()
        self.answers: dict[int, asyncio.Future[dict[str, Vote]]] = {}
        self.next = 0

    async def ask(self, keys: list[str]) -> dict[str, Vote]:
        ask, self.next = self.next, self.next + 1
        self.answers[ask] = answer = asyncio.get_running_loop().create_future()
        self.questions.put_nowait((ask, keys))
        return await answer

    async def collect(self, wait_s: float) -> list[tuple[int, list[str]]]:
        try:
            first = await asyncio.wait_for(self.questions.get(), wait_s)
        except TimeoutError:
            return []
        got = [first]
        while not self.questions.empty():
            got.append(self.questions.get_nowait())
        return got

    async def answer(self, ask: int, votes: dict[str, Vote]) -> None:
        future = self.answers.pop(ask, None)
        if future is not None and not future.done():
            future.set_result(votes)


# ---------------------------------------------------------------- in the driver


class RaySource:
    """Submits the shards as Ray tasks, `workers` at a time, and yields what they stream back."""

    def __init__(self, job_for: Any, plan: Plan, todo: Sequence[Case], workers: int):
        import ray

        self.ray, self.job_for, self.plan = ray, job_for, plan
        size = max(1, min(SHARD_CASES, math.ceil(len(todo) / workers)))
        self.shards = deque(todo[i : i + size] for i in range(0, len(todo), size))
        self.task = ray.remote(shard_task).options(num_cpus=1, max_retries=0, _generator_backpressure_num_objects=4)
        desk: Any = ray.remote(VoteDesk).options(num_cpus=0).remote() if job_for(0).use_cache else None
        self.desk = desk
        self.question: Any = desk.collect.remote(0.5) if desk is not None else None  # the desk's next questions
        self.running: dict[Any, int] = {}  # generator -> the worker slot it runs in
        for slot in range(min(workers, len(self.shards))):
            self._submit(slot)

    def _submit(self, slot: int) -> None:
        if self.shards:
            shard = self.shards.popleft()
            self.running[self.task.remote(self.job_for(slot), sub_plan(self.plan, shard), self.desk)] = slot

    def events(self, stop: threading.Event) -> Iterator[tuple[Any, ...]]:
        stopped_at: float | None = None
        while self.running:
            if stop.is_set() and stopped_at is None:
                stopped_at = time.monotonic()
                self.shards.clear()
                for gen in self.running:
                    self.ray.cancel(gen)
                if self.desk is not None:  # a worker waiting on a lookup gets an error, not a wait forever
                    self.ray.kill(self.desk)
                    self.desk = self.question = None
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
                return
            waitables = list(self.running) + ([self.question] if self.question is not None else [])
            ready, _ = self.ray.wait(waitables, num_returns=1, timeout=0.2)
            for item in ready:
                if item is self.question:
                    yield from self._questions()
                else:
                    yield from self._next(item, stopped_at is not None)

    def _questions(self) -> Iterator[tuple[Any, ...]]:
        assert self.desk is not None
        desk = self.desk
        for ask, keys in self.ray.get(self.question):
            yield ("lookup", keys, lambda votes, ask=ask: desk.answer.remote(ask, votes))
        self.question = desk.collect.remote(0.5)

    def _next(self, gen: Any, stopping: bool) -> Iterator[tuple[Any, ...]]:
        try:
            batch = self.ray.get(next(gen))
        except StopIteration:
            self._submit(self.running.pop(gen))
            return
        except Exception as exc:  # noqa: BLE001 (a failed or cancelled shard: the run is aborted, resumable)
            self.running.pop(gen)
            if not stopping:
                cause = getattr(exc, "cause", None) or exc
                yield ("lost", f"Ray shard failed: {cause if isinstance(cause, ShardFailed) else one_line(cause)}")
            return
        yield ("results", batch)

    def close(self) -> None:
        for gen in self.running:
            self.ray.cancel(gen)
        if self.desk is not None:
            self.ray.kill(self.desk)
