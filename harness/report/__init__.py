"""The HTML report of one run: one self-contained file (inline CSS, SVG and a little vanilla JS; nothing fetched).

Everything shown comes from the store. Agent, case and judge text is untrusted: the template is rendered
with autoescape on, never marks such text safe, and the filter script reads only data attributes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__

TEMPLATES = Path(__file__).with_name("templates")
TREND_RUNS = 30  # earlier runs of the same pact and agent drawn in the trend charts

_DISAGREEMENT_CHECKS = """
SELECT c.case_id, c.clause_id, c.idx, c.check_name, c.negated, c.outcome, c.detail
FROM check_results c
WHERE c.run_id = ? AND c.case_id IN (
    SELECT case_id FROM verdicts WHERE run_id = ? AND decided_by = 'panel'
      AND (outcome = 'inconclusive' OR NOT coalesce(unanimous, false)))
ORDER BY c.case_id, c.clause_id, c.idx
"""


def report_path(db: Path, run_id: str) -> Path:
    """Beside the database: results/<run_id>.html for the default results/pactjury.duckdb."""
    return Path(db).parent / f"{run_id}.html"


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, digits=0: "–" if v is None else f"{v * 100:.{digits}f}%"
    env.filters["num"] = lambda v, fmt="{:.2f}": "–" if v is None else fmt.format(v)
    env.filters["usd"] = _usd
    env.filters["when"] = lambda v: "–" if v is None else f"{v:%Y-%m-%d %H:%M:%S} UTC"
    env.filters["thousands"] = lambda v: "–" if v is None else f"{int(v):,}"
    env.filters["csp_hash"] = _csp_hash
    return env


def _csp_hash(script: Any) -> str:
    """The Content-Security-Policy source for one inline script: only that exact script may run."""
    import base64
    import hashlib

    return "sha256-" + base64.b64encode(hashlib.sha256(str(script).encode("utf-8")).digest()).decode("ascii")


def _usd(value: Any, unpriced: int = 0) -> str:
    if value is None:
        return "unknown" if not unpriced else f"unknown ({unpriced} unpriced)"
    return f"${value:.4f}" + (f" + {unpriced} unpriced" if unpriced else "")


def _text(value: Any) -> str:
    """A case input (text or chat messages) as plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(
            f"[{m.get('role', '?')}] {m.get('content', '')}" if isinstance(m, dict) else str(m) for m in value
        )
    return json.dumps(value, indent=2, ensure_ascii=False)


def _pretty(output: str) -> str:
    """Agent output, pretty-printed when it is a JSON object or array (still shown as text)."""
    stripped = output.strip()
    if stripped[:1] in "{[":
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return output


def _in_utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value


def build_context(store: Any, run_id: str, trend_runs: int = TREND_RUNS) -> dict[str, Any]:
    from harness.jury.views import ballots_line, disagreements, judge_rows, panel_summary
    from harness.report import svg

    run = store.run(run_id)
    for key in ("started_at", "finished_at"):
        run[key] = _in_utc(run.get(key))
    if hasattr(store, "current_clause_results"):  # the latest human-review revision, where there is one
        revision, clauses = store.current_clause_results(run_id)
        decision = store.current_run_decision(run_id)
    else:
        revision, clauses, decision = 0, store.clause_results(run_id), store.decision(run_id)
    for c in clauses:
        c["chart"] = svg.ci_bar(c["rate"], c["ci_low"], c["ci_high"], c["threshold"], c["status"])
        c["undecided"] = c["pending"] + c["inconclusive"]
        c["human_labels"] = c.get("human_labels") or 0
    from harness.trust import add_power_figures

    add_power_figures(clauses)  # cases for an 80% chance of deciding, beside cases_needed
    status_counts: dict[str, int] = {}
    for c in clauses:
        status_counts[c["status"]] = status_counts.get(c["status"], 0) + 1

    panel = panel_summary(store, run_id)
    judges: list[dict[str, Any]] = []
    heatmap = None
    jury_cost = None
    if panel:
        judges = judge_rows(panel)
        names = sorted(panel.get("cohen_kappa") or {}) or sorted(j["judge"] for j in judges)
        if len(names) > 1:
            heatmap = svg.kappa_heatmap(names, panel.get("cohen_kappa") or {})
        priced = [c["cost_usd"] for c in panel["costs"] if c["cost_usd"] is not None]
        jury_cost = dict(
            cost_usd=sum(priced) if priced else None,
            unpriced=sum(c["unpriced_calls"] for c in panel["costs"]),
            calls=sum(c["calls"] for c in panel["costs"]),
            cached=sum(c["cached"] for c in panel["costs"]),
            tokens_in=sum(c["tokens_in"] or 0 for c in panel["costs"]),
            tokens_out=sum(c["tokens_out"] or 0 for c in panel["costs"]),
        )

    from harness.robustness import robustness

    robust = [r for r in robustness(store, run_id) if r["n_attacks"]]
    trends = _trends(store, run, trend_runs, [c["clause_id"] for c in clauses], svg)
    review = _review(store, run_id)
    items = _disagreements(store, run_id, disagreements, review["by_item"])
    dis_clauses = sorted({d["clause_id"] for d in items})
    dis_judges = sorted({v["judge"] for d in items for v in d["votes"]})
    from harness.clock import now as clock_now

    return dict(
        run=run,
        clauses=clauses,
        status_counts=status_counts,
        decision=decision,
        revision=revision,
        totals=store.run_totals(run_id),
        panel=panel,
        panel_line=ballots_line(panel) if panel else None,
        judges=judges,
        heatmap=heatmap,
        jury_cost=jury_cost,
        trends=trends,
        robustness=robust,
        disagreements=items,
        dis_clauses=dis_clauses,
        dis_judges=dis_judges,
        trend_limit=trend_runs,
        generated_at=clock_now(),
        version=__version__,
        labels=review["labels"],
        calibration=review["calibration"],
        failed_checks=review["failed_checks"],
    )


def _review(store: Any, run_id: str) -> dict[str, Any]:
    """Human labels (latest per item, with reviewer and note), judge calibration per selection, failed checks."""
    if not hasattr(store, "latest_labels"):
        return dict(labels=[], by_item={}, calibration=None, failed_checks=[])
    from harness.review import run_calibration

    labels = store.latest_labels(run_id)
    for lab in labels:
        lab["labelled_at"] = _in_utc(lab["labelled_at"])
    failed = store.failed_checks(run_id)
    return dict(
        labels=labels,
        by_item={(r["case_id"], r["clause_id"]): r for r in labels},
        calibration=run_calibration(store, run_id) if labels else None,
        failed_checks=failed,
    )


def _trends(store: Any, run: dict[str, Any], limit: int, clause_order: list[str], svg: Any) -> list[dict[str, Any]]:
    # Rows straight from v_clause_trend (the view `pactjury trends clauses` reads), not a DataFrame: pandas and
    # pyarrow (~60 MB) would otherwise be imported by every run's report.
    agent = "" if run["agent"] is None else " AND agent = ?"
    params = [run["pact_id"], run["started_at"]] + ([] if run["agent"] is None else [run["agent"]])
    rows = store.query(
        f"SELECT * FROM v_clause_trend WHERE pact_id = ? AND started_at <= ?{agent} ORDER BY started_at, run_id, position",
        params,
    )
    runs = set(list(dict.fromkeys(r["run_id"] for r in rows))[-limit:])
    rows = _post_review(store, [r for r in rows if r["run_id"] in runs])
    out = []
    for clause_id in clause_order:
        points = [dict(r, started_at=r["started_at"].astimezone(UTC)) for r in rows if r["clause_id"] == clause_id]
        if not points:
            continue
        rates = [p["rate"] for p in points if p["rate"] is not None]
        out.append(
            dict(
                clause_id=clause_id,
                runs=len(points),
                threshold=points[-1]["threshold"],
                latest=points[-1]["rate"],
                first=rates[0] if rates else None,
                versions=list(dict.fromkeys(p["agent_version"] or "-" for p in points)),
                chart=svg.trend_chart(points, points[-1]["threshold"], run["run_id"]),
            )
        )
    return out


_LATEST_REVISIONS = """
SELECT run_id, clause_id, revision, passed, failed, errors, pending, inconclusive, rate, ci_low, ci_high, status
FROM clause_result_revisions WHERE run_id IN ({marks})
QUALIFY revision = max(revision) OVER (PARTITION BY run_id)
"""


def _post_review(store: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trend points with each run's latest human-review revision in place of the jury's original figures."""
    runs = sorted({r["run_id"] for r in rows})
    if not runs or not hasattr(store, "current_clause_results"):
        return rows
    revised = {
        (r["run_id"], r["clause_id"]): r
        for r in store.query(_LATEST_REVISIONS.format(marks=", ".join("?" * len(runs))), runs)
    }
    return [{**r, **revised.get((r["run_id"], r["clause_id"]), {})} for r in rows]


def _disagreements(
    store: Any, run_id: str, disagreements: Any, labels: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    items = disagreements(store, run_id, limit=None)
    if not items:
        return []
    checks: dict[str, list[dict[str, Any]]] = {}
    for c in store.query(_DISAGREEMENT_CHECKS, [run_id, run_id]):
        checks.setdefault(c["case_id"], []).append(c)
    for rank, d in enumerate(items, 1):
        d["rank"] = rank
        d["input_text"] = _text(d["input"])
        d["output_text"] = _pretty(d["output"])
        d["expected_text"] = json.dumps(d["expected"], indent=2, ensure_ascii=False) if d["expected"] else ""
        d["tool_calls_text"] = json.dumps(d["tool_calls"], indent=2, ensure_ascii=False) if d["tool_calls"] else ""
        d["checks"] = checks.get(d["case_id"], [])
        d["dissent"] = sorted({v["judge"] for v in d["votes"] if v["label"] != d["outcome"]})
        d["judges"] = sorted({v["judge"] for v in d["votes"]})
        d["human"] = labels.get((d["case_id"], d["clause_id"]))  # a reviewer's label overrides the jury's outcome
        d["status"] = d["human"]["label"] if d["human"] else d["outcome"]
    return items


def render(store: Any, run_id: str) -> str:
    return _environment().get_template("run.html.j2").render(**build_context(store, run_id))


def write_report(store: Any, run_id: str, path: Path) -> Path:
    html = render(store, run_id)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        from harness.errors import StoreError

        raise StoreError(f"{path}: cannot write the report ({exc.strerror})") from None
    return path
