"""Trend queries, paired comparison and export, on a store filled by real runs (tests/evidence_store.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import evidence_store as ev
import pytest
from evidence_store import cli
from suitefiles import write_suite
from test_run_cli import rows

from harness import queries
from harness.stats.compare import compare_runs, conclusion, mcnemar_exact, paired_diff_ci
from harness.store import Store

pytestmark = pytest.mark.timeout(180)

CLAUSES = ["says-hello", "label-right", "tone", "helpful"]


# ---------------------------------------------------------------- what the scripted judges must produce


def expected_votes(n: int, clause: str) -> dict[str, str]:
    """The scripted judges (evidence_store.judges), restated: the figures below are derived from this."""
    return {
        "ev-a": "pass",
        "ev-b": "fail" if clause == "helpful" and n % 3 == 0 else "pass",
        "ev-c": "fail" if n % 2 == 0 else "pass",
    }


def majority(votes: dict[str, str]) -> str:
    return "pass" if sum(v == "pass" for v in votes.values()) * 2 > len(votes) else "fail"


def judge_figures() -> dict[str, tuple[float, float]]:
    """(pass rate, leave-one-out agreement) per judge over one run's 24 ballots: each vote against the majority
    of the other two judges, ballots where those two split left out."""
    passes, agrees, compared = ({j: 0 for j in ev.JUDGE_MODELS} for _ in range(3))
    ballots = [(n, c) for n in range(ev.N_CASES) for c in ("tone", "helpful")]
    for n, c in ballots:
        votes = expected_votes(n, c)
        for judge, label in votes.items():
            passes[judge] += label == "pass"
            others = {v for j, v in votes.items() if j != judge}
            if len(others) == 1:
                compared[judge] += 1
                agrees[judge] += label in others
    return {j: (passes[j] / len(ballots), agrees[j] / compared[j]) for j in ev.JUDGE_MODELS}


# ---------------------------------------------------------------- runs write their report


def test_runs_write_the_report_beside_the_database(evs):
    for run_id, out in zip(evs.run_ids, evs.outputs):
        path = evs.db.parent / f"{run_id}.html"
        assert path.is_file() and path.stat().st_size > 5000
        assert f"report: {path}" in out.stderr
    summary = json.loads(evs.outputs[2].stdout)  # the --json run
    assert summary["report"] == str(evs.db.parent / f"{evs.run_ids[2]}.html")


def test_no_report_flag_and_report_command(tmp_path, evs):
    root = write_suite(
        tmp_path / "s",
        suite={
            "id": "tiny",
            "cases": [
                {"id": "c0", "clauses": ["says-hello"], "input": "hello number 0", "expected": {"label": "even"}},
            ],
        },
        pact={**ev.old_pact(), "clauses": [{**ev.old_pact()["clauses"][0], "id": "says-hello"}]},
    )
    db = tmp_path / "db" / "x.duckdb"
    r = cli(
        "run",
        root,
        "--target",
        f"python:{evs.root / 'suite' / 'agent.py'}:respond_old",
        "--db",
        db,
        "--no-progress",
        "--no-report",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert "report" not in json.loads(r.stdout) and "report:" not in r.stderr
    assert list(db.parent.glob("*.html")) == []
    out = tmp_path / "elsewhere" / "r.html"
    r = cli("report", evs.v2, "--db", evs.db, "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.read_text().startswith("<!doctype html>")
    r = cli("report", "no-such-run", "--db", evs.db, "-o", out)
    assert r.returncode == 2 and "no run 'no-such-run'" in r.stderr


# ---------------------------------------------------------------- trend queries


def test_pass_rate_per_clause_per_agent_version(store, evs):
    trend = queries.clause_trend(store, pact="evidence-pact", clause="label-right")
    assert list(trend["run_id"]) == [evs.v1_no_panel, evs.v1, evs.v2]
    assert list(trend["agent_version"]) == ["1.0", "1.0", "2.0"]
    n = ev.N_CASES
    assert list(trend["rate"]) == pytest.approx([(n - len(ev.V1_WRONG)) / n] * 2 + [(n - len(ev.V2_WRONG)) / n])
    assert list(trend["passed"]) == [n - 1, n - 1, n - 2]
    # the jury clauses were pending without a panel, decided with one
    tone = queries.clause_trend(store, pact="evidence-pact", clause="tone")
    assert list(tone["pending"]) == [n, 0, 0] and tone["rate"].isna().tolist() == [True, False, False]

    versions = queries.clause_versions(store, pact="evidence-pact", agent="ev-agent")
    by = {(r["agent_version"], r["clause_id"]): r for r in versions.to_dict(orient="records")}
    assert set(by) == {(v, c) for v in ("1.0", "2.0") for c in CLAUSES}
    v1, v2 = by[("1.0", "label-right")], by[("2.0", "label-right")]
    assert (v1["runs"], v1["passed"], v1["decided"]) == (2, 2 * (n - 1), 2 * n)
    assert v1["pooled_rate"] == pytest.approx((n - 1) / n)
    assert (v2["runs"], v2["passed"], v2["decided"]) == (1, n - 2, n)
    # helpful: 8 ballots pass under majority (fails on cases 0 and 6: two of three judges fail)
    assert by[("2.0", "helpful")]["latest_rate"] == pytest.approx(10 / 12)
    # the same figures from the view inside the file, through a plain DuckDB client
    assert rows(
        evs.db,
        "SELECT runs, passed, decided FROM v_clause_versions WHERE pact_id = 'evidence-pact' "
        "AND agent_version = '1.0' AND clause_id = 'label-right'",
    ) == [(2, 22, 24)]


def test_since_filters_runs(store, evs):
    everything = queries.clause_trend(store, since=queries.parse_since("1d"))
    assert set(everything["run_id"]) == set(evs.run_ids)
    assert queries.clause_trend(store, since=queries.parse_since("2999-01-01")).empty
    assert queries.parse_since("2024-05-01").isoformat() == "2024-05-01T00:00:00+00:00"


def test_panel_agreement_and_judge_drift(store, evs):
    agreement = queries.panel_agreement(store, pact="evidence-pact")
    assert list(agreement["run_id"]) == [evs.v1, evs.v2]  # the run with no panel has no agreement row
    split = sum(
        1 for n in range(ev.N_CASES) for c in ("tone", "helpful") if len(set(expected_votes(n, c).values())) == 2
    )
    assert list(agreement["n_ballots"]) == [24, 24]
    assert list(agreement["split_verdicts"]) == [split, split] and split == 14
    assert list(agreement["inconclusive_verdicts"]) == [0, 0]

    drift = queries.judge_drift(store, pact="evidence-pact", agent="ev-agent")
    assert len(drift) == 6 and list(drift["run_id"]) == [evs.v1] * 3 + [evs.v2] * 3
    expected = judge_figures()
    # ev-c votes by parity, blind to the reply: it agrees with the full panel 14 of 24 times (counting its own
    # vote), with the other two judges 10 of 20 times, a coin's rate
    assert expected["ev-c"] == (0.5, 10 / 20)
    for r in drift.to_dict(orient="records"):
        assert (r["pass_rate"], r["agreement_with_panel"]) == pytest.approx(expected[r["judge"]]), r["judge"]
    second = drift[drift["run_id"] == evs.v2]
    assert list(second["pass_rate_change"]) == [0.0, 0.0, 0.0]
    assert drift[drift["run_id"] == evs.v1]["pass_rate_change"].isna().all()
    only_c = queries.judge_drift(store, judge="ev-c")
    assert list(only_c["judge"]) == ["ev-c", "ev-c"]


def test_cost_and_tokens_per_run_judge_and_clause(store, evs):
    n = ev.N_CASES
    costs = queries.run_costs(store).set_index("run_id")
    target_tokens_in = sum(10 + i for i in range(n))
    for run_id in evs.run_ids[1:]:
        r = costs.loc[run_id]
        assert (r["cases"], r["target_tokens_in"], r["target_tokens_out"]) == (n, target_tokens_in, 5 * n)
        assert r["target_cost_usd"] == pytest.approx(0.001 * n)
    assert costs.loc[evs.run_ids[0], "target_cost_usd"] == pytest.approx(0.0005 * 3)
    assert costs.loc[evs.v1_no_panel, "votes"] == 0
    first, second = costs.loc[evs.v1], costs.loc[evs.v2]
    assert (first["votes"], first["judge_calls"], first["cached_votes"]) == (72, 72, 0)
    assert (first["judge_tokens_in"], first["judge_tokens_out"]) == (7200, 1440)
    # v2 changed the output of cases 0, 1, 2 and 4: only those ballots were judged again
    assert (second["votes"], second["judge_calls"], second["cached_votes"]) == (72, 24, 48)
    assert (second["judge_tokens_in"], second["judge_tokens_out"]) == (2400, 480)
    # only ev-a's model has a price: the others are unknown, counted, never 0
    assert (first["judge_unpriced"], second["judge_unpriced"]) == (48, 16)
    priced = rows(evs.db, "SELECT run_id, sum(cost_usd) FROM votes WHERE NOT cached GROUP BY run_id")
    for run_id, total in priced:
        assert costs.loc[run_id, "judge_cost_usd"] == pytest.approx(total) and total > 0
        assert costs.loc[run_id, "known_cost_usd"] == pytest.approx(total + 0.001 * n)

    judges = queries.judge_costs(store, pact="evidence-pact")
    j2 = judges[judges["run_id"] == evs.v2].set_index("judge")
    assert list(j2["calls"]) == [8, 8, 8] and list(j2["cached_votes"]) == [16, 16, 16]
    assert j2.loc["ev-a", "cost_usd"] > 0 and math.isnan(j2.loc["ev-b", "cost_usd"])
    assert j2.loc["ev-b", "unpriced_calls"] == 8 and j2.loc["ev-a", "model"] == "openai/gpt-4o-mini"
    assert j2["tokens_in"].sum() == second["judge_tokens_in"]
    clauses = queries.clause_costs(store, pact="evidence-pact")
    c2 = clauses[clauses["run_id"] == evs.v2]
    assert sorted(c2["clause_id"]) == ["helpful", "tone"] and c2["tokens_in"].sum() == 2400
    assert c2["cost_usd"].sum() == pytest.approx(second["judge_cost_usd"])
    # the same figures as the run summary's jury cost (harness/jury/views.py)
    from harness.jury.views import panel_summary

    summary = {c["judge"]: c for c in panel_summary(store, evs.v2)["costs"]}
    assert all(summary[j]["tokens_in"] == j2.loc[j, "tokens_in"] for j in ev.JUDGE_MODELS)


def test_evidence_age_oldest_first(store, evs):
    age = queries.evidence_age(store)
    assert (age.iloc[0]["pact_id"], age.iloc[0]["clause_id"]) == ("old-pact", "greets")
    assert list(age["age_s"]) == sorted(age["age_s"], reverse=True)
    current = age[age["pact_id"] == "evidence-pact"].set_index("clause_id")
    assert set(current.index) == set(CLAUSES)
    assert (current["last_run_id"] == evs.v2).all() and (current["last_agent_version"] == "2.0").all()
    assert (current["age_s"] < age.iloc[0]["age_s"]).all() and (current["age_s"] >= 0).all()
    assert current.loc["tone", "runs"] == 3 and current.loc["tone", "runs_with_evidence"] == 2
    assert list(queries.evidence_age(store, pact="evidence-pact", clause="tone")["clause_id"]) == ["tone"]


def test_trends_command_tables_and_json(evs):
    r = cli("trends", "--db", evs.db, "--pact", "evidence-pact", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == set(queries.TREND_VIEWS) | {"robustness"}
    assert len(data["clauses"]) == 12 and {d["pact_id"] for d in data["clauses"]} == {"evidence-pact"}
    assert data["clauses"][0]["started_at"].endswith("Z") or "+" in data["clauses"][0]["started_at"]
    text = cli("trends", "--db", evs.db, "--clause", "label-right", "--view", "clauses", "--view", "age").stdout
    assert "== pass rate per clause per run" in text and "== evidence age" in text
    assert text.count("label-right") == 4 and "tone" not in text  # three runs + its age row
    assert "judge drift" not in text
    bad = cli("trends", "--db", evs.db, "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_views_are_plain_sql_for_any_duckdb_client(evs):
    con = duckdb.connect(str(evs.db), read_only=True)
    try:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert {
            "v_run_status",
            "v_clause_trend",
            "v_clause_versions",
            "v_panel_agreement",
            "v_judge_drift",
            "v_run_cost",
            "v_judge_cost",
            "v_clause_cost",
            "v_evidence_age",
        } <= views
        assert con.execute("SELECT count(*) FROM v_judge_drift WHERE judge = 'ev-b'").fetchone() == (2,)
    finally:
        con.close()


# ---------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_transcripts_votes_and_verdicts(tmp_path, evs, fmt):
    r = cli("export", evs.v2, "--db", evs.db, "--format", fmt, "-o", tmp_path / "out", "--json")
    assert r.returncode == 0, r.stderr
    written = {w["table"]: w for w in json.loads(r.stdout)}
    assert set(written) == {"cases", "transcripts", "votes", "verdicts"}
    assert (written["transcripts"]["rows"], written["votes"]["rows"], written["verdicts"]["rows"]) == (12, 72, 48)
    for table, w in written.items():
        path = Path(w["path"])
        assert path.name == f"{evs.v2}-{table}.{fmt}"
        if fmt == "jsonl":
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            assert len(lines) == w["rows"] and {d["run_id"] for d in lines} == {evs.v2}
        else:
            reader = "read_parquet" if fmt == "parquet" else "read_csv_auto"
            con = duckdb.connect()
            assert con.execute(f"SELECT count(*), count(DISTINCT run_id) FROM {reader}(?)", [str(path)]).fetchone() == (
                w["rows"],
                1,
            )
    if fmt == "jsonl":
        first = json.loads(Path(written["transcripts"]["path"]).read_text().splitlines()[0])
        assert first["case_id"] == "case-000" and ev.PAYLOAD_OUTPUT in first["output"]


# ---------------------------------------------------------------- paired comparison


def test_compare_versions_lists_regressed_and_improved_cases(evs):
    r = cli(
        "compare",
        "--pact",
        "evidence-pact",
        "--agent",
        "ev-agent",
        "--versions",
        "1.0",
        "2.0",
        "--db",
        evs.db,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    assert (c["run_a"]["run_id"], c["run_b"]["run_id"]) == (evs.v1, evs.v2)  # the latest run of each version
    by = {k["clause_id"]: k for k in c["clauses"]}
    assert list(by) == CLAUSES
    label = by["label-right"]
    assert label["regressed"] == ["case-001", "case-004"] and label["improved"] == ["case-002"]
    assert (label["n_pairs"], label["both_pass"], label["both_fail"]) == (12, 9, 0)
    assert label["diff"] == pytest.approx(-1 / 12) and label["mcnemar_p"] == pytest.approx(1.0)
    assert label["ci_low"] < 0 < label["ci_high"]
    assert label["conclusion"] == "no-difference"
    assert label["summary"].startswith("no detectable difference with 12 paired cases")
    hello = by["says-hello"]  # every pair passes in both: a score interval around 0, not a point
    assert hello["diff"] == 0 and hello["ci_low"] < 0 < hello["ci_high"] and hello["conclusion"] == "no-difference"
    assert c["correction"] == "Holm" and c["interval"].startswith("Newcombe")
    assert label["mcnemar_p_adjusted"] >= label["mcnemar_p"]
    text = cli("compare", evs.v1, evs.v2, "--db", evs.db).stdout
    assert "regressed (pass in A, fail in B): case-001, case-004" in text
    assert "improved (fail in A, pass in B): case-002" in text
    # the run with no panel has its jury verdicts pending: nothing to pair there, and it says so
    r = json.loads(cli("compare", evs.v1_no_panel, evs.v2, "--db", evs.db, "--json").stdout)
    tone = {k["clause_id"]: k for k in r["clauses"]}["tone"]
    assert tone["n_pairs"] == 0 and tone["undecided"] == 12 and tone["conclusion"] == "no-pairs"


AGENTS = """
import json
WRONG = {wrong!r}

def respond(case):
    n = int(case["input"].split()[-1])
    label = "even" if n % 2 == 0 else "odd"
    if case["id"] in WRONG:
        label = "odd" if label == "even" else "even"
    return json.dumps({{"greeting": "hello", "label": label}})
"""

PACT = {
    "id": "cmp-pact",
    "version": "1",
    "tier": "low",
    "owner": "t",
    "freshness": "7d",
    "clauses": [
        {
            "id": "label-right",
            "claim": "Labels.",
            "verify": "deterministic",
            "threshold": 0.5,
            "severity": "major",
            "checks": [{"check": "json-path", "path": "$.label", "equals": {"expected": "label"}}],
        }
    ],
}


def _pair_of_runs(tmp_path: Path, n: int, wrong_a: set[str], wrong_b: set[str], edit_case: int | None = None):
    cases = [
        {
            "id": f"k-{i:02d}",
            "clauses": ["label-right"],
            "input": f"item {i}",
            "expected": {"label": "even" if i % 2 == 0 else "odd"},
        }
        for i in range(n)
    ]
    db = tmp_path / "cmp.duckdb"
    run_ids = []
    for name, wrong in (("a", wrong_a), ("b", wrong_b)):
        if name == "b" and edit_case is not None:
            cases[edit_case]["expected"]["note"] = "edited"  # same id, different content
        root = write_suite(tmp_path / name, pact=PACT, suite={"id": "cmp", "cases": cases})
        (root / "agent.py").write_text(AGENTS.format(wrong=sorted(wrong)))
        r = cli(
            "run",
            root,
            "--target",
            f"python:{root / 'agent.py'}:respond",
            "--db",
            db,
            "--no-progress",
            "--no-report",
            "--agent",
            "cmp",
            "--agent-version",
            name,
            "--json",
        )
        assert r.returncode in (0, 1), r.stderr
        run_ids.append(json.loads(r.stdout)["run"]["run_id"])
    return db, run_ids


def test_compare_detects_a_regression_and_lists_it(tmp_path):
    regressed = {f"k-{i:02d}" for i in range(0, 36, 3)}  # 12 of 40
    db, (a, b) = _pair_of_runs(tmp_path, 40, wrong_a={"k-01"}, wrong_b=regressed)
    r = cli("compare", a, b, "--db", db, "--json")
    assert r.returncode == 0 and r.stderr == ""
    (k,) = json.loads(r.stdout)["clauses"]
    assert k["regressed"] == sorted(regressed) and k["improved"] == ["k-01"]
    assert (k["rate_a"], k["rate_b"]) == (39 / 40, 28 / 40)
    assert k["mcnemar_p"] == pytest.approx(2 * 14 / 2**13)  # 1 vs 12 discordant: 2 P(X <= 1), X ~ Bin(13, 1/2)
    assert k["ci_high"] < 0 and k["conclusion"] == "regressed"
    assert k["summary"].startswith("B regressed by 28 pp with 40 paired cases")
    text = cli("compare", "--pact", "cmp-pact", "--versions", "a", "b", "--db", db).stdout
    assert "B regressed by 28 pp" in text and "k-00, k-03" in text


def test_compare_says_too_small_to_tell_and_warns_on_changed_cases(tmp_path):
    db, (a, b) = _pair_of_runs(tmp_path, 6, wrong_a=set(), wrong_b={"k-02", "k-04"}, edit_case=3)
    r = cli("compare", a, b, "--db", db)
    assert r.returncode == 0
    assert "too small to tell: only 6 paired cases" in r.stdout
    assert "warning: 1 paired case(s) changed content between the runs (different case hash): k-03" in r.stderr
    assert "regressed (pass in A, fail in B): k-02, k-04" in r.stdout
    data = json.loads(cli("compare", a, b, "--db", db, "--json").stdout)
    assert data["changed_cases"] == ["k-03"] and data["clauses"][0]["conclusion"] == "too-small"
    missing = cli("compare", "--pact", "cmp-pact", "--versions", "a", "zzz", "--db", db)
    assert missing.returncode == 2 and "no completed run of pact cmp-pact" in missing.stderr
    usage = cli("compare", a, "--db", db)
    assert usage.returncode == 2 and "RUN_A RUN_B" in usage.stderr


# ---------------------------------------------------------------- the statistics


def test_mcnemar_exact_matches_a_published_worked_example():
    """Fagerland MW, Lydersen S, Laake P. The McNemar test for binary matched-pairs data: mid-p and asymptotic
    are better than exact conditional. BMC Medical Research Methodology 2013;13:91 (doi:10.1186/1471-2288-13-91),
    Table 1: airway hyper-responsiveness before/after stem cell transplantation in 21 children (Bentur et al.
    2009): 1 yes/yes, 1 yes/no, 7 no/yes, 12 no/no. Their supplement computes the exact conditional p-value as
    2 * binomcdf(n12 = 1; n = 8, p = 0.5) = 2 * (1 + 8) / 256 = 0.0703 (reported as 0.070)."""
    p = mcnemar_exact(both_pass=1, regressed=1, improved=7, both_fail=12)
    assert p == pytest.approx(18 / 256, abs=1e-12)
    assert round(p, 3) == 0.070
    # the same table from paired outcomes through the comparison path
    a = [1, 1] + [0] * 7 + [0] * 12
    b = [1, 0] + [1] * 7 + [0] * 12
    assert mcnemar_exact(*_table(a, b)) == pytest.approx(0.0703125)
    assert mcnemar_exact(5, 0, 0, 3) == 1.0  # no discordant pairs: nothing to test
    assert mcnemar_exact(0, 3, 3, 0) == pytest.approx(1.0)


def _table(a, b):
    pairs = list(zip(a, b))
    return (pairs.count((1, 1)), pairs.count((1, 0)), pairs.count((0, 1)), pairs.count((0, 0)))


def test_paired_interval_matches_a_published_worked_example():
    """Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, chapter 8, and their R
    package contingencytables: complete response before and after consolidation therapy (Cavo et al. 2012),
    59 yes/yes, 6 yes/no, 16 no/yes, 80 no/no; the Newcombe square-and-add interval (Newcombe 1998, method 10)
    for the difference -0.0621 is -0.1186 to -0.0046."""
    # As (both, regressed = yes in A only, improved = yes in B only, neither): A 75 yes, B 65, B - A = -0.0621.
    low, high = paired_diff_ci(59, 16, 6, 80)
    assert (low, high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    assert paired_diff_ci(0, 0, 0, 0) is None
    low, high = paired_diff_ci(12, 0, 0, 0)  # every pair passes: an interval around 0
    assert low < 0 < high


def test_conclusion_wording():
    assert conclusion(6, -0.5, (-0.9, -0.1), 0.03)[0] == "too-small"
    assert conclusion(6, -0.5, (-0.9, -0.1), 0.03)[1].startswith("too small to tell: only 6 paired cases")
    code, text = conclusion(25, 0.04, (-0.08, 0.16), 0.5)
    assert code == "no-difference" and text.startswith("no detectable difference with 25 paired cases")
    assert conclusion(40, 0.2, (0.1, 0.3), 0.001)[0] == "improved"
    assert conclusion(40, 0.1, (0.02, 0.2), 0.07)[0] == "unclear"


def test_compare_runs_api_pairs_by_case_id(evs):
    with Store(evs.db, read_only=True) as s:
        c = compare_runs(s, evs.v1, evs.v2)
    assert c["correction"] == "Holm" and c["warnings"] == []
    assert sum(k["n_pairs"] for k in c["clauses"]) == 48


def test_the_vote_cache_is_asked_only_where_it_could_hit(store, evs):
    """A run asks the store's vote cache only if a judge of its panel has an answered call there (harness/pipeline.py
    cache_worth_asking); the later run of this store still had its unchanged calls answered from the cache."""
    assert store.has_answers_from(["openai/gpt-4o-mini"]) and store.has_answers_from(["nobody", "openai/ev-judge-b"])
    assert not store.has_answers_from(["openai/never-called"]) and not store.has_answers_from([])
    cached = store.query("SELECT count(*) AS n FROM votes WHERE run_id = ? AND cached", [evs.run_ids[3]])
    assert cached[0]["n"] > 0
