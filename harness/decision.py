"""An agent's standing on a pact: the latest evidence of each clause (maybe from several runs), its age against
the freshness windows, open human-confirmed failures, the consequence decision and the trust score.

Evidence for a clause is the current clause result (latest human-review revision) of the most recent completed
run of the same agent and pact version (pact hash) in which the clause had at least one decided verdict
(pass, fail or error): pending and jury-inconclusive verdicts say nothing about the agent, so they do not
refresh evidence. Its age is `now - that run's completion time`; it is stale once the age exceeds the clause's
`freshness` (else the pact's). A clause with no evidence at all is not stale (its status says so: no-evidence,
pending-jury or inconclusive), but it has no age, never expires and is always due.

This module decides from evidence rows handed to it and never reads the store; harness/standing.py fetches the
rows and records the results.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.clock import as_utc
from harness.errors import ConfigError
from harness.trust import DEFAULT_CONFIDENCE, ClauseFacts, clause_results, decide, restate, trust_score
from harness.types import Clause, ClauseResult, EvidenceRow, HumanFailureRow, Pact, PactDecision


@dataclass(frozen=True)
class ClauseState:
    clause: Clause
    result: ClauseResult
    window_s: int
    run_id: str | None = None  # the run that supplied the evidence
    revision: int | None = None
    finished_at: datetime | None = None
    age_s: float | None = None  # None: no evidence
    stale: bool = False
    expires_at: datetime | None = None
    human_failures: list[dict[str, Any]] = field(default_factory=list)

    def facts(self) -> ClauseFacts:
        return ClauseFacts(
            stale=self.stale, age_s=self.age_s, window_s=self.window_s, human_failures=len(self.human_failures)
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(
            clause_id=self.clause.id,
            severity=self.clause.severity,
            **{k: v for k, v in self.result.model_dump().items() if k not in ("clause_id", "severity")},
            run_id=self.run_id,
            revision=self.revision,
            finished_at=self.finished_at,
            age_s=self.age_s,
            window_s=self.window_s,
            stale=self.stale,
            expires_at=self.expires_at,
            human_failures=[
                dict(run_id=h["run_id"], case_id=h["case_id"], reviewer=h["reviewer"]) for h in self.human_failures
            ],
        )


@dataclass(frozen=True)
class Assessment:
    agent: str | None
    pact: Pact
    now: datetime
    confidence: float
    states: list[ClauseState]
    decision: PactDecision
    score: float | None
    agent_version: str | None = None
    last_run: tuple[str, datetime] | None = None  # (run id, completion time) of the agent's latest run of the pact

    @property
    def run_ids(self) -> list[str]:
        return sorted({s.run_id for s in self.states if s.run_id})

    @property
    def stale(self) -> list[ClauseState]:
        return [s for s in self.states if s.stale]

    @property
    def oldest_age_s(self) -> float | None:
        ages = [s.age_s for s in self.states]
        return None if not ages or any(a is None for a in ages) else max(ages)  # type: ignore[type-var]

    @property
    def next_expiry(self) -> datetime | None:
        times = [s.expires_at for s in self.states if s.expires_at is not None]
        return min(times) if times else None

    def as_dict(self) -> dict[str, Any]:
        return dict(
            agent=self.agent,
            agent_version=self.agent_version,
            pact_id=self.pact.id,
            pact_version=self.pact.version,
            pact_hash=self.pact.hash,
            tier=self.pact.tier,
            now=self.now,
            confidence=self.confidence,
            decision=self.decision.decision,
            reasons=list(self.decision.reasons),
            rule_index=self.decision.rule_index,
            score=self.score,
            run_ids=self.run_ids,
            stale_clauses=[s.clause.id for s in self.stale],
            oldest_age_s=self.oldest_age_s,
            next_expiry=self.next_expiry,
            clauses=[s.as_dict() for s in self.states],
        )


def window_of(pact: Pact, clause: Clause) -> int:
    return clause.freshness_s or pact.freshness_s


def _result_from_row(clause: Clause, row: Mapping[str, Any], confidence: float | None) -> ClauseResult:
    """A stored result re-judged at `confidence` from its counts (with the pact's current threshold and severity)."""
    conf = confidence or row.get("confidence") or DEFAULT_CONFIDENCE
    return restate(
        clause.id,
        clause.severity,
        clause.threshold,
        row["passed"],
        row["failed"],
        row["errors"],
        row["pending"],
        row["inconclusive"],
        conf,
    )


def assess(
    pact: Pact,
    agent: str | None,
    now: datetime,
    rows: Sequence[EvidenceRow],
    human_failures: Sequence[HumanFailureRow],
    confidence: float = DEFAULT_CONFIDENCE,
) -> Assessment:
    """The agent's standing on this pact version at `now`, from its evidence rows (newest run first, as
    Store.evidence_rows gives them) and its open human-confirmed failures (Store.open_human_failures)."""
    now = as_utc(now)
    open_failures: dict[str, list[dict[str, Any]]] = {}
    for h in human_failures:
        open_failures.setdefault(h["clause_id"], []).append(dict(h))
    by_clause: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:  # newest run first
        by_clause.setdefault(r["clause_id"], []).append(r)
    states = []
    for clause in pact.clauses:
        window = window_of(pact, clause)
        candidates = by_clause.get(clause.id, [])
        evidence = next((r for r in candidates if r["passed"] + r["failed"] + r["errors"] > 0), None)
        base: dict[str, Any] = dict(clause=clause, window_s=window, human_failures=open_failures.get(clause.id, []))
        if evidence is not None:
            finished = as_utc(evidence["finished_at"])
            age = max(0.0, (now - finished).total_seconds())
            state = ClauseState(
                **base,
                result=_result_from_row(clause, evidence, confidence),
                run_id=evidence["run_id"],
                revision=evidence["revision"],
                finished_at=finished,
                age_s=age,
                stale=age > window,
                expires_at=finished + timedelta(seconds=window),
            )
        elif any(r["n"] for r in candidates):  # only undecided results so far: shown, but no evidence to age
            latest = next(r for r in candidates if r["n"])
            state = ClauseState(
                **base,
                result=_result_from_row(clause, latest, confidence),
                run_id=latest["run_id"],
                revision=latest["revision"],
                finished_at=as_utc(latest["finished_at"]),
            )
        else:
            state = ClauseState(
                **base, result=restate(clause.id, clause.severity, clause.threshold, 0, 0, 0, 0, 0, confidence)
            )
        states.append(state)
    decision = decide(pact, [s.result for s in states], {s.clause.id: s.facts() for s in states})
    score = trust_score((s.clause.severity, s.result.ci_low, s.clause.threshold, s.age_s, s.window_s) for s in states)
    version = next((r["agent_version"] for r in rows), None)
    return Assessment(
        agent=agent,
        pact=pact,
        now=now,
        confidence=confidence,
        states=states,
        decision=decision,
        score=score,
        agent_version=version,
    )


def decision_rows(a: Assessment, trigger: str, trigger_ref: str | None = None) -> tuple[Any, ...]:
    """The rows that record an assessment (Store.record_agent_decision's arguments): the decision with the runs
    behind it, per-clause evidence, and the trust score."""
    decision_id = f"{a.now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    return (
        dict(
            decision_id=decision_id,
            decided_at=a.now,
            agent=a.agent,
            agent_version=a.agent_version,
            pact_id=a.pact.id,
            pact_version=a.pact.version,
            pact_hash=a.pact.hash,
            decision=a.decision.decision,
            reasons=json.dumps(list(a.decision.reasons)),
            rule_index=a.decision.rule_index,
            confidence=a.confidence,
            run_ids=json.dumps(a.run_ids),
            trigger=trigger,
            trigger_ref=trigger_ref,
        ),
        [
            dict(
                decision_id=decision_id,
                clause_id=s.clause.id,
                run_id=s.run_id,
                revision=s.revision,
                status=s.result.status,
                finished_at=s.finished_at,
                age_s=s.age_s,
                window_s=s.window_s,
                stale=s.stale,
                human_failures=len(s.human_failures),
            )
            for s in a.states
        ],
        dict(
            agent=a.agent,
            pact_id=a.pact.id,
            pact_hash=a.pact.hash,
            scored_at=a.now,
            score=a.score,
            decision_id=decision_id,
            components=json.dumps(
                [
                    dict(
                        clause_id=s.clause.id,
                        severity=s.clause.severity,
                        ci_low=s.result.ci_low,
                        threshold=s.clause.threshold,
                        age_s=s.age_s,
                        window_s=s.window_s,
                    )
                    for s in a.states
                ]
            ),
        ),
    )


# ---------------------------------------------------------------- one run's decision


def run_facts(
    pact: Pact,
    run: Mapping[str, Any],
    results: Sequence[ClauseResult],
    verdicts: Sequence[Mapping[str, Any]],
    human_failures: Sequence[HumanFailureRow],
) -> dict[str, ClauseFacts]:
    """A run's own evidence is fresh (age 0) where it decided something; human-confirmed failures still open for
    the agent count, except those this run's verdicts supersede with a pass."""
    # A run being finished is not yet among the completed runs the store compares: its passes supersede here.
    finishing = run.get("status") != "completed"
    passes = {(v["case_id"], v["clause_id"]) for v in verdicts if v["outcome"] == "pass"} if finishing else set()
    open_failures: dict[str, int] = {}
    for h in human_failures:
        if (h["case_id"], h["clause_id"]) not in passes:
            open_failures[h["clause_id"]] = open_failures.get(h["clause_id"], 0) + 1
    facts = {}
    for r in results:
        decided = r.passed + r.failed + r.errors > 0
        clause = pact.clause(r.clause_id)
        facts[r.clause_id] = ClauseFacts(
            stale=False,
            age_s=0.0 if decided else None,
            window_s=window_of(pact, clause),
            human_failures=open_failures.get(r.clause_id, 0),
        )
    return facts


def run_decision(
    pact: Pact,
    run: Mapping[str, Any],
    verdicts: Sequence[Mapping[str, Any]],
    confidence: float,
    human_failures: Sequence[HumanFailureRow],
) -> tuple[list[ClauseResult], PactDecision]:
    results = clause_results(pact, verdicts, confidence)
    return results, decide(pact, results, run_facts(pact, run, results, verdicts, human_failures))


def pact_of_run(run: Mapping[str, Any], spec: str | None) -> Pact:
    """The pact version a run was made against: its stored spec (JSON), else its file if that still has the same
    hash."""
    if spec is not None:
        return Pact.model_validate_json(spec)
    from harness.suite import load_plan

    try:
        pact: Pact | None = load_plan(Path(run["suite_path"])).pact
    except ConfigError:
        pact = None
    if pact is None or pact.hash != run["pact_hash"]:
        raise ConfigError(
            f"run {run['run_id']}: its pact version ({run['pact_hash'][:12]}) is neither in the store "
            f"nor in {run['suite_path']}"
        )
    return pact
