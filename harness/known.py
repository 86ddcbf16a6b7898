"""Name filters (--pact, --agent, --clause, --judge) checked against what the store holds: an unknown name is a
one-line error listing the known ones, never an empty table that looks like an answer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.errors import ConfigError

MAX_LISTED = 30

# filter -> (what it names, the names the store holds; judges from the per-batch vote summary, not every vote)
_STORE_NAMES = {
    "pact": ("pact", "SELECT DISTINCT pact_id FROM runs"),
    "agent": ("agent", "SELECT DISTINCT agent FROM runs WHERE agent IS NOT NULL"),
    "clause": ("clause", "SELECT DISTINCT clause_id FROM clause_results"),
    "judge": ("judge", "SELECT DISTINCT judge FROM vote_rollup UNION SELECT DISTINCT judge FROM judge_stats"),
}
_RUN_NAMES = {
    "clause": ("clause", "SELECT DISTINCT clause_id FROM verdicts WHERE run_id = ?"),
    "judge": ("judge", "SELECT DISTINCT judge FROM vote_rollup WHERE run_id = ?"),
}


def require(flag: str, kind: str, value: str | None, known: Iterable[Any], scope: str) -> None:
    """Raise unless `value` (when given) is one of `known`; the message lists them, or says there are none."""
    if value is None:
        return
    names = sorted({str(k) for k in known if k is not None})
    if value in names:
        return
    if not names:
        raise ConfigError(f"{flag} {value}: no {kind} {value!r} in {scope}, which has no {kind}s yet")
    shown = ", ".join(names[:MAX_LISTED]) + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")
    raise ConfigError(f"{flag} {value}: no {kind} {value!r} in {scope}; known {kind}s: {shown}")


def _column(store: Any, sql: str, *params: Any) -> list[Any]:
    return [next(iter(row.values())) for row in store.query(sql, params)]


def check_filters(store: Any, **filters: str | None) -> None:
    """Every given store-wide filter (pact, agent, clause, judge) names something the store has."""
    for name, value in filters.items():
        if value is not None and name in _STORE_NAMES:
            kind, sql = _STORE_NAMES[name]
            require(f"--{name}", kind, value, _column(store, sql), str(store.path))


def check_run_filters(store: Any, run_id: str, **filters: str | None) -> None:
    """Every given filter (clause, judge) of a one-run command names something that run has."""
    store.run(run_id)  # an unknown run is its own error
    for name, value in filters.items():
        if value is not None and name in _RUN_NAMES:
            kind, sql = _RUN_NAMES[name]
            require(f"--{name}", kind, value, _column(store, sql, run_id), f"run {run_id}")
