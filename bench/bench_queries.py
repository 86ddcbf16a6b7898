"""Benchmark: the trend queries and the HTML report on a large store.

Fills a fresh store with 1,000 runs (999 of 1,000 cases and one of 5,000) judged by five judges on two jury
clauses: 10,040,000 votes, 4 million verdicts, 1 million cases and transcripts. The fill is DuckDB SQL over
range() run through `store.con` (a benchmark may reach the connection; the harness never does outside
store.py). Then it times every trend query (harness/queries.py over the 0003_views views), unfiltered and
for one pact and agent, and the report of the 5,000-case run, and prints them against the targets:
  each trend query under 1 s; the report of a 5,000-case run under 5 s.

    .venv/bin/python bench/bench_queries.py [--runs 1000] [--cases 1000] [--big-cases 5000] [--db FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import queries  # noqa: E402
from harness.report import render, report_path  # noqa: E402
from harness.store import Store  # noqa: E402

QUERY_TARGET_S = 1.0
REPORT_TARGET_S = 5.0
# name, model, $ per input token, $ per output token (None: a model litellm cannot price)
JUDGES = [
    ("j1", "openai/gpt-4o-mini", 0.15e-6, 0.6e-6),
    ("j2", "anthropic/claude-3-5-haiku", 0.8e-6, 4e-6),
    ("j3", "gemini/gemini-2.0-flash", 0.1e-6, 0.4e-6),
    ("j4", "openai/local-judge", None, None),
    ("j5", "mistral/mistral-small", 0.2e-6, 0.6e-6),
]
CLAUSES = [
    ("format-ok", "critical", 0.9),
    ("routing", "major", 0.85),
    ("tone", "minor", 0.8),
    ("helpful", "major", 0.8),
]
T0 = "TIMESTAMPTZ '2025-01-01 00:00:00+00'"

# Strings of 12 bytes or fewer are stored inline by DuckDB and repeated texts compress: the rows use short ids
# (bench-0042, case-00042) and a few fixed texts, and the votes are drawn first as small integers.
FILL: list[tuple[str, str]] = [
    # 4 pacts x 3 agents, a new agent version every 100 runs, one run an hour
    (
        "runs",
        """
    CREATE TEMP TABLE bench_runs AS
    SELECT i, printf('bench-%04d', i) AS run_id, @T0 + to_hours(i) AS started_at,
           'pact-' || (i % 4) AS pact_id, 'agent-' || (i % 3) AS agent, '1.' || (i // 100) AS agent_version,
           CASE WHEN i = @runs - 1 THEN @big ELSE @cases END AS n_cases
    FROM range(@runs) t(i);
    INSERT INTO runs (run_id, started_at, pact_id, pact_version, pact_hash, suite_id, suite_hash, suite_path, agent,
                      agent_version, target_spec, panel_id, harness_version, options, n_cases, panel_hash)
    SELECT run_id, started_at, pact_id, '1.0.0', sha256(pact_id), 'suite-' || pact_id, sha256('s' || pact_id),
           '/bench/' || pact_id, agent, agent_version, 'python:agents/' || agent || '.py:respond', 'bench-panel',
           '0.1.0', '{}', n_cases, 'panelhash'
    FROM bench_runs;
    INSERT INTO run_events SELECT run_id, started_at, 'started', NULL FROM bench_runs;
    INSERT INTO run_events SELECT run_id, started_at + INTERVAL 20 MINUTE, 'completed', NULL FROM bench_runs;
    INSERT INTO panels VALUES ('panelhash', 'bench-panel', '{}');
    """,
    ),
    (
        "cases and transcripts",
        """
    CREATE TEMP TABLE bench_cases AS
    SELECT r.i, c.n, hash(r.i, c.n) % 100 < 85 AS truth0, hash(c.n, 7) % 100 < 80 AS truth1,
           hash(c.n) % 100 < 95 AS det_ok
    FROM bench_runs r, (SELECT unnest(range(r.n_cases)) AS n) c;
    INSERT INTO cases (run_id, case_id, case_hash, suite_id, clause_ids, input, system, context, expected, tags)
    SELECT printf('bench-%04d', i), printf('case-%05d', n), printf('h%05d', n), 'suite',
           '["format-ok","routing","tone","helpful"]',
           '"The VPN drops every few minutes for the whole third floor since this morning; calls keep failing."',
           NULL, '[]', '{"priority": "P2", "route": "network-ops"}', '[]'
    FROM bench_cases;
    INSERT INTO transcripts (run_id, case_id, output, tool_calls, latency_ms, tokens_in, tokens_out, cost_usd, error,
                             recorded_at)
    SELECT printf('bench-%04d', i), printf('case-%05d', n),
           '{"priority": "P2", "route": "network-ops", "reply": "Thanks for the report: network-ops is on it."}',
           '[]', 200 + n % 300, 400 + n % 50, 60 + n % 20, (400 + n % 50) * 0.15e-6 + (60 + n % 20) * 0.6e-6,
           NULL, @T0 + to_hours(i) + to_seconds(n % 1200)
    FROM bench_cases;
    """,
    ),
    (
        "votes (and their rollup)",
        """
    -- label 0 pass, 1 fail, 2 abstain: each judge flips the ballot's true label 3-7% of the time
    CREATE TEMP TABLE bench_votes AS
    SELECT c.i, c.n, ck, jk,
           CASE WHEN hash(c.i, c.n, ck, jk) % 1000 < 4 THEN 2
                WHEN (hash(c.i, c.n, ck, jk) % 100 < 3 + jk) <> (CASE ck WHEN 0 THEN c.truth0 ELSE c.truth1 END)
                THEN 0 ELSE 1 END AS lab,
           hash(c.i, c.n) % 10 = 0 AS cached
    FROM bench_cases c, range(2) cl(ck), range(5) j(jk);
    INSERT INTO votes (run_id, case_id, clause_id, judge, model, sample, label, score, rationale, raw_reply,
                       prompt_hash, cache_key, abstain_reason, latency_ms, tokens_in, tokens_out, cost_usd, cached,
                       flags, recorded_at)
    SELECT printf('bench-%04d', i), printf('case-%05d', n), ['tone', 'helpful'][ck + 1], @judge_names[jk + 1],
           @judge_models[jk + 1], 0, ['pass', 'fail', 'abstain'][lab + 1], NULL,
           ['The reply is courteous and says what happens next.',
            'The reply is curt and does not say what happens next.', ''][lab + 1],
           ['{"verdict": "pass"}', '{"verdict": "fail"}', 'no json here'][lab + 1],
           printf('p%x', hash(n, ck) % 1000000), printf('k%x', hash(n, ck, jk) % 1000000),
           CASE WHEN lab = 2 THEN 'unparseable reply' END, 300 + hash(n, jk) % 900, 900 + n % 200, 40 + n % 30,
           (900 + n % 200) * @price_in[jk + 1] + (40 + n % 30) * @price_out[jk + 1], cached, '[]',
           @T0 + to_hours(i) + to_seconds(n % 1200)
    FROM bench_votes;
    INSERT INTO ballots SELECT printf('bench-%04d', i), printf('case-%05d', n), ['tone', 'helpful'][ck + 1], true, 0,
                               NULL
    FROM bench_cases, range(2) cl(ck);
    -- what Store.write_results writes beside each batch of votes
    INSERT INTO vote_rollup
    SELECT run_id, clause_id, judge, model, cached, count(*), count(*) FILTER (WHERE label = 'abstain'),
           count(cost_usd), sum(tokens_in), sum(tokens_out), sum(cost_usd), sum(latency_ms)
    FROM votes GROUP BY run_id, clause_id, judge, model, cached;
    """,
    ),
    (
        "verdicts and checks",
        """
    INSERT INTO verdicts (run_id, case_id, clause_id, outcome, decided_by, detail, method, panel_score, split,
                          entropy_bits, unanimous)
    SELECT printf('bench-%04d', i), printf('case-%05d', n), ['tone', 'helpful'][ck + 1],
           CASE WHEN p + f < 3 THEN 'inconclusive' WHEN p > f THEN 'pass' ELSE 'fail' END, 'panel',
           'majority ' || p || '-' || f, 'majority', p / nullif(p + f, 0), p || '-' || f,
           CASE WHEN p = 0 OR f = 0 THEN 0.0
                ELSE -(p / (p + f)) * log2(p / (p + f)) - (f / (p + f)) * log2(f / (p + f)) END,
           p + f >= 2 AND (p = 0 OR f = 0)
    FROM (SELECT i, n, ck, count(*) FILTER (WHERE lab = 0) AS p, count(*) FILTER (WHERE lab = 1) AS f
          FROM bench_votes GROUP BY i, n, ck);
    INSERT INTO verdicts (run_id, case_id, clause_id, outcome, decided_by, detail)
    SELECT printf('bench-%04d', i), printf('case-%05d', n), ['format-ok', 'routing'][ck + 1],
           CASE WHEN det_ok OR hash(n, ck) % 100 < 60 THEN 'pass' ELSE 'fail' END, 'checks', '1 check(s) passed'
    FROM bench_cases, range(2) cl(ck);
    INSERT INTO check_results (run_id, case_id, clause_id, idx, check_name, negated, outcome, detail)
    SELECT run_id, case_id, clause_id, 0, CASE clause_id WHEN 'format-ok' THEN 'json-valid' ELSE 'json-path' END,
           false, outcome, CASE outcome WHEN 'pass' THEN '$.route = ''network-ops''' ELSE 'route differs' END
    FROM verdicts WHERE run_id = printf('bench-%04d', @runs - 1) AND decided_by = 'checks';
    """,
    ),
    (
        "clause results, decisions, panel and judge stats",
        """
    CREATE TEMP TABLE bench_clauses (clause_id VARCHAR, position INTEGER, severity VARCHAR, threshold DOUBLE);
    INSERT INTO bench_clauses VALUES @clauses;
    INSERT INTO clause_results (run_id, clause_id, position, severity, n, passed, failed, errors, pending,
                                inconclusive, rate, ci_low, ci_high, threshold, status)
    SELECT run_id, clause_id, position, severity, n, passed, failed, 0, 0, inconclusive, rate,
           greatest(0, (rate + 1.96 ^ 2 / (2 * d) - 1.96 * sqrt(rate * (1 - rate) / d + 1.96 ^ 2 / (4 * d * d)))
                    / (1 + 1.96 ^ 2 / d)),
           least(1, (rate + 1.96 ^ 2 / (2 * d) + 1.96 * sqrt(rate * (1 - rate) / d + 1.96 ^ 2 / (4 * d * d)))
                    / (1 + 1.96 ^ 2 / d)),
           threshold, CASE WHEN rate >= threshold THEN 'met' ELSE 'breached' END
    FROM (SELECT v.run_id, v.clause_id, any_value(c.position) AS position, any_value(c.severity) AS severity,
                 any_value(c.threshold) AS threshold, count(*) AS n,
                 count(*) FILTER (WHERE outcome = 'pass') AS passed, count(*) FILTER (WHERE outcome = 'fail') AS failed,
                 count(*) FILTER (WHERE outcome = 'inconclusive') AS inconclusive,
                 count(*) FILTER (WHERE outcome IN ('pass', 'fail')) AS d,
                 count(*) FILTER (WHERE outcome = 'pass') / count(*) FILTER (WHERE outcome IN ('pass', 'fail')) AS rate
          FROM verdicts v JOIN bench_clauses c USING (clause_id) GROUP BY v.run_id, v.clause_id);
    INSERT INTO decisions (run_id, pact_id, decision, reasons, rule_index, decided_at)
    SELECT run_id, any_value(r.pact_id), CASE WHEN bool_or(status = 'breached') THEN 'restrict' ELSE 'approve' END,
           '["a clause is breached", "synthetic benchmark data"]', 1, any_value(r.started_at) + INTERVAL 20 MINUTE
    FROM clause_results JOIN runs r USING (run_id) GROUP BY run_id;
    INSERT INTO panel_stats (run_id, panel_id, panel_hash, method, n_ballots, n_incomplete, percent_agreement,
                             fleiss_kappa, alpha_nominal, alpha_ordinal, alpha_interval, stats, recorded_at)
    SELECT run_id, 'bench-panel', 'panelhash', 'majority', 2 * n_cases, 0, 0.8 + (i % 17) / 100,
           0.45 + (i % 23) / 100, 0.44 + (i % 23) / 100, NULL, NULL, '@kappa', started_at + INTERVAL 20 MINUTE
    FROM bench_runs;
    INSERT INTO judge_stats (run_id, judge, n, pass_rate, pass_ci_low, pass_ci_high, abstain_rate, abstain_ci_low,
                             abstain_ci_high, agreement_with_panel, agreement_ci_low, agreement_ci_high)
    SELECT printf('bench-%04d', i), @judge_names[jk + 1], count(*),
           count(*) FILTER (WHERE lab = 0) / count(*) FILTER (WHERE lab < 2), NULL, NULL,
           count(*) FILTER (WHERE lab = 2) / count(*), NULL, NULL, 0.97 - jk / 100, NULL, NULL
    FROM bench_votes GROUP BY i, jk;
    """,
    ),
]


def _sql_list(values: list[Any]) -> str:
    return (
        "["
        + ", ".join("NULL::DOUBLE" if v is None else f"'{v}'" if isinstance(v, str) else repr(v) for v in values)
        + "]"
    )


def _kappa_json() -> str:
    import json

    names = [j[0] for j in JUDGES]
    kappa = {
        a: {b: round(0.35 + 0.05 * ((i * 7 + k * 3) % 9) / 2, 3) for k, b in enumerate(names) if b != a}
        for i, a in enumerate(names)
    }
    return json.dumps({"cohen_kappa": kappa})


def fill(store: Store, runs: int, cases: int, big: int) -> tuple[str, float]:
    subs = {
        "@judge_names": _sql_list([j[0] for j in JUDGES]),
        "@judge_models": _sql_list([j[1] for j in JUDGES]),
        "@price_in": _sql_list([j[2] for j in JUDGES]),
        "@price_out": _sql_list([j[3] for j in JUDGES]),
        "@clauses": ", ".join(f"('{c}', {i}, '{s}', {t})" for i, (c, s, t) in enumerate(CLAUSES)),
        "@kappa": _kappa_json(),
        "@runs": str(runs),
        "@cases": str(cases),
        "@big": str(big),
        "@T0": T0,
    }
    total = 0.0
    for name, sql in FILL:
        for key, value in subs.items():
            sql = sql.replace(key, value)
        t = time.perf_counter()
        store.con.execute("BEGIN")
        store.con.execute(sql)
        store.con.execute("COMMIT")
        took = time.perf_counter() - t
        total += took
        print(f"  fill {name:<48} {took:6.1f} s", flush=True)
    t = time.perf_counter()
    store.con.execute("CHECKPOINT")
    total += time.perf_counter() - t
    return f"bench-{runs - 1:04d}", total


def _time(fn: Any, repeat: int = 3) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        frame = fn()
        best = min(best, time.perf_counter() - t)
        rows = len(frame)
    return best, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=1000, help="cases per run (default 1000)")
    ap.add_argument("--big-cases", type=int, default=5000, help="cases of the last run, the one reported")
    ap.add_argument("--db", type=Path, help="keep the filled store here (default: a temporary file)")
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="pactjury-bench-")
        args.db = Path(tmp.name) / "bench.duckdb"
    if args.db.exists():
        args.db.unlink()
    print(
        f"filling {args.db}: {args.runs} runs, {args.cases} cases each, one of {args.big_cases}; "
        f"{len(JUDGES)} judges x 2 jury clauses (cpus: {os.cpu_count()}, load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    with Store(args.db) as store:
        big_run, fill_s = fill(store, args.runs, args.cases, args.big_cases)
    size = args.db.stat().st_size / 1e6

    with Store(args.db, read_only=True) as store:
        counts = store.query(
            "SELECT (SELECT count(*) FROM votes) AS votes, "
            "(SELECT count(*) FROM verdicts) AS verdicts, "
            "(SELECT count(*) FROM transcripts) AS transcripts, "
            "(SELECT count(*) FROM runs) AS runs"
        )[0]
        print(
            f"filled in {fill_s:.1f} s: {counts['votes']:,} votes, {counts['verdicts']:,} verdicts, "
            f"{counts['transcripts']:,} transcripts, {counts['runs']:,} runs; file {size:,.0f} MB\n"
        )
        print(
            f"{'trend query (best of 3)':<24} {'all runs':>10} {'rows':>7} {'one pact+agent':>16} {'rows':>6}   target"
        )
        worst = 0.0
        for name in queries.TREND_VIEWS:
            fn = queries._FUNCTIONS[name]
            all_s, all_rows = _time(lambda fn=fn: fn(store))
            one_s, one_rows = _time(lambda fn=fn: fn(store, pact="pact-1", agent="agent-1"))
            worst = max(worst, all_s, one_s)
            ok = "ok" if max(all_s, one_s) < QUERY_TARGET_S else "SLOW"
            print(
                f"{name:<24} {all_s:>9.3f}s {all_rows:>7,} {one_s:>15.3f}s {one_rows:>6,}   "
                f"< {QUERY_TARGET_S:.0f} s {ok}"
            )

        t = time.perf_counter()
        html = render(store, big_run)
        report_s = time.perf_counter() - t
        out = report_path(args.db, big_run)
        out.write_text(html, encoding="utf-8")
        n_dis = html.count('<article class="dis"')
    print(
        f"\nslowest trend query: {worst:.3f} s (target < {QUERY_TARGET_S:.0f} s) "
        f"{'ok' if worst < QUERY_TARGET_S else 'SLOW'}"
    )
    print(
        f"report of run {big_run} ({args.big_cases:,} cases, {n_dis:,} disagreements, {len(html) / 1e6:.1f} MB "
        f"of HTML): {report_s:.2f} s (target < {REPORT_TARGET_S:.0f} s) "
        f"{'ok' if report_s < REPORT_TARGET_S else 'SLOW'}; written to {out}"
    )
    if tmp is not None:
        tmp.cleanup()
    return 0 if worst < QUERY_TARGET_S and report_s < REPORT_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
