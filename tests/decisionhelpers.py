"""Builds stores for decision, freshness and review tests in-process: real pipeline, real DuckDB, no judges called.

`jury_run` writes a run whose jury clause has the panel verdicts and votes given per case, as the pipeline would
after aggregation, so the review queue, human labels and judge calibration can be tested on exact numbers.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from suitefiles import BASIC_PACT, basic_suite, write_agent, write_suite

from harness.pipeline import RunSettings, execute, finish, start_run
from harness.stats.agreement import case_agreement
from harness.store import Store
from harness.suite import load_plan
from harness.target import make_target
from harness.types import Ballot, CaseResult, CheckResult, Transcript, Verdict, Vote


def run_suite(db: Path, suite_dir: Path, agent: str = "bot", confidence: float = 0.95) -> str:
    """A real run of the suite's agent.py through the pipeline; returns the run id."""
    plan = load_plan(suite_dir)
    target = make_target(f"python:{suite_dir / 'agent.py'}:respond")
    settings = RunSettings(agent=agent, progress=False, confidence=confidence)
    with Store(db) as store:
        run_id = start_run(store, plan, target, settings)
        asyncio.run(execute(store, plan, target, run_id, settings))
    return run_id


def det_suite(
    root: Path,
    pact_changes: dict[str, Any] | None = None,
    n: int = 6,
    clauses: tuple[str, ...] = ("says-hello", "label-right"),
) -> Path:
    """A suite with only deterministic clauses tested (the jury clause is in the pact, tested by no case)."""
    pact = copy.deepcopy(BASIC_PACT)
    pact.update(pact_changes or {})
    suite = basic_suite(n)
    for c in suite["cases"]:
        c["clauses"] = list(clauses)
    path = write_suite(root, pact=pact, suite=suite)
    write_agent(path)
    return path


JUDGES = ("j-a", "j-b", "j-c")

# (case number, votes of j-a, j-b, j-c, panel verdict): cases 0-3 unanimous passes, 4-9 the review queue
QUEUE_VOTES = [
    (4, "pass", "pass", "fail", "pass"),
    (5, "pass", "fail", "fail", "fail"),
    (6, "pass", "pass", "fail", "pass"),
    (7, "pass", "abstain", "abstain", "inconclusive"),
    (8, "fail", "abstain", "abstain", "inconclusive"),
    (9, "fail", "fail", "pass", "fail"),
]


def jury_pact(threshold: float = 0.9, consequences: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    pact = copy.deepcopy(BASIC_PACT)
    pact["clauses"] = [pact["clauses"][0], {**pact["clauses"][2], "threshold": threshold, "severity": "major"}]
    if consequences is not None:
        pact["consequences"] = consequences
    return pact


def jury_suite(root: Path, pact: dict[str, Any] | None = None, n: int = 10) -> Path:
    suite = basic_suite(n)
    for c in suite["cases"]:
        c["clauses"] = ["says-hello", "tone"]
    path = write_suite(root, pact=pact or jury_pact(), suite=suite)
    write_agent(path)
    return path


def jury_run(
    db: Path, suite_dir: Path, agent: str = "bot", votes: list[tuple[int, str, str, str, str]] | None = None
) -> str:
    """A completed run where `tone` was decided by a panel with exactly these votes (others: 3-0 pass)."""
    plan = load_plan(suite_dir)
    table = {n: rest for n, *rest in (votes if votes is not None else QUEUE_VOTES)}
    target = SimpleNamespace(spec="python:constructed")
    settings = RunSettings(agent=agent, progress=False)
    with Store(db) as store:
        run_id = start_run(store, plan, target, settings)
        results = []
        for i, case in enumerate(plan.suite.cases):
            labels = table.get(i, ("pass", "pass", "pass", "pass"))
            ballot_votes = tuple(
                Vote(
                    case_id=case.id,
                    clause_id="tone",
                    judge=j,
                    model=f"openai/{j}",
                    label=label,
                    rationale=f"{j} thinks {label} on {case.id}",
                    abstain_reason="unparseable reply" if label == "abstain" else None,
                    cache_key=f"{run_id}{i}{j}",
                )
                for j, label in zip(JUDGES, labels[:3])
            )
            ballot = Ballot(case_id=case.id, clause_id="tone", votes=ballot_votes)
            agree = case_agreement(ballot)
            transcript = Transcript(run_id=run_id, case_id=case.id, output=f'{{"greeting": "hello {i}"}}')
            results.append(
                CaseResult(
                    case=case,
                    transcript=transcript,
                    checks=(
                        CheckResult(
                            case_id=case.id, clause_id="says-hello", index=0, check="icontains", outcome="pass"
                        ),
                    ),
                    verdicts=(
                        Verdict(case_id=case.id, clause_id="says-hello", outcome="pass", decided_by="checks"),
                        Verdict(
                            case_id=case.id,
                            clause_id="tone",
                            outcome=labels[3],
                            decided_by="panel",
                            method="majority",
                            split=agree.split,
                            entropy_bits=agree.entropy_bits,
                            unanimous=agree.unanimous,
                        ),
                    ),
                    ballots=(ballot,),
                )
            )
        store.write_results(run_id, results)
        finish(store, plan, run_id)
    return run_id
