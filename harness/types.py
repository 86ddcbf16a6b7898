"""The frozen records that pass between pipeline stages; validation only, no behaviour."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["critical", "major", "minor"]
Tier = Literal["low", "medium", "high", "critical"]
Verify = Literal["deterministic", "jury", "hybrid"]
Action = Literal["approve", "restrict", "re-evaluate", "escalate", "suspend", "withhold-settlement"]
CheckOutcome = Literal["pass", "fail", "error", "skip"]
# pending-jury: the clause needs judges and none has voted yet (never faked as pass or fail).
# not-applicable: every check of the clause was conditioned away for this case.
VerdictOutcome = Literal["pass", "fail", "error", "inconclusive", "pending-jury", "not-applicable"]
ClauseStatus = Literal["met", "breached", "inconclusive", "pending-jury", "no-evidence"]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
# case ids may also carry `~`: a mutated case is `<original id>~<mutator>[-k]`
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-~]*$"


class Record(BaseModel):
    """Base for every record: frozen, and unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- pact


class CheckSpec(Record):
    """One deterministic check as written in a pact clause (params validated by the check registry)."""

    check: str
    negate: bool = False
    when: str | None = None  # run only when case.expected[when] is truthy
    unless: str | None = None  # run only when case.expected[unless] is falsy or absent
    params: dict[str, Any] = Field(default_factory=dict)


class Clause(Record):
    id: str = Field(pattern=ID_PATTERN)
    claim: str = Field(min_length=1)
    verify: Verify
    checks: tuple[CheckSpec, ...] = ()
    rubric: str | None = None
    threshold: float = Field(ge=0.0, le=1.0)
    severity: Severity
    freshness_s: int | None = Field(default=None, gt=0)


class ConsequenceRule(Record):
    """Evaluated top-down, first match wins; an empty `when` matches always."""

    when: dict[str, Any] = Field(default_factory=dict)
    action: Action
    reason: str | None = None


class Pact(Record):
    id: str = Field(pattern=ID_PATTERN)
    version: str = Field(min_length=1)
    hash: str
    tier: Tier
    owner: str = Field(min_length=1)
    description: str | None = None
    freshness_s: int = Field(gt=0)
    clauses: tuple[Clause, ...]
    consequences: tuple[ConsequenceRule, ...]

    def clause(self, clause_id: str) -> Clause:
        for c in self.clauses:
            if c.id == clause_id:
                return c
        raise KeyError(clause_id)


# ---------------------------------------------------------------- suite


class Message(Record):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ContextDoc(Record):
    id: str = Field(pattern=ID_PATTERN)
    title: str | None = None
    text: str


class Case(Record):
    id: str = Field(pattern=CASE_ID_PATTERN)
    suite_id: str
    clause_ids: tuple[str, ...] = Field(min_length=1)
    input: Union[str, tuple[Message, ...]]
    system: str | None = None
    context: tuple[ContextDoc, ...] = ()
    expected: dict[str, Any] = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    mutated_from: str | None = None
    mutator: str | None = None  # the adversarial mutator that made this case from `mutated_from`
    mutation: dict[str, Any] = Field(default_factory=dict)  # what the mutator did (seed, params, detail)
    # Tool schemas (OpenAI function format) offered to a model target: the suite's `tools:`, or the case's own
    tools: tuple[dict[str, Any], ...] = ()
    hash: str = ""  # content hash of every field but tags (mutator and mutation included)

    def messages(self) -> list[dict[str, str]]:
        """Chat messages for a chat target: system prompt (with context documents) then the input."""
        system = self.system or ""
        if self.context:
            docs = "\n\n".join(f"[document {d.id}{': ' + d.title if d.title else ''}]\n{d.text}" for d in self.context)
            system = f"{system}\n\nContext documents:\n{docs}".strip()
        out: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        if isinstance(self.input, str):
            out.append({"role": "user", "content": self.input})
        else:
            out.extend({"role": m.role, "content": m.content} for m in self.input)
        return out

    def payload(self) -> dict[str, Any]:
        """The JSON shape handed to Python and shell-command targets."""
        # An attack must not announce itself: a mutated case shows the agent neither its mutator's name
        # (in the id) nor the adversarial tags.
        return {
            "id": f"{self.mutated_from}-{self.hash[:8]}" if self.mutator and self.mutated_from else self.id,
            "suite_id": self.suite_id,
            "clauses": list(self.clause_ids),
            "input": self.input if isinstance(self.input, str) else [m.model_dump() for m in self.input],
            "system": self.system,
            "context": [d.model_dump() for d in self.context],
            "messages": self.messages(),
            "tags": [t for t in self.tags if t != "adversarial" and not t.startswith("mut:")],
            **({"tools": list(self.tools)} if self.tools else {}),
        }


class Suite(Record):
    id: str = Field(pattern=ID_PATTERN)
    hash: str
    description: str | None = None
    cases: tuple[Case, ...]


# ---------------------------------------------------------------- run evidence


class ToolCall(Record):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @field_validator("arguments", mode="before")
    @classmethod
    def _parse_json_arguments(cls, v: Any) -> Any:
        # OpenAI-style tool calls carry arguments as a JSON string.
        if isinstance(v, str):
            import json

            try:
                parsed = json.loads(v) if v.strip() else {}
            except ValueError:
                return {"_raw": v}
            return parsed if isinstance(parsed, dict) else {"_value": parsed}
        return v if v is not None else {}


class Transcript(Record):
    run_id: str
    case_id: str
    output: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    latency_ms: float = 0.0
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None  # None means unknown, never 0 by default
    error: str | None = None


class CheckResult(Record):
    case_id: str
    clause_id: str
    index: int  # position of the check within its clause
    check: str
    negated: bool = False
    outcome: CheckOutcome
    detail: str = ""


class Verdict(Record):
    case_id: str
    clause_id: str
    outcome: VerdictOutcome
    decided_by: Literal["checks", "panel", "target-error", "none"]
    detail: str = ""
    # set when a panel decided: the method, its score (pass share, mean score or posterior) and the split
    method: str | None = None
    panel_score: float | None = None
    split: str | None = None
    entropy_bits: float | None = None
    unanimous: bool | None = None


class CaseResult(Record):
    """Everything one case produced; stored atomically so a resumed run never half-redoes a case."""

    case: Case
    transcript: Transcript
    checks: tuple[CheckResult, ...]
    verdicts: tuple[Verdict, ...]
    ballots: tuple[Ballot, ...] = ()  # their verdicts are aggregated over the whole run when it finishes


class ClauseResult(Record):
    clause_id: str
    severity: Severity
    n: int  # cases that tested the clause
    passed: int
    failed: int
    errors: int
    pending: int
    inconclusive: int
    rate: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    threshold: float
    status: ClauseStatus
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)  # of the Wilson interval that decided the status
    # further cases needed to decide an inconclusive clause if the observed rate held (None: not estimable)
    cases_needed: int | None = None


class PactDecision(Record):
    pact_id: str
    decision: Action
    reasons: tuple[str, ...]
    rule_index: int | None = None


# ---------------------------------------------------------------- the jury

VoteLabel = Literal["pass", "fail", "abstain"]
PanelOutcome = Literal["pass", "fail", "inconclusive"]


class Vote(Record):
    """One judge's vote on one (case, clause); an unreadable or failed reply is an abstain with its reason."""

    case_id: str
    clause_id: str
    judge: str
    model: str
    sample: int = 0  # index when a judge casts several votes (samples > 1)
    label: VoteLabel
    score: float | None = None  # ordinal scale 1-5 when the panel uses one
    rationale: str = ""
    raw_reply: str = ""
    prompt_hash: str = ""
    cache_key: str = ""  # identity of the judge call (model, prompt, parameters): equal keys may share a vote
    abstain_reason: str | None = None
    # Why it abstained, as a code to count by: "unparseable" (empty, garbled or self-contradicting reply) or
    # "call-failed" (no reply at all); None for a pass or fail, and on votes stored before the code existed.
    abstain_code: Literal["unparseable", "call-failed"] | None = None
    latency_ms: float = 0.0
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    flags: tuple[str, ...] = ()  # e.g. "same-family" when the judge shares the target's model family


class Ballot(Record):
    case_id: str
    clause_id: str
    votes: tuple[Vote, ...]
    complete: bool = True  # False when an adaptive panel stopped early
    calls_saved: int = 0
    shuffle_seed: int | None = None  # the seed that ordered the context items shown to the judges


class PanelDecision(Record):
    """What an aggregation method makes of one ballot."""

    outcome: PanelOutcome
    reason: str = ""
    score: float | None = None  # e.g. the weighted pass share, mean score or posterior P(pass)


class JudgeSpec(Record):
    name: str = Field(pattern=ID_PATTERN)
    model: str = Field(min_length=1)  # any litellm model string, e.g. openai/gpt-4o-mini or local/gemma-3-270m
    rubric: str = Field(default="default", pattern=ID_PATTERN)  # judges/rubrics/<rubric>.j2
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = None
    max_tokens: int = Field(default=512, gt=0)
    weight: float = Field(default=1.0, gt=0.0)
    samples: int = Field(default=1, ge=1, le=20)
    api_base: str | None = None
    api_key_env: str | None = None  # the variable's *name*; keys are never written in files
    timeout_s: float = Field(default=60.0, gt=0.0)
    retries: int = Field(default=3, ge=0, le=10)
    family: str | None = None  # overrides the family guessed from the model string
    structured: Literal["auto", "on", "off"] = "auto"  # ask for JSON-schema output where supported
    # Whether the rubric sees the case's system prompt. A long one (a suite's shared instructions) dominates a
    # small local judge's prompt and its reading time; the claim, input, output and reference notes remain.
    show_system: bool = True
    # False: this judge's calls go through litellm even where the OpenAI-compatible fast lane could take them
    fast_lane: bool = True


class BiasOptions(Record):
    same_family: Literal["exclude", "flag", "allow"] = "flag"
    shuffle_context: bool = True
    seed: int = 0


class PanelSpec(Record):
    id: str = Field(pattern=ID_PATTERN)
    hash: str = ""
    description: str | None = None
    judges: tuple[JudgeSpec, ...] = Field(min_length=1)
    scale: Literal["binary", "ordinal"] = "binary"
    pass_mark: float = Field(default=4.0, ge=1.0, le=5.0)  # ordinal: a score at or above it passes
    method: str = "majority"
    fraction: float = Field(default=2 / 3, gt=0.5, le=1.0)
    quorum: int | None = Field(default=None, ge=1)  # None: a majority of the judges' votes
    tie: Literal["fail", "pass", "inconclusive"] = "fail"
    bias: BiasOptions = Field(default_factory=BiasOptions)
    adaptive: bool = False
    # Adaptive panels: the share of ballots on which every judge is asked all the same, drawn by a hash of
    # (bias.seed, case, clause). Agreement statistics use these alone: the ballots an adaptive jury completes
    # on its own are the ones whose first judges split, a sample biased towards disagreement.
    audit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    concurrency: int = Field(default=32, ge=1)
    provider_concurrency: dict[str, int] = Field(default_factory=dict)


CaseResult.model_rebuild()


# ---------------------------------------------------------------- rows the store hands to other modules


class RunRow(TypedDict):
    """A run as the store reads it back (Store.run, Store.runs): what was asked, and where it stands now."""

    run_id: str
    started_at: datetime
    pact_id: str
    pact_version: str
    pact_hash: str
    suite_id: str
    suite_hash: str
    suite_path: str
    agent: str | None
    agent_version: str | None
    target_spec: str
    panel_id: str | None
    panel_hash: str | None
    harness_version: str
    options: dict[str, Any]  # decoded from JSON by Store.run; the raw JSON text in Store.runs
    n_cases: int
    status: str  # the latest event: started, resumed, aborted, failed, completed
    status_detail: str | None  # that event's detail (why a run aborted or failed)
    finished_at: datetime | None
    n_done: int


class ClauseRow(TypedDict):
    """A stored clause result (Store.clause_results): counts, rate, interval, status."""

    clause_id: str
    severity: Severity
    n: int
    passed: int
    failed: int
    errors: int
    pending: int
    inconclusive: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float
    status: ClauseStatus
    confidence: float
    cases_needed: int | None


class EvidenceRow(ClauseRow):
    """A completed run's current clause result (Store.evidence_rows), which harness/decision.py decides from."""

    run_id: str
    revision: int
    finished_at: datetime
    agent_version: str | None


class HumanFailureRow(TypedDict):
    """A human-confirmed failure not yet superseded by a later pass (Store.open_human_failures)."""

    run_id: str
    case_id: str
    clause_id: str
    reviewer: str | None
    note: str | None
    labelled_at: datetime
