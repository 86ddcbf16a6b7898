"""Standing decisions over the store: fetch an agent's evidence rows for harness/decision.py and record what it decides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from harness.decision import Assessment, assess, decision_rows, pact_of_run, run_decision
from harness.errors import ConfigError
from harness.trust import DEFAULT_CONFIDENCE
from harness.types import ClauseResult, Pact, PactDecision


def assess_agent(
    store: Any, pact: Pact, agent: str | None, now: datetime, confidence: float = DEFAULT_CONFIDENCE
) -> Assessment:
    """The agent's standing on this pact version at `now`, from every run of it in the store."""
    return assess(
        pact,
        agent,
        now,
        store.evidence_rows(agent, pact.id, pact.hash),
        store.open_human_failures(agent, pact.id, pact.hash),
        confidence,
    )


def record(store: Any, a: Assessment, trigger: str, trigger_ref: str | None = None) -> str:
    """Append the assessment to the store; its decision id."""
    rows = decision_rows(a, trigger, trigger_ref)
    store.record_agent_decision(*rows)
    return str(rows[0]["decision_id"])


def decide_run(
    store: Any, pact: Pact, run: Mapping[str, Any], verdicts: Sequence[Mapping[str, Any]], confidence: float
) -> tuple[list[ClauseResult], PactDecision]:
    """One run's clause results and decision, counting the agent's open human-confirmed failures."""
    return run_decision(pact, run, verdicts, confidence, store.open_human_failures(run["agent"], pact.id, pact.hash))


def stored_pact(store: Any, run: Mapping[str, Any]) -> Pact:
    """The pact version a run was made against (from the store, else its unchanged file)."""
    return pact_of_run(run, store.pact_spec(run["pact_hash"]))


def after_run(store: Any, pact: Pact, run_id: str, confidence: float, now: datetime) -> Assessment:
    """Once a run is stored complete: the agent's standing decision, recorded with its trust score."""
    run = store.run(run_id)
    a = assess_agent(store, pact, run["agent"], now, confidence)
    record(store, a, "run", run_id)
    return a


def assessments(
    store: Any, now: Any, confidence: float, agent: str | None = None, pact_id: str | None = None
) -> tuple[list[Assessment], list[str]]:
    """Every agent's standing on every pact it has runs of (or the one asked for), with notes on skipped ones."""
    out, notes = [], []
    for k in store.agent_pacts():
        if (agent is not None and k["agent"] != agent) or (pact_id is not None and k["pact_id"] != pact_id):
            continue
        spec = store.pact_spec(k["pact_hash"])
        try:
            pact = Pact.model_validate_json(spec) if spec else stored_pact(store, store.run(k["last_run_id"]))
        except ConfigError as exc:
            notes.append(f"skipped {k['agent']} / {k['pact_id']}: {exc}")
            continue
        a = assess_agent(store, pact, k["agent"], now, confidence)
        out.append(replace(a, last_run=(k["last_run_id"], k["last_finished_at"])))
    return out, notes
