"""The one place that knows the stage order: plan -> target -> checks -> (jury) -> store -> clause results -> decision."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness import __version__
from harness.checks import CheckContext, evaluate
from harness.failwatch import FailureWatch
from harness.jury.panel import Jury
from harness.progress import Progress
from harness.store import Store
from harness.suite import Plan
from harness.target import Target
from harness.trust import DEFAULT_CONFIDENCE
from harness.types import Ballot, Case, CaseResult, CheckResult, Clause, ClauseResult, PactDecision, Transcript, Verdict

FLUSH_EVERY_CASES = 200
FLUSH_EVERY_S = 0.5  # bounds what a kill -9 can cost: at most this much finished work is redone on resume


def new_run_id() -> str:
    from harness.clock import stamp

    return stamp().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


# ---------------------------------------------------------------- the deterministic stage


def _verdict(case: Case, clause: Clause, checks: Sequence[CheckResult]) -> Verdict:
    base: dict[str, Any] = dict(case_id=case.id, clause_id=clause.id)
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
            Verdict(
                case_id=case.id,
                clause_id=cid,
                outcome="error",
                decided_by="target-error",
                detail=f"target error: {transcript.error}"[:500],
            )
            for cid in case.clause_ids
        )
        return CaseResult(case=case, transcript=transcript, checks=(), verdicts=verdicts)
    ctx = CheckContext(case=case, transcript=transcript)
    all_checks: list[CheckResult] = []
    verdicts_list: list[Verdict] = []
    for clause in plan.clauses_of(case):
        results = [
            evaluate(spec, params, i, clause.id, ctx)
            for i, (spec, params) in enumerate(plan.checks[(case.id, clause.id)])
        ]
        all_checks.extend(results)
        verdicts_list.append(_verdict(case, clause, results))
    return CaseResult(case=case, transcript=transcript, checks=tuple(all_checks), verdicts=tuple(verdicts_list))


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class RunSettings:
    """How a run runs, fixed for the whole run (a resumed run gets its own)."""

    agent: str | None = None
    agent_version: str | None = None
    concurrency: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    jury: Jury | None = None  # without one, clauses that need judges stay pending-jury
    confidence: float = DEFAULT_CONFIDENCE  # of the Wilson intervals that decide clause statuses
    deadline_s: float | None = None  # the whole run's; when it passes the run is aborted (resumable)
    fail_fast: bool = True  # stop a run whose calls mostly fail one way (harness/failwatch.py)


@dataclass
class RunOutcome:
    """What a run came to; filled in by the one coroutine (or shard driver) that runs it, then returned."""

    run_id: str
    total: int
    done: int
    aborted: bool = False
    abort_reason: str | None = None
    failed: str | None = None  # why the run failed (not evidence): most of its calls failed the same way
    clause_results: list[ClauseResult] = field(default_factory=list)
    decision: PactDecision | None = None
    elapsed_s: float = 0.0


def _stamp() -> datetime:
    from harness.clock import stamp

    return stamp()


def start_run(store: Store, plan: Plan, target: Target, settings: RunSettings) -> str:
    run_id = new_run_id()
    store.create_run(
        dict(
            run_id=run_id,
            started_at=_stamp(),
            pact_id=plan.pact.id,
            pact_version=plan.pact.version,
            pact_hash=plan.pact.hash,
            suite_id=plan.suite.id,
            suite_hash=plan.suite.hash,
            suite_path=str((plan.suite_file or plan.suite_dir).resolve()),
            agent=settings.agent,
            agent_version=settings.agent_version,
            target_spec=target.spec,
            panel_id=settings.jury.panel.id if settings.jury else None,
            panel_hash=settings.jury.panel.hash if settings.jury else None,
            harness_version=__version__,
            options=settings.options,
            n_cases=len(plan.suite.cases),
        ),
        plan.suite.cases,
        panel=settings.jury.panel if settings.jury else None,
    )
    return run_id


def call_gate(jury: Jury | None, concurrency: int) -> tuple[asyncio.Semaphore, Jury | None]:
    """The run's limit on model calls in flight (--concurrency), and the jury that keeps to it.

    The limit is on calls, not cases: a case makes a target call and then one per judge, so with 64 cases in flight
    and a 3-judge panel up to 192 calls would be, and capping cases at 64 / 4 leaves slots idle while cases wait on
    their targets. Up to `concurrency` cases are in progress; between them they hold at most `concurrency` calls."""
    gate = asyncio.Semaphore(concurrency)
    return gate, (dataclasses.replace(jury, calls=gate) if jury is not None else None)


async def run_case(
    plan: Plan, target: Target, jury: Jury | None, gate: asyncio.Semaphore, case: Case, run_id: str
) -> CaseResult:
    """One case through the stages: its target (one call slot for the whole conversation), checks, then judges."""
    async with gate:
        transcript = await target.run(case, run_id)
    result = evaluate_case(plan, case, transcript)
    if jury is not None:
        result = await judge_case(jury, plan, result)
    return result


async def judge_case(jury: Jury, plan: Plan, result: CaseResult) -> CaseResult:
    """Send the clauses the checks left undecided to the panel; their verdicts are aggregated at the end."""
    pending = [v for v in result.verdicts if v.outcome == "pending-jury"]
    if not pending:
        return result
    ballots = await asyncio.gather(
        *(jury.ballot(result.case, plan.pact.clause(v.clause_id), result.transcript) for v in pending)
    )
    decided = tuple(v for v in result.verdicts if v.outcome != "pending-jury")
    return result.model_copy(update={"verdicts": decided, "ballots": tuple(ballots)})


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


def cache_worth_asking(store: Store, settings: RunSettings) -> RunSettings:
    """The settings, with the vote cache left unasked when it cannot hit: no judge of the panel has an answered
    call in the store (a new store, a new panel). Each lookup is a DuckDB query on the one writer's thread, and
    with worker processes those queries, not the workers, would set the pace. Within one run the cache is not
    asked then either: a case repeated in the suite gets fresh votes, as a case does on a first run."""
    jury = settings.jury
    if jury is None or not jury.use_cache or store.has_answers_from(sorted({j.model for j in jury.judges})):
        return settings
    return dataclasses.replace(settings, jury=dataclasses.replace(jury, use_cache=False))


async def execute(store: Store, plan: Plan, target: Target, run_id: str, settings: RunSettings) -> RunOutcome:
    """Run every case not yet stored for `run_id`; on cancellation keep what finished and record the abort."""
    settings = cache_worth_asking(store, settings)
    todo, outcome = begin(store, plan, run_id)
    total, started = outcome.total, time.monotonic()
    queue: asyncio.Queue[Case] = asyncio.Queue()
    for case in todo:
        queue.put_nowait(case)
    writer = _Writer(store, run_id)
    watch = FailureWatch() if settings.fail_fast else None
    jury = settings.jury
    if jury is not None and jury.use_cache:
        loop = asyncio.get_running_loop()
        # A new Jury with the cache door in its constructor, not one patched afterwards. The lookup runs on the
        # store's own thread: the DuckDB connection is used by one thread at a time. Coalesced: the ballots that
        # ask while a query runs are answered by one query, not one each (~1 ms of DuckDB per query).
        from harness.jury.coalesce import Coalesced

        jury = dataclasses.replace(
            jury, lookup=Coalesced(lambda keys: loop.run_in_executor(writer.pool, store.cached_votes, keys))
        )
    gate, jury = call_gate(jury, settings.concurrency)

    async def worker(progress: Progress) -> None:
        # Checked each turn too: asyncio.wait_for in Python 3.11 can swallow a cancellation that lands as the
        # call it waits on finishes, so a cancelled worker may carry on.
        while outcome.failed is None:
            try:
                case = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            result = await run_case(plan, target, jury, gate, case, run_id)
            await writer.add(result)
            progress.advance(result.transcript.error is not None)
            if watch is not None:
                watch.record(result)
                if outcome.failed is None and (cause := watch.cause()) is not None:
                    outcome.failed = cause
                    for w in workers:  # the others' calls would fail the same way; stop them now
                        if w is not asyncio.current_task():
                            w.cancel()
                    return

    with Progress(total, outcome.done, enabled=settings.progress) as progress:
        workers = [asyncio.create_task(worker(progress)) for _ in range(max(1, min(settings.concurrency, len(todo))))]
        try:
            async with asyncio.timeout(settings.deadline_s):
                # a worker stopped by the failure watch ends as cancelled; the run is failed, not aborted
                await asyncio.gather(*workers, return_exceptions=True)
            await writer.flush()
        except (asyncio.CancelledError, TimeoutError) as exc:
            for w in workers:
                w.cancel()
            writer.flush_sync()
            writer.close()  # waits for a batch a cancelled worker had already handed to the store thread
            outcome.done = len(store.done_case_ids(run_id))
            outcome.aborted = True
            deadline = isinstance(exc, TimeoutError)
            outcome.abort_reason = f"deadline of {settings.deadline_s:g}s reached" if deadline else "interrupted"
            store.add_event(run_id, "aborted", f"{outcome.abort_reason}: {outcome.done} of {total} cases stored")
            if not deadline:
                raise
            return outcome
    writer.close()
    for task in workers:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]  # a bug, not a run failure: as before, it propagates
    if failed(store, outcome, watch, resumed=len(todo) < total, started=started):
        return outcome
    outcome.done = total
    outcome.clause_results, outcome.decision = finish(store, plan, run_id, settings.jury, settings.confidence)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def begin(store: Store, plan: Plan, run_id: str) -> tuple[list[Case], RunOutcome]:
    """The cases a run has still to do and its outcome so far; a resumed run says so in its events."""
    done_ids = store.done_case_ids(run_id)
    todo = [c for c in plan.suite.cases if c.id not in done_ids]
    total = len(plan.suite.cases)
    if done_ids:
        store.add_event(run_id, "resumed", f"{len(done_ids)} of {total} cases already stored")
    return todo, RunOutcome(run_id=run_id, total=total, done=len(done_ids))


def failed(store: Store, outcome: RunOutcome, watch: FailureWatch | None, resumed: bool, started: float) -> bool:
    """Whether the run failed (most calls failed one way), recorded as such: then it gets no clause results or
    decision, since a failed run is not evidence about the agent. A whole run is judged on all its calls at the end
    too, so a small run that failed entirely is failed (a resumed one is mixed, so it is not)."""
    if outcome.failed is None and watch is not None and not resumed:
        outcome.failed = watch.cause(final=True)
    if outcome.failed is None:
        return False
    outcome.done = len(store.done_case_ids(outcome.run_id))
    store.add_event(outcome.run_id, "failed", outcome.failed)
    outcome.elapsed_s = time.monotonic() - started
    return True


def panel_verdicts(jury: Jury, ballots: Sequence[Ballot]) -> tuple[list[Verdict], dict[str, Any]]:
    """Aggregate every ballot of the run (Dawid-Skene needs them all) and measure the panel's agreement."""
    from harness.jury.aggregate import aggregate
    from harness.jury.panel import audited
    from harness.stats.agreement import case_agreement, panel_agreement

    decisions = aggregate(jury.panel.method, ballots, jury.options)
    verdicts = []
    for ballot, d in zip(ballots, decisions):
        agree = case_agreement(ballot)
        verdicts.append(
            Verdict(
                case_id=ballot.case_id,
                clause_id=ballot.clause_id,
                outcome=d.outcome,
                decided_by="panel",
                detail=d.reason[:500],
                method=jury.panel.method,
                panel_score=d.score,
                split=agree.split,
                entropy_bits=agree.entropy_bits,
                unanimous=agree.unanimous,
            )
        )
    stats = panel_agreement(
        ballots,
        [d.outcome for d in decisions],
        [audited(jury.panel, b.case_id, b.clause_id) for b in ballots],
        method=jury.panel.method,
        options=jury.options,
    )
    row = dict(
        panel_id=jury.panel.id,
        panel_hash=jury.panel.hash,
        method=jury.panel.method,
        n_ballots=stats.n_ballots,
        n_incomplete=stats.n_excluded_incomplete,
        percent_agreement=stats.percent_agreement,
        fleiss_kappa=stats.fleiss_kappa,
        alpha_nominal=stats.krippendorff_alpha_nominal,
        alpha_ordinal=stats.krippendorff_alpha_ordinal,
        alpha_interval=stats.krippendorff_alpha_interval,
        stats=stats.model_dump_json(),
        judges=[_judge_row(j) for j in stats.judges],
    )
    return verdicts, row


def _judge_row(j: Any) -> dict[str, Any]:
    def bounds(ci: Any) -> tuple[Any, Any]:
        return (ci[0], ci[1]) if ci else (None, None)

    (pl, ph), (al, ah), (gl, gh) = bounds(j.pass_ci), bounds(j.abstain_ci), bounds(j.agreement_ci)
    return dict(
        judge=j.judge,
        n=j.n,
        pass_rate=j.pass_rate,
        pass_ci_low=pl,
        pass_ci_high=ph,
        abstain_rate=j.abstain_rate,
        abstain_ci_low=al,
        abstain_ci_high=ah,
        agreement_with_panel=j.agreement_with_panel,
        agreement_ci_low=gl,
        agreement_ci_high=gh,
    )


def finish(
    store: Store, plan: Plan, run_id: str, jury: Jury | None = None, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[list[ClauseResult], PactDecision]:
    """Aggregate the jury, then the run's clause results and decision; then the agent's standing decision
    (harness/decision.py), which may draw on earlier runs' evidence too."""
    from harness.clock import now
    from harness.standing import after_run, decide_run

    verdicts: list[Any] = store.verdict_outcomes(run_id)
    decided: list[Verdict] = []
    stats: dict[str, Any] | None = None
    if jury is not None:
        ballots = store.ballots_to_aggregate(run_id)
        if ballots:
            decided, stats = panel_verdicts(jury, ballots)
    store.register_pact(plan.pact)
    results, decision = decide_run(
        store, plan.pact, store.run(run_id), verdicts + [v.model_dump() for v in decided], confidence
    )
    store.finish_run(run_id, results, decision, decided, stats)
    after_run(store, plan.pact, run_id, confidence, now())
    return results, decision
