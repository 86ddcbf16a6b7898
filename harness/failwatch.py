"""Watches a run's calls for one cause failing most of them (a wrong target, dead judges): such a run is failed."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from harness.types import CaseResult

# A run is stopped once this many calls of one kind have been seen and this share of them failed the same way.
# 20 calls keeps a flaky endpoint (a few timeouts) from stopping a run; 80% is "most", not "some".
MIN_CALLS = 20
FAILED_SHARE = 0.8

_VARIABLE = re.compile(r"\d+(\.\d+)?|'[^']*'|\"[^\"]*\"|0x[0-9a-f]+", re.IGNORECASE)
_JUDGE_KIND = re.compile(r"^call failed \(([^)]*)\)")


def cause_key(message: str) -> str:
    """What makes two failures "the same way": the message with its numbers and quoted values taken out."""
    return _VARIABLE.sub("#", message.splitlines()[0] if message else "")[:160]


@dataclass
class _Tally:
    calls: int = 0
    causes: Counter[str] = field(default_factory=Counter)
    example: dict[str, str] = field(default_factory=dict)

    def add(self, key: str | None, message: str | None) -> None:
        self.calls += 1
        if key is not None:
            self.causes[key] += 1
            self.example.setdefault(key, (message or "").splitlines()[0][:300] if message else key)

    def dominant(self, min_calls: int, share: float) -> tuple[str, int] | None:
        if self.calls < min_calls or not self.causes:
            return None
        key, count = self.causes.most_common(1)[0]
        return (self.example[key], count) if count >= share * self.calls else None


# One case's calls as the watch counts them: (cause key, message) of its target call and of each judge call made,
# (None, None) for a call that did not fail. Small and plain, so a worker can send it with the case's rows.
Observed = tuple[tuple[str | None, str | None], list[tuple[str | None, str | None]]]


def observe(result: CaseResult) -> Observed:
    error = result.transcript.error
    judges: list[tuple[str | None, str | None]] = []
    for ballot in result.ballots:
        for vote in ballot.votes:
            if vote.cached:
                continue
            if vote.abstain_code != "call-failed":
                judges.append((None, None))
                continue
            reason = vote.abstain_reason or ""
            match = _JUDGE_KIND.match(reason)
            judges.append((match.group(1) if match else cause_key(reason), f"{vote.judge}: {reason}"))
    return (cause_key(error) if error is not None else None, error), judges


@dataclass
class FailureWatch:
    """Counts target calls and judge calls; `cause()` names the failure that took most of either, if one did.

    Judge failures are keyed by their kind (connection, auth, timeout, ...), not their text, because every judge
    names its own model in its errors: three dead judges fail "the same way" even though their messages differ.
    Unreadable replies are not call failures: a judge that answers in prose is evidence about the judge."""

    min_calls: int = MIN_CALLS
    share: float = FAILED_SHARE
    target: _Tally = field(default_factory=_Tally)
    judges: _Tally = field(default_factory=_Tally)

    def record(self, result: CaseResult) -> None:
        self.add(observe(result))

    def add(self, calls: Observed) -> None:
        """Count one case's calls as `observe` saw them (perhaps in a worker process)."""
        (target_key, target_error), judges = calls
        self.target.add(target_key, target_error)
        for key, message in judges:
            self.judges.add(key, message)

    def cause(self, final: bool = False) -> str | None:
        """One line saying why the run failed, or None. `final`: the run is over, so a run smaller than
        `min_calls` is judged on all its calls (a five-case run whose five target calls failed is failed too)."""
        for what, tally in (("target", self.target), ("judge", self.judges)):
            need = min(self.min_calls, max(tally.calls, 1)) if final else self.min_calls
            found = tally.dominant(need, self.share)
            if found is not None:
                example, count = found
                return f"{count} of {tally.calls} {what} calls failed the same way: {example}"
        return None
