"""The store's SQL fragments and row shapes: how records become rows and rows records (no connection here)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from harness.types import (
    Case,
    CaseResult,
    Vote,
)


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


_EXPORT_FORMATS = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER", "jsonl": "FORMAT json"}
_EXPORT_TABLES = (
    ("cases", "case_id"),
    ("transcripts", "case_id"),
    ("votes", "case_id, clause_id, judge, sample"),
    ("verdicts", "case_id, clause_id"),
)

_IN_QUEUE = "v.outcome = 'inconclusive' OR (v.decided_by = 'panel' AND coalesce(v.entropy_bits, 0) > 0)"
_REVIEW_SCOPES = {"queue": _IN_QUEUE, "panel": f"v.decided_by = 'panel' OR {_IN_QUEUE}", "all": "true"}
_UNPARSEABLE_VOTE = (
    "coalesce(abstain_code = 'unparseable', abstain_code IS NULL AND "
    "(abstain_reason LIKE 'unparseable reply%' OR abstain_reason = 'empty reply'))"
)
_FINISHED = "SELECT run_id, max(event_at) AS finished_at FROM run_events WHERE event = 'completed' GROUP BY run_id"
_LATEST_LABELS = (
    "SELECT * FROM human_labels QUALIFY row_number() OVER (PARTITION BY run_id, case_id, clause_id "
    "ORDER BY labelled_at DESC, seq DESC) = 1"
)
_RESULT_COLS = (
    "c.clause_id, c.severity, c.n, c.passed, c.failed, c.errors, c.pending, c.inconclusive, c.rate, "
    "c.ci_low, c.ci_high, c.threshold, c.status, c.confidence, c.cases_needed"
)

_RUNS_SQL = """
SELECT r.run_id, r.started_at, r.pact_id, r.pact_version, r.pact_hash, r.suite_id, r.suite_hash, r.suite_path,
       r.agent, r.agent_version, r.target_spec, r.panel_id, r.panel_hash, r.harness_version, r.options, r.n_cases,
       (SELECT e.event FROM run_events e WHERE e.run_id = r.run_id ORDER BY e.event_at DESC LIMIT 1) AS status,
       (SELECT e.detail FROM run_events e WHERE e.run_id = r.run_id ORDER BY e.event_at DESC LIMIT 1) AS status_detail,
       (SELECT max(e.event_at) FROM run_events e WHERE e.run_id = r.run_id AND e.event = 'completed') AS finished_at,
       (SELECT count(*) FROM transcripts t WHERE t.run_id = r.run_id) AS n_done
FROM runs r
"""


def _case_row(run_id: str, c: Case) -> dict[str, Any]:
    return dict(
        run_id=run_id,
        case_id=c.id,
        case_hash=c.hash,
        suite_id=c.suite_id,
        clause_ids=_j(list(c.clause_ids)),
        input=_j(c.input if isinstance(c.input, str) else [m.model_dump() for m in c.input]),
        system=c.system,
        context=_j([d.model_dump() for d in c.context]),
        expected=_j(c.expected),
        tags=_j(list(c.tags)),
        mutated_from=c.mutated_from,
        mutator=c.mutator,
        mutation=_j(c.mutation) if c.mutation else None,
    )


def _transcript_row(r: CaseResult, now: datetime) -> dict[str, Any]:
    t = r.transcript
    return dict(
        run_id=t.run_id,
        case_id=t.case_id,
        output=t.output,
        tool_calls=_j([c.model_dump() for c in t.tool_calls]),
        latency_ms=t.latency_ms,
        tokens_in=t.tokens_in,
        tokens_out=t.tokens_out,
        cost_usd=t.cost_usd,
        error=t.error,
        recorded_at=now,
    )


def _vote_row(run_id: str, v: Vote, now: datetime) -> dict[str, Any]:
    return dict(run_id=run_id, **v.model_dump(exclude={"flags"}), flags=_j(list(v.flags)), recorded_at=now)


def _vote_rollup(votes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (run, clause, judge, model, cached) of a batch of vote rows: counts and sums (NULL when no
    vote of the group has a value, like SQL's sum)."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for v in votes:
        key = (v["run_id"], v["clause_id"], v["judge"], v["model"], v["cached"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = dict(
                run_id=key[0],
                clause_id=key[1],
                judge=key[2],
                model=key[3],
                cached=key[4],
                votes=0,
                abstains=0,
                priced=0,
                tokens_in=None,
                tokens_out=None,
                cost_usd=None,
                latency_ms=0.0,
            )
        g["votes"] += 1
        g["abstains"] += v["label"] == "abstain"
        g["priced"] += v["cost_usd"] is not None
        for col in ("tokens_in", "tokens_out", "cost_usd"):
            if v[col] is not None:
                g[col] = (g[col] or 0) + v[col]
        g["latency_ms"] += v["latency_ms"] or 0.0
    return list(groups.values())


def _vote(row: dict[str, Any]) -> Vote:
    return Vote.model_validate({**row, "flags": tuple(json.loads(row["flags"]))})


# the tables a batch of finished cases goes into, in the order they are written
RESULT_TABLES = ("transcripts", "check_results", "verdicts", "ballots", "votes", "vote_rollup")


def result_rows(run_id: str, results: Sequence[CaseResult], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """A batch of finished cases as the rows of RESULT_TABLES. Plain dicts: a worker process builds them and
    sends them to the writer, which then only inserts (cheaper to pickle than the records, and its CPU is the
    one every worker waits on)."""
    checks = [
        dict(
            run_id=run_id,
            case_id=c.case_id,
            clause_id=c.clause_id,
            idx=c.index,
            check_name=c.check,
            negated=c.negated,
            outcome=c.outcome,
            detail=c.detail,
        )
        for r in results
        for c in r.checks
    ]
    ballots = [b for r in results for b in r.ballots]
    ballot_rows = [
        dict(
            run_id=run_id,
            case_id=b.case_id,
            clause_id=b.clause_id,
            complete=b.complete,
            calls_saved=b.calls_saved,
            shuffle_seed=b.shuffle_seed,
        )
        for b in ballots
    ]
    votes = [_vote_row(run_id, v, now) for b in ballots for v in b.votes]
    return dict(
        transcripts=[_transcript_row(r, now) for r in results],
        check_results=checks,
        verdicts=[dict(run_id=run_id, **v.model_dump()) for r in results for v in r.verdicts],
        ballots=ballot_rows,
        votes=votes,
        vote_rollup=_vote_rollup(votes),  # what the cost views read (0003_views)
    )
