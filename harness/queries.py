"""Trend queries over the store's views (migration 0003_views), as pandas DataFrames, and `pactjury trends`.

Every function takes the same optional filters (pact id, agent name, clause, a `since` time) and returns one
row per run (and clause or judge) in time order. The SQL views they read live in the DuckDB file itself, so
any DuckDB client can query them: v_clause_trend, v_clause_versions, v_panel_agreement, v_judge_drift,
v_run_cost, v_judge_cost, v_clause_cost, v_evidence_age (and v_run_status).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.errors import ConfigError

TREND_VIEWS = ("clauses", "versions", "agreement", "judges", "cost", "judge-cost", "clause-cost", "age")


def _where(filters: dict[str, Any], columns: dict[str, str]) -> tuple[str, list[Any]]:
    """WHERE clause for the given filters; `columns` maps a filter name to its column (or 'col >=' for times)."""
    parts, params = [], []
    for name, value in filters.items():
        if value is None or name not in columns:
            continue
        column = columns[name]
        parts.append(f"{column} ?" if column.endswith((">=", "<=")) else f"{column} = ?")
        params.append(value)
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


_RUN_FILTERS = {"pact": "pact_id", "agent": "agent", "agent_version": "agent_version", "since": "started_at >="}


def _select(store: Any, view: str, order: str, filters: dict[str, Any], extra: dict[str, str] | None = None) -> Any:
    where, params = _where(filters, {**_RUN_FILTERS, **(extra or {})})
    return store.frame(f"SELECT * FROM {view}{where} ORDER BY {order}", params)


def clause_trend(
    store: Any,
    pact: str | None = None,
    agent: str | None = None,
    clause: str | None = None,
    since: datetime | None = None,
    agent_version: str | None = None,
) -> Any:
    """Pass rate (with its Wilson interval, threshold and status) per clause per run, oldest first."""
    return _select(
        store,
        "v_clause_trend",
        "started_at, run_id, position",
        dict(pact=pact, agent=agent, clause=clause, since=since, agent_version=agent_version),
        {"clause": "clause_id"},
    )


_VERSIONS_SQL = """
SELECT pact_id, agent, agent_version, clause_id, count(*) AS runs, min(started_at) AS first_run_at,
       max(started_at) AS last_run_at, sum(passed) AS passed, sum(passed + failed + errors) AS decided,
       sum(passed) / nullif(sum(passed + failed + errors), 0) AS pooled_rate, min(rate) AS min_rate,
       max(rate) AS max_rate, arg_max_null(rate, started_at) AS latest_rate,
       arg_max(status, started_at) AS latest_status, arg_max(threshold, started_at) AS threshold,
       min(position) AS position
FROM v_clause_trend{where}
GROUP BY pact_id, agent, agent_version, clause_id
ORDER BY pact_id, agent, min(started_at), agent_version, min(position)
"""


def clause_versions(
    store: Any,
    pact: str | None = None,
    agent: str | None = None,
    clause: str | None = None,
    since: datetime | None = None,
) -> Any:
    """Per agent version and clause: runs, pooled pass rate over them, latest rate and status (the view
    v_clause_versions is the same with no filters; here the filters apply before aggregating)."""
    where, params = _where(
        dict(pact=pact, agent=agent, clause=clause, since=since), {**_RUN_FILTERS, "clause": "clause_id"}
    )
    return store.frame(_VERSIONS_SQL.format(where=where), params)


def panel_agreement(
    store: Any, pact: str | None = None, agent: str | None = None, since: datetime | None = None, **_: Any
) -> Any:
    """Panel agreement per run: percent agreement, Fleiss' kappa, Krippendorff's alphas, split verdicts."""
    return _select(store, "v_panel_agreement", "started_at, run_id", dict(pact=pact, agent=agent, since=since))


def judge_drift(
    store: Any,
    pact: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    judge: str | None = None,
    **_: Any,
) -> Any:
    """Each judge's pass rate and agreement with the panel per run, with the change since its previous run."""
    return _select(
        store,
        "v_judge_drift",
        "started_at, run_id, judge",
        dict(pact=pact, agent=agent, since=since, judge=judge),
        {"judge": "judge"},
    )


def run_costs(
    store: Any, pact: str | None = None, agent: str | None = None, since: datetime | None = None, **_: Any
) -> Any:
    """Tokens and cost per run: the target's and the jury's (cached votes cost nothing; NULL cost is unknown)."""
    return _select(store, "v_run_cost", "started_at, run_id", dict(pact=pact, agent=agent, since=since))


def judge_costs(
    store: Any,
    pact: str | None = None,
    agent: str | None = None,
    since: datetime | None = None,
    judge: str | None = None,
    **_: Any,
) -> Any:
    """Calls, tokens and cost per judge (and model) per run."""
    return _select(
        store,
        "v_judge_cost",
        "started_at, run_id, judge, model",
        dict(pact=pact, agent=agent, since=since, judge=judge),
        {"judge": "judge"},
    )


def clause_costs(
    store: Any,
    pact: str | None = None,
    agent: str | None = None,
    clause: str | None = None,
    since: datetime | None = None,
    **_: Any,
) -> Any:
    """Jury calls, tokens and cost per clause per run."""
    return _select(
        store,
        "v_clause_cost",
        "started_at, run_id, clause_id",
        dict(pact=pact, agent=agent, clause=clause, since=since),
        {"clause": "clause_id"},
    )


def evidence_age(
    store: Any, pact: str | None = None, agent: str | None = None, clause: str | None = None, **_: Any
) -> Any:
    """Per pact, agent and clause: when its latest evidence was recorded and how old it is now, oldest first."""
    where, params = _where(
        dict(pact=pact, agent=agent, clause=clause), {"pact": "pact_id", "agent": "agent", "clause": "clause_id"}
    )
    return store.frame(
        f"SELECT * FROM v_evidence_age{where} ORDER BY age_s DESC NULLS FIRST, pact_id, agent, clause_id", params
    )


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "clauses": clause_trend,
    "versions": clause_versions,
    "agreement": panel_agreement,
    "judges": judge_drift,
    "cost": run_costs,
    "judge-cost": judge_costs,
    "clause-cost": clause_costs,
    "age": evidence_age,
}


def trends(store: Any, views: tuple[str, ...] = TREND_VIEWS, **filters: Any) -> dict[str, Any]:
    """Every trend view (or the named ones) with the same filters."""
    out = {}
    for name in views:
        fn = _FUNCTIONS[name]
        kwargs = dict(filters)
        if fn in (clause_trend, clause_versions):
            kwargs.pop("judge", None)
        if fn is clause_versions:
            kwargs.pop("agent_version", None)
        out[name] = fn(store, **kwargs)
    return out


# ---------------------------------------------------------------- `since`

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """'7d' / '12h' / '2w' (that long ago) or an ISO date or time (UTC unless it names a zone)."""
    if text is None:
        return None
    if now is None:
        from harness.clock import now as clock_now

        now = clock_now()
    m = _RELATIVE.match(text)
    if m:
        return now - timedelta(**{_UNIT[m.group(2)]: float(m.group(1))})
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: use a duration (7d, 12h, 2w) or an ISO date/time (2025-01-31, 2025-01-31T08:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------- the command


def records(frame: Any) -> list[dict[str, Any]]:
    """JSON-ready rows: ISO times, null for missing values."""
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def _missing(v: Any) -> bool:
    try:
        return v is None or v != v  # NaN / NaT
    except (TypeError, ValueError):
        return False


def _pct(v: Any) -> str:
    return "-" if _missing(v) else f"{v:.0%}"


def _pp(v: Any) -> str:
    return "" if _missing(v) else f"{v * 100:+.0f}pp"


def _num(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if _missing(v) else fmt.format(v)


def _int(v: Any) -> str:
    return "-" if _missing(v) else str(int(v))


def _usd(v: Any, unpriced: Any = 0) -> str:
    text = "unknown" if _missing(v) else f"${v:.4f}"
    return text + (f" (+{int(unpriced)} unpriced)" if not _missing(v) and not _missing(unpriced) and unpriced else "")


def _when(v: Any) -> str:
    return "-" if _missing(v) else f"{v:%Y-%m-%d %H:%M}"


def _ci(row: Any, low: str, high: str) -> str:
    return "-" if _missing(row[low]) else f"{row[low]:.0%}-{row[high]:.0%}"


def human_age(seconds: Any) -> str:
    if _missing(seconds):
        return "never"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            rest = s % size
            sub = {"d": (3600, "h"), "h": (60, "m"), "m": (1, "s")}[unit]
            return f"{s // size}{unit}" + (f" {rest // sub[0]}{sub[1]}" if rest // sub[0] else "")
    return f"{s}s"


def _version(row: Any) -> str:
    return "-" if _missing(row["agent_version"]) else str(row["agent_version"])


# name -> (title, [(header, cell function)])
_COLUMNS: dict[str, tuple[str, list[tuple[str, Callable[[Any], str]]]]] = {
    "clauses": (
        "pass rate per clause per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("version", _version),
            ("clause", lambda r: r["clause_id"]),
            ("n", lambda r: _int(r["n"])),
            ("rate", lambda r: _pct(r["rate"])),
            ("95% CI", lambda r: _ci(r, "ci_low", "ci_high")),
            ("threshold", lambda r: _pct(r["threshold"])),
            ("status", lambda r: r["status"].upper() if r["status"] == "breached" else r["status"]),
        ],
    ),
    "versions": (
        "pass rate per clause per agent version",
        [
            ("version", _version),
            ("clause", lambda r: r["clause_id"]),
            ("runs", lambda r: _int(r["runs"])),
            ("passed/decided", lambda r: f"{_int(r['passed'])}/{_int(r['decided'])}"),
            ("pooled", lambda r: _pct(r["pooled_rate"])),
            ("min", lambda r: _pct(r["min_rate"])),
            ("max", lambda r: _pct(r["max_rate"])),
            ("latest", lambda r: _pct(r["latest_rate"])),
            ("latest status", lambda r: r["latest_status"]),
            ("last run", lambda r: _when(r["last_run_at"])),
        ],
    ),
    "agreement": (
        "panel agreement per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("version", _version),
            ("panel", lambda r: r["panel_id"]),
            ("method", lambda r: r["method"]),
            ("ballots", lambda r: _int(r["n_ballots"])),
            ("agreement", lambda r: _pct(r["percent_agreement"])),
            ("Fleiss k", lambda r: _num(r["fleiss_kappa"])),
            ("alpha", lambda r: _num(r["alpha_nominal"])),
            ("split", lambda r: f"{_int(r['split_verdicts'])}/{_int(r['panel_verdicts'])}"),
            ("inconclusive", lambda r: _int(r["inconclusive_verdicts"])),
        ],
    ),
    "judges": (
        "judge drift: pass rate and agreement with the other judges (leave-one-out) per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("version", _version),
            ("judge", lambda r: r["judge"]),
            ("votes", lambda r: _int(r["n"])),
            ("pass rate", lambda r: f"{_pct(r['pass_rate'])} {_pp(r['pass_rate_change'])}".strip()),
            ("agrees w/ others", lambda r: f"{_pct(r['agreement_with_panel'])} {_pp(r['agreement_change'])}".strip()),
            ("abstain", lambda r: _pct(r["abstain_rate"])),
        ],
    ),
    "cost": (
        "tokens and cost per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("version", _version),
            ("status", lambda r: r["status"] or "-"),
            ("cases", lambda r: _int(r["cases"])),
            ("target tokens", lambda r: f"{_int(r['target_tokens_in'])}/{_int(r['target_tokens_out'])}"),
            ("target cost", lambda r: _usd(r["target_cost_usd"])),
            (
                "judge calls",
                lambda r: f"{_int(r['judge_calls'])} (+{_int(r['cached_votes'])} cached)" if r["votes"] else "-",
            ),
            (
                "judge tokens",
                lambda r: f"{_int(r['judge_tokens_in'])}/{_int(r['judge_tokens_out'])}" if r["votes"] else "-",
            ),
            ("judge cost", lambda r: _usd(r["judge_cost_usd"], r["judge_unpriced"]) if r["votes"] else "-"),
        ],
    ),
    "judge-cost": (
        "tokens and cost per judge per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("judge", lambda r: r["judge"]),
            ("model", lambda r: r["model"]),
            ("calls", lambda r: _int(r["calls"])),
            ("cached", lambda r: _int(r["cached_votes"])),
            ("tokens", lambda r: f"{_int(r['tokens_in'])}/{_int(r['tokens_out'])}"),
            ("cost", lambda r: _usd(r["cost_usd"], r["unpriced_calls"])),
            ("mean latency", lambda r: _num(r["mean_latency_ms"], "{:.0f} ms")),
        ],
    ),
    "clause-cost": (
        "jury tokens and cost per clause per run",
        [
            ("started", lambda r: _when(r["started_at"])),
            ("run", lambda r: r["run_id"]),
            ("clause", lambda r: r["clause_id"]),
            ("calls", lambda r: _int(r["calls"])),
            ("cached", lambda r: _int(r["cached_votes"])),
            ("tokens", lambda r: f"{_int(r['tokens_in'])}/{_int(r['tokens_out'])}"),
            ("cost", lambda r: _usd(r["cost_usd"], r["unpriced_calls"])),
        ],
    ),
    "age": (
        "evidence age per pact and clause (oldest first)",
        [
            ("clause", lambda r: r["clause_id"]),
            ("age", lambda r: human_age(r["age_s"])),
            ("last evidence", lambda r: _when(r["last_evidence_at"])),
            ("last run", lambda r: r["last_run_id"] or "-"),
            ("version", lambda r: "-" if _missing(r["last_agent_version"]) else str(r["last_agent_version"])),
            ("status", lambda r: r["last_status"] or "-"),
            ("rate", lambda r: _pct(r["last_rate"])),
            ("runs", lambda r: _int(r["runs"])),
        ],
    ),
}


def format_trend(name: str, frame: Any, limit: int | None = None) -> str:
    from harness.report.text import format_table

    title, columns = _COLUMNS[name]
    total = len(frame)
    if limit is not None and name != "age" and total > limit:
        frame = frame.tail(limit)
    lead: list[tuple[str, Callable[[Any], str]]] = []
    for column, header in (("pact_id", "pact"), ("agent", "agent")):
        if column in frame.columns and frame[column].nunique(dropna=False) > 1:
            lead.append((header, _cell(column)))
    columns = lead + columns
    shown = f" (latest {len(frame)} of {total})" if len(frame) < total else ""
    if frame.empty:
        return f"== {title}\n(none)"
    rows = [[fn(r) for _, fn in columns] for r in frame.to_dict(orient="records")]
    return f"== {title}{shown}\n" + format_table([h for h, _ in columns], rows)


def robustness_trend(
    store: Any, pact: str | None = None, agent: str | None = None, clause: str | None = None, runs: int = 10
) -> list[dict[str, Any]]:
    """Robustness rows of the latest runs that had attacks (mutated cases), oldest first."""
    from harness.robustness import robustness

    found = store.query(
        "SELECT r.run_id, r.agent, r.agent_version, r.started_at FROM runs r WHERE (? IS NULL OR r.pact_id = ?) "
        "AND (? IS NULL OR r.agent = ?) AND EXISTS (SELECT 1 FROM cases c WHERE c.run_id = r.run_id "
        "AND c.mutated_from IS NOT NULL) ORDER BY r.started_at DESC LIMIT ?",
        [pact, pact, agent, agent, runs],
    )
    out = []
    for run in reversed(found):
        for row in robustness(store, run["run_id"]):
            if (clause is None or row["clause_id"] == clause) and row["n_attacks"]:
                out.append({**run, **row})
    return out


def _cell(column: str) -> Callable[[Any], str]:
    """The text of one column of a row, "-" where it is missing."""

    def text(row: Any) -> str:
        return "-" if _missing(row[column]) else str(row[column])

    return text
