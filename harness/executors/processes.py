"""Shards on worker processes of this machine, each with its own event loop; one pipe each to the writer."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import Any, cast

from harness.executors.shard import Packed, ShardJob, driver_cwd, one_line, run_shard, sub_plan
from harness.suite import Plan
from harness.types import Case, Vote

STOP_GRACE_S = 10.0  # after a stop, how long workers get to send what they finished before they are killed


# ---------------------------------------------------------------- in the worker process


class _PipeChannel:
    """The worker's end: batches and lookups go out through one sender thread, replies come in on a reader thread."""

    def __init__(self, conn: Connection, main: asyncio.Task[Any]):
        self.conn, self.main = conn, main
        self.loop = asyncio.get_running_loop()
        self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-send")
        self.waiting: dict[int, asyncio.Future[dict[str, Vote]]] = {}
        self.ids = itertools.count()
        threading.Thread(target=self._read, name="pactjury-recv", daemon=True).start()

    async def put(self, batch: Packed) -> None:
        await self.loop.run_in_executor(self.sender, self.conn.send, ("results", batch))

    async def lookup(self, keys: list[str]) -> dict[str, Vote]:
        ask = next(self.ids)
        self.waiting[ask] = answer = self.loop.create_future()
        await self.loop.run_in_executor(self.sender, self.conn.send, ("lookup", ask, keys))
        return await answer

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):  # the driver is gone: stop, nobody is left to store anything
                message = ("stop",)
            if message[0] == "votes":
                self.loop.call_soon_threadsafe(self._answer, message[1], message[2])
            else:
                self.loop.call_soon_threadsafe(self.main.cancel)
                return

    def _answer(self, ask: int, votes: dict[str, Vote]) -> None:
        future = self.waiting.pop(ask, None)
        if future is not None and not future.done():
            future.set_result(votes)

    def close(self) -> None:
        self.sender.shutdown(wait=True)


async def _child_main(job: ShardJob, plan: Plan, conn: Connection) -> None:
    task = asyncio.current_task()
    assert task is not None
    channel = _PipeChannel(conn, task)
    try:
        await run_shard(job, plan, channel)
    except asyncio.CancelledError:
        pass  # the driver stopped the run; what finished has been sent
    finally:
        channel.close()


def child(job: ShardJob, plan: Plan, conn: Connection) -> None:
    """A worker process's entry point: run the shard, then say "done" (or the one line of what went wrong)."""
    # Ctrl-C reaches the whole process group; the driver decides what stops and sends "stop".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with driver_cwd(job):
            asyncio.run(_child_main(job, plan, conn))
        conn.send(("done",))
    except BaseException as exc:  # noqa: BLE001 (reported to the driver, which aborts the run resumably)
        try:
            conn.send(("error", one_line(exc)))
        except OSError:
            pass


# ---------------------------------------------------------------- in the driver


class ProcessSource:
    """Starts one process per shard (cases dealt round-robin) and yields what they send, until all have ended."""

    def __init__(self, job_for: Any, plan: Plan, todo: Sequence[Case], workers: int):
        # spawn, not fork: the driver holds a DuckDB connection and threads, neither of which survives a fork
        ctx = multiprocessing.get_context("spawn")
        self.procs: list[Any] = []
        self.conns: dict[Connection, int] = {}
        for i in range(workers):
            mine, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(
                target=child,
                args=(job_for(i), sub_plan(plan, todo[i::workers]), theirs),
                name=f"pactjury-worker-{i}",
                daemon=True,
            )
            proc.start()
            theirs.close()
            self.procs.append(proc)
            self.conns[mine] = i

    def events(self, stop: threading.Event) -> Iterator[tuple[Any, ...]]:
        live = dict(self.conns)
        stopped_at: float | None = None
        while live:
            if stop.is_set() and stopped_at is None:
                stopped_at = time.monotonic()
                for conn in live:
                    _send(conn, ("stop",))
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
                return  # close() kills the stragglers; their unsent cases are redone on resume
            for ready in wait(list(live), timeout=0.2):
                conn = cast(Connection, ready)
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    i = live.pop(conn)
                    self.procs[i].join(1.0)
                    if stopped_at is None:
                        yield ("lost", f"worker {i} exited unexpectedly (exit code {self.procs[i].exitcode})")
                    continue
                kind = message[0]
                if kind == "results":
                    yield ("results", message[1])
                elif kind == "lookup":
                    yield ("lookup", message[2], lambda votes, c=conn, ask=message[1]: _send(c, ("votes", ask, votes)))
                else:
                    live.pop(conn)
                    if kind == "error":
                        yield ("lost", f"worker {self.conns[conn]} failed: {message[1]}")

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    try:
        conn.send(message)
    except OSError:  # that worker is gone; its end shows up as EOF
        pass
