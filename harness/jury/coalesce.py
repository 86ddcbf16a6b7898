"""Keyed lookups merged: while one query runs, the lookups that arrive wait and then go as one query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Coalesced(Generic[V]):
    """Wraps `query(keys) -> {key: value}` (e.g. the store's cached votes, one DuckDB query per call, ~1 ms each):
    ballots that ask while a query is in flight are answered together by the next one."""

    def __init__(self, query: Callable[[list[str]], Awaitable[dict[str, V]]]):
        self.query = query
        self.waiting: list[tuple[list[str], asyncio.Future[dict[str, V]]]] = []
        self.busy = False
        self.task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references to tasks
        self.queries = 0  # how many queries were made (for tests and benchmarks)

    async def __call__(self, keys: list[str]) -> dict[str, V]:
        if not keys:
            return {}
        future: asyncio.Future[dict[str, V]] = asyncio.get_running_loop().create_future()
        self.waiting.append((list(keys), future))
        if not self.busy:
            self.busy = True
            self.task = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[list[str], asyncio.Future[dict[str, V]]]] = []
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                batch = [(k, f) for k, f in batch if not f.done()]  # a cancelled ballot no longer waits
                if not batch:
                    continue
                self.queries += 1
                try:
                    found = await self.query(list(dict.fromkeys(k for keys, _ in batch for k in keys)))
                except Exception as exc:  # each waiting ballot gets the failure it would have had alone
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for keys, future in batch:
                    if not future.done():
                        future.set_result({k: found[k] for k in keys if k in found})
        except BaseException:  # cancelled: nobody may be left waiting for an answer that will not come
            for _, future in self.waiting + batch:
                future.cancel()
            self.waiting = []
            raise
        finally:
            self.busy = False
