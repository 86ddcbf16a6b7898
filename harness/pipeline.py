"""The one place that knows the stage order: plan -> target -> checks -> (jury) -> store -> clause results -> decision."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

from harness import __version__
from harness.checks import CheckContext, evaluate
from harness.progress import Progress
from harness.store import Store
from harness.suite import Plan
from harness.target import Target
from harness.trust import clause_results, decide
from harness.types import Case, CaseResult, CheckResult, Clause, ClauseResult, PactDecision, Transcript, Verdict

FLUSH_EVERY_CASES = 200
FLUSH_EVERY_S = 0.5  # bounds what a kill -9 can cost: at most this much finished work is redone on resume


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


# ---------------------------------------------------------------- the deterministic stage


def _verdict(case: Case, clause: Clause, checks: Sequence[CheckResult]) -> Verdict:
    base = dict(case_id=case.id, clause_id=clause.id)
    errors = [c for c in checks if c.outcome == "error"]
    if errors:
        return Verdict(**base, outcome="error", decided_by="checks", detail=f"check {errors[0].check} errored")
    fails = [c for c in checks if c.outcome == "fail"]
    if fails:
        detail = "; ".join(f"{c.check}: {c.detail}" for c in fails)[:500]
        return Verdict(**base, outcome="fail", decided_by="checks", detail=detail)
    if clause.verify == "jury" or (clause.verify == "hybrid" and any(c.outcome == "pass" for c in checks)):
        # Only a panel may decide this; until one votes it stays pending, never guessed.
        return Verdict(**base, outcome="pending-jury", decided_by="none", detail="awaiting judges")
    if not any(c.outcome == "pass" for c in checks):
        return Verdict(**base, outcome="not-applicable", decided_by="checks", detail="every check was conditioned away")
    return Verdict(**base, outcome="pass", decided_by="checks", detail=f"{len(checks)} check(s) passed")


def evaluate_case(plan: Plan, case: Case, transcript: Transcript) -> CaseResult:
    """Deterministic checks first; a clause they decide never reaches a judge."""
    if transcript.error is not None:
        verdicts = tuple(
            Verdict(case_id=case.id, clause_id=cid, outcome="error", decided_by="target-error",
                    detail=f"target error: {transcript.error}"[:500])
            for cid in case.clause_ids
        )
        return CaseResult(case=case, transcript=transcript, checks=(), verdicts=verdicts)
    ctx = CheckContext(case=case, transcript=transcript)
    all_checks: list[CheckResult] = []
    verdicts_list: list[Verdict] = []
    for clause in plan.clauses_of(case):
        results = [evaluate(spec, params, i, clause.id, ctx)
                   for i, (spec, params) in enumerate(plan.checks[(case.id, clause.id)])]
        all_checks.extend(results)
        verdicts_list.append(_verdict(case, clause, results))
    return CaseResult(case=case, transcript=transcript, checks=tuple(all_checks), verdicts=tuple(verdicts_list))


# ---------------------------------------------------------------- running


@dataclass
class RunSettings:
    agent: str | None = None
    agent_version: str | None = None
    concurrency: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class RunOutcome:
    run_id: str
    total: int
    done: int
    aborted: bool = False
    clause_results: list[ClauseResult] = field(default_factory=list)
    decision: PactDecision | None = None
    elapsed_s: float = 0.0


def start_run(store: Store, plan: Plan, target: Target, settings: RunSettings) -> str:
    run_id = new_run_id()
    store.create_run(
        dict(run_id=run_id, started_at=datetime.now(timezone.utc), pact_id=plan.pact.id,
             pact_version=plan.pact.version, pact_hash=plan.pact.hash, suite_id=plan.suite.id,
             suite_hash=plan.suite.hash, suite_path=str(plan.suite_dir.resolve()), agent=settings.agent,
             agent_version=settings.agent_version, target_spec=target.spec, panel_id=None,
             harness_version=__version__, options=settings.options, n_cases=len(plan.suite.cases)),
        plan.suite.cases,
    )
    return run_id


class _Writer:
    """Batches finished cases and writes each batch in one transaction on a dedicated thread."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id = store, run_id
        self.pending: list[CaseResult] = []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pactjury-store")
        self.last = time.monotonic()

    async def add(self, result: CaseResult) -> None:
        self.pending.append(result)
        if len(self.pending) >= FLUSH_EVERY_CASES or time.monotonic() - self.last >= FLUSH_EVERY_S:
            await self.flush()

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        self.last = time.monotonic()
        if batch:
            await asyncio.get_running_loop().run_in_executor(self.pool, self.store.write_results, self.run_id, batch)

    def flush_sync(self) -> None:
        """Last flush after cancellation, when awaiting is no longer possible."""
        batch, self.pending = self.pending, []
        if batch:
            self.pool.submit(self.store.write_results, self.run_id, batch).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


async def execute(store: Store, plan: Plan, target: Target, run_id: str, settings: RunSettings) -> RunOutcome:
    """Run every case not yet stored for `run_id`; on cancellation keep what finished and record the abort."""
    done_ids = store.done_case_ids(run_id)
    todo = [c for c in plan.suite.cases if c.id not in done_ids]
    total = len(plan.suite.cases)
    outcome = RunOutcome(run_id=run_id, total=total, done=len(done_ids))
    if done_ids:
        store.add_event(run_id, "resumed", f"{len(done_ids)} of {total} cases already stored")
    started = time.monotonic()
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for case in todo:
        queue.put_nowait(case)
    writer = _Writer(store, run_id)

    async def worker(progress: Progress) -> None:
        while True:
            try:
                case = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            transcript = await target.run(case, run_id)
            result = evaluate_case(plan, case, transcript)
            await writer.add(result)
            progress.advance(transcript.error is not None)

    with Progress(total, len(done_ids), enabled=settings.progress) as progress:
        workers = [asyncio.create_task(worker(progress)) for _ in range(max(1, min(settings.concurrency, len(todo))))]
        try:
            await asyncio.gather(*workers)
            await writer.flush()
        except asyncio.CancelledError:
            for w in workers:
                w.cancel()
            writer.flush_sync()
            writer.close()  # waits for a batch a cancelled worker had already handed to the store thread
            outcome.done = len(store.done_case_ids(run_id))
            outcome.aborted = True
            store.add_event(run_id, "aborted", f"{outcome.done} of {total} cases stored")
            raise
    writer.close()
    outcome.done = total
    outcome.clause_results, outcome.decision = finish(store, plan, run_id)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def finish(store: Store, plan: Plan, run_id: str) -> tuple[list[ClauseResult], PactDecision]:
    results = clause_results(plan.pact, store.verdict_rows(run_id))
    decision = decide(plan.pact, results)
    store.finish_run(run_id, results, decision)
    return results, decision

