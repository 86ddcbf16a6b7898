"""The new statistics reach what users read: `show`, `show --json`, the HTML report and `compare`.

One real run (real CLI and pipeline, scripted judges over HTTP on 127.0.0.1) with a Dawid-Skene panel of the
evidence store's three judges, so that n, intervals, the small-sample flag, AC1/PABAK, leave-one-out agreement,
Dawid-Skene convergence and the power-based cases needed all have something to show.
"""

from __future__ import annotations

import json

import pytest
from evidence_store import AGENT, JUDGE_MODELS, cli, evidence_pact, evidence_suite, judges
from suitefiles import write_panel, write_suite

from harness.testing.openai_server import ScriptedResponder, start_in_thread

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def ds_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    suite = write_suite(root / "suite", pact=evidence_pact(), suite=evidence_suite())
    (suite / "agent.py").write_text(AGENT)
    db = root / "pactjury.duckdb"
    with start_in_thread(ScriptedResponder(default=judges)) as server:
        panel = write_panel(
            root / "panels",
            server.url,
            [{"name": n, "model": m} for n, m in JUDGE_MODELS.items()],
            id="ds-panel",
            method="dawid-skene",
        )
        runs = []
        for version, fn in (("1.0", "respond_v1"), ("2.0", "respond_v2")):
            r = cli(
                "run",
                suite,
                "--target",
                f"python:{suite / 'agent.py'}:{fn}",
                "--panel",
                panel,
                "--db",
                db,
                "--agent",
                "ev-agent",
                "--agent-version",
                version,
                "--no-progress",
                "--no-report",
                "--json",
            )
            assert r.returncode in (0, 1), r.stderr
            runs.append(json.loads(r.stdout)["run"]["run_id"])
    return db, runs


def test_show_prints_n_intervals_flags_ac1_pabak_and_convergence(ds_run):
    db, (run, _) = ds_run
    text = cli("show", run, "--db", db).stdout
    assert "Gwet's AC1" in text and "PABAK" in text and "Fleiss kappa" in text
    assert "(n 24)" in text or "n 24)" in text  # 12 cases x 2 jury clauses, each statistic with its n
    assert "percentile bootstrap over items (1000 resamples, seed 20240611)" in text
    assert "Dawid-Skene: converged in" in text and "start of 5" in text
    assert "leave-one-out" in text and "agrees w/ others" in text
    assert "pairwise Cohen's kappa, AC1 and PABAK" in text
    assert "more cases (80%)" in text


def test_show_json_carries_the_same(ds_run):
    db, (run, _) = ds_run
    panel = json.loads(cli("show", run, "--db", db, "--json").stdout)["panel"]
    assert panel["min_items"] == 10 and panel["fleiss_items"] == 24 and panel["alpha_items"] == 24
    for key in ("fleiss_ci", "alpha_nominal_ci", "gwet_ac1_ci", "pabak_ci"):
        assert panel[key] is not None and panel[key][0] <= panel[key][1], key
    assert panel["agreement_reference"] == "leave-one-out"
    assert {p["n"] for p in panel["pairs"]} == {24} and all("ac1" in p and "pabak" in p for p in panel["pairs"])
    ds = panel["dawid_skene"]
    assert ds["converged"] and ds["starts"] == 5 and ds["iterations"] >= 1
    coin = next(j for j in panel["judges"] if j["judge"] == "ev-c")  # votes by case parity, blind to the reply
    assert coin["n_compared"] > 0 and coin["agreement_full_panel"] is not None


def test_the_power_figure_sits_beside_cases_needed(ds_run):
    db, (run, _) = ds_run
    clauses = json.loads(cli("show", run, "--db", db, "--json").stdout)["clauses"]
    label = next(c for c in clauses if c["clause_id"] == "label-right")  # 11 of 12 against 90%: inconclusive
    assert label["status"] == "inconclusive" and label["cases_needed"] is not None
    assert label["cases_needed_power"] > label["cases_needed"]
    assert all(c["cases_needed_power"] is None for c in clauses if c["cases_needed"] is None)


def test_report_shows_the_new_figures(ds_run, tmp_path):
    db, (run, _) = ds_run
    out = tmp_path / "r.html"
    assert cli("report", run, "--db", db, "-o", out).returncode == 0
    html = out.read_text()
    for needle in (
        'data-stat="gwet_ac1"',
        'data-stat="pabak"',
        'id="pairs"',
        'id="dawid-skene"',
        "leave-one-out",
        "percentile bootstrap over items",
        'class="num more-cases"',
    ):
        assert needle in html, needle


def test_compare_says_which_correction_and_interval(ds_run):
    db, (a, b) = ds_run
    r = cli("compare", a, b, "--db", db)
    assert r.returncode == 0
    assert "95% CI (Newcombe)" in r.stdout and "Holm p" in r.stdout
    assert "Holm-adjusted across the" in r.stdout and "Newcombe (1998) method 10" in r.stdout
    data = json.loads(cli("compare", a, b, "--db", db, "--json").stdout)
    assert data["correction"] == "Holm" and data["family_size"] >= 1
    assert all("mcnemar_p_adjusted" in k for k in data["clauses"])
