"""The HTML report in a real headless browser (Debian's chromium driven by Playwright): the figures it shows
are the store's, its filters work, untrusted text is shown and never run, and it fetches nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import evidence_store as ev
import pytest

from harness.jury.views import disagreements
from harness.store import Store

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT_COPY = Path("/tmp/pactjury-report.png")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _chromium() -> str:
    """Debian's chromium; installed by .ci/ensure-chromium (which `make test` runs) when we are root."""
    found = shutil.which("chromium")
    if found:
        return found
    done = subprocess.run([str(ROOT / ".ci" / "ensure-chromium")], capture_output=True, text=True)
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() == 0:  # CI runs as root: a missing browser there is a failure, never a silent skip
        pytest.fail("chromium is missing and .ci/ensure-chromium could not install it:\n" + done.stderr[-3000:])
    pytest.skip(
        "chromium is not installed and cannot be installed without root "
        "(run .ci/ensure-chromium as root, or apt-get install chromium)"
    )


@pytest.fixture(scope="module")
def browser(evs):
    # evs first: the runs that fill the store call asyncio.run, which cannot run inside Playwright's loop
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: it is in the dev extra (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def report(evs):
    """The report `pactjury run` wrote beside the database at the end of the v2 run."""
    path = evs.db.parent / f"{evs.v2}.html"
    assert path.is_file()
    return path


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1320, "height": 900})
    pg = context.new_page()
    pg.requests_seen = []
    pg.console_errors = []
    pg.on("request", lambda r: pg.requests_seen.append(r.url))
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


def _text(locator) -> str:
    return " ".join((locator.text_content() or "").split())


def test_sections_show_the_stored_figures(page, report, store, evs, tmp_path):
    page.goto(report.as_uri())
    assert _text(page.locator("#run-id")) == evs.v2
    # per-clause results against thresholds
    clauses = store.clause_results(evs.v2)
    assert page.locator("#clauses tbody tr").count() == len(clauses) == 4
    for c in clauses:
        row = page.locator(f'#clauses tr[data-clause="{c["clause_id"]}"]')
        assert _text(row.locator("td.rate")) == f"{c['rate'] * 100:.1f}%"
        assert _text(row.locator("td.ci")) == f"{c['ci_low'] * 100:.0f}%–{c['ci_high'] * 100:.0f}%"
        assert _text(row.locator("td.threshold")) == f"{c['threshold'] * 100:.0f}%"
        assert _text(row.locator("td.passed")) == str(c["passed"])
        assert _text(row.locator(".status")) == c["status"]
        assert row.locator("svg.ci-bar").count() == 1
    # the decision and its reasons
    decision = store.decision(evs.v2)
    assert _text(page.locator("#decision-action")) == decision["decision"]
    assert page.locator("#decision-reasons li").all_text_contents() == decision["reasons"]
    # agreement statistics, and each judge's reliability, calls, tokens and cost
    stats = store.query("SELECT fleiss_kappa, percent_agreement, stats FROM panel_stats WHERE run_id = ?", [evs.v2])[0]
    assert _text(page.locator('[data-stat="fleiss_kappa"] .v')) == f"{stats['fleiss_kappa']:.2f}"
    assert _text(page.locator('[data-stat="percent_agreement"] .v')) == f"{stats['percent_agreement'] * 100:.0f}%"
    spent = {
        r["judge"]: r
        for r in store.query(
            "SELECT judge, count(*) FILTER (WHERE NOT cached) AS calls, count(*) FILTER (WHERE cached) AS cached, "
            "sum(tokens_in) FILTER (WHERE NOT cached) AS tokens_in, "
            "sum(tokens_out) FILTER (WHERE NOT cached) AS tokens_out,"
            " sum(cost_usd) FILTER (WHERE NOT cached) AS cost FROM votes WHERE run_id = ? GROUP BY judge",
            [evs.v2],
        )
    }
    judge_stats = {r["judge"]: r for r in store.query("SELECT * FROM judge_stats WHERE run_id = ?", [evs.v2])}
    assert page.locator("#judges tbody tr").count() == 3
    for judge, s in spent.items():
        row = page.locator(f'#judges tr[data-judge="{judge}"]')
        assert int(_text(row.locator(".calls"))) == s["calls"] == 8
        assert int(_text(row.locator(".cached"))) == s["cached"] == 16
        assert int(_text(row.locator(".tokens-in")).replace(",", "")) == s["tokens_in"] == 800
        assert int(_text(row.locator(".tokens-out")).replace(",", "")) == s["tokens_out"] == 160
        assert _text(row.locator(".pass-rate")) == f"{judge_stats[judge]['pass_rate'] * 100:.0f}%"
        cost = _text(row.locator(".cost"))
        assert cost == (f"${s['cost']:.4f}" if s["cost"] is not None else "unknown 8 unpriced calls")
    # the pairwise Cohen's kappa heatmap
    kappa = json.loads(stats["stats"])["cohen_kappa"]
    cells = page.locator("#kappa .hm-cell")
    assert cells.count() == 9
    for i in range(9):
        a, b, value = (cells.nth(i).get_attribute(x) for x in ("data-a", "data-b", "data-kappa"))
        expected = 1.0 if a == b else kappa[a][b]
        assert float(value) == pytest.approx(expected, abs=1e-4)
    # the trend across the earlier runs of the same pact and agent
    trend = page.locator('.trend[data-clause="label-right"]')
    assert trend.get_attribute("data-runs") == "3"
    rates = [float(x) for x in trend.locator("circle.pt").evaluate_all("els => els.map(e => e.dataset.rate)")]
    assert rates == pytest.approx([11 / 12, 11 / 12, 10 / 12], abs=1e-4)
    assert trend.locator("circle.pt.current").get_attribute("data-run") == evs.v2
    tone = page.locator('.trend[data-clause="tone"]')
    assert tone.get_attribute("data-runs") == "3" and tone.locator("circle.pt").count() == 2  # pending: no rate
    # the disagreements, most divided first
    expected = disagreements(store, evs.v2, limit=None)
    articles = page.locator("article.dis")
    assert articles.count() == len(expected) == 14
    order = articles.evaluate_all("els => els.map(e => e.dataset.case + '/' + e.dataset.clause)")
    assert order == [f"{d['case_id']}/{d['clause_id']}" for d in expected]
    first = articles.first
    assert first.locator(".vote").count() == 3 and first.locator(".checks li").count() == 2
    assert _text(first.locator(".split")) == expected[0]["split"]

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    try:
        shutil.copyfile(shot, SCREENSHOT_COPY)
    except OSError:
        pass  # the copy is a convenience for looking at the page


def _expected_rows(clause: str = "", judge: str = "") -> int:
    """How many disagreement rows the filters should leave, from the scripted judges' votes."""
    from test_trends_compare import expected_votes, majority

    count = 0
    for n in range(ev.N_CASES):
        for c in ("tone", "helpful"):
            votes = expected_votes(n, c)
            if len(set(votes.values())) < 2 or (clause and c != clause):
                continue
            verdict = majority(votes)
            if judge and votes[judge] == verdict:
                continue
            count += 1
    return count


def test_filters_by_clause_and_judge(page, report):
    page.goto(report.as_uri())
    visible = page.locator("article.dis:visible")
    assert visible.count() == _expected_rows() == 14
    for clause, judge in (
        ("tone", ""),
        ("helpful", ""),
        ("", "ev-c"),
        ("tone", "ev-c"),
        ("helpful", "ev-b"),
        ("helpful", "ev-a"),
        ("helpful", "ev-c"),
    ):
        page.select_option("#f-clause", clause)
        page.select_option("#f-judge", judge)
        want = _expected_rows(clause, judge)
        assert visible.count() == want > 0, (clause, judge)
        assert _text(page.locator("#dis-count")) == str(want)
        assert all(v == clause for v in visible.evaluate_all("els => els.map(e => e.dataset.clause)") if clause)
        assert page.locator("#dis-empty").is_hidden()
    page.select_option("#f-clause", "tone")
    page.select_option("#f-judge", "ev-b")  # ev-b never dissents on tone
    assert visible.count() == 0 and page.locator("#dis-empty").is_visible()
    page.click("#f-reset")
    assert visible.count() == 14 and _text(page.locator("#dis-count")) == "14"
    # a clause name in the results table filters the disagreements to it
    page.click('#clauses a[data-filter-clause="tone"]')
    assert visible.count() == _expected_rows("tone") == 6
    assert page.locator("#f-clause").input_value() == "tone"
    assert page.console_errors == []


def test_untrusted_text_is_shown_and_never_run(page, report):
    page.goto(report.as_uri())
    page.wait_for_timeout(300)  # let an onerror handler fire, if one had been created
    assert page.evaluate("window.__pwned") is None
    card = page.locator('article.dis[data-case="case-000"][data-clause="tone"]')
    assert ev.PAYLOAD_OUTPUT in card.locator("pre.output").text_content()
    assert ev.PAYLOAD_INPUT in card.locator("pre.input").text_content()
    assert ev.PAYLOAD_RATIONALE in card.locator('.vote[data-judge="ev-c"] .why').text_content()
    assert page.locator("#dis-list img, #dis-list script, #dis-list pre *, #dis-list .why *").count() == 0
    assert page.evaluate("document.scripts.length") == 1  # the report's own filter script
    # the payloads are live: unescaped (in a blank page, without the report's CSP), the same text does run
    page.goto("about:blank")
    page.set_content(f"<div>{ev.PAYLOAD_INPUT}{ev.PAYLOAD_OUTPUT}</div>")
    page.wait_for_function("window.__pwned !== undefined", timeout=5000)


def test_report_is_self_contained(page, report):
    html = report.read_text(encoding="utf-8")
    assert re.search(r"https?://", html) is None
    assert re.search(r"<(link|iframe|object|embed)\b|<script[^>]+src=|@import|url\(", html) is None
    assert "default-src 'none'" in html  # and the CSP allows only the report's own script, by hash
    page.goto(report.as_uri())
    page.select_option("#f-clause", "helpful")
    page.click("#f-reset")
    assert page.requests_seen == [report.as_uri()]
    assert page.console_errors == []


def test_failed_deterministic_checks_are_listed(page, report, store, evs):
    page.goto(report.as_uri())
    failing = store.query(
        "SELECT case_id, clause_id, check_name, detail FROM check_results WHERE run_id = ? "
        "AND outcome = 'fail' ORDER BY clause_id, case_id",
        [evs.v2],
    )
    assert [(f["case_id"], f["clause_id"]) for f in failing] == [
        ("case-001", "label-right"),
        ("case-004", "label-right"),
    ]
    rows = page.locator("#failed-table tbody tr")
    assert rows.count() == len(failing)
    for i, f in enumerate(failing):
        row = rows.nth(i)
        assert (row.get_attribute("data-case"), row.get_attribute("data-clause")) == (f["case_id"], f["clause_id"])
        assert _text(row.locator(".check")) == f["check_name"] and _text(row.locator(".detail")) == f["detail"]
    assert _text(page.locator('nav.toc a[href="#failed-checks"] .count')) == "2"


NOTE_PAYLOAD = "<img src=x onerror=window.__pwned=4>checked by hand"


def test_the_report_shows_labels_revised_status_post_review_trend_and_calibration(page, tmp_path, capsys):
    import csv

    from decisionhelpers import jury_run, jury_suite
    from test_review import HUMAN

    from harness.cli import main

    root = jury_suite(tmp_path / "suite")
    db = tmp_path / "r.duckdb"
    jury_run(db, root)  # an earlier run: the trend's first point
    run_id = jury_run(db, root)
    export = tmp_path / "queue.csv"
    assert main(["review", "export", run_id, "--audit", "3", "--seed", "1", "--db", str(db), "-o", str(export)]) == 0
    rows = list(csv.DictReader(export.open()))
    truth = {f"case-{i:03d}": "pass" for i in range(10)} | HUMAN
    for r in rows:
        r["label"], r["reviewer"] = truth[r["case_id"]], "alice"
        r["note"] = NOTE_PAYLOAD if r["case_id"] == "case-007" else ""
    with export.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["review", "import", str(export), "--db", str(db)]) == 0
    out_html = tmp_path / "r.html"
    assert main(["report", run_id, "--db", str(db), "-o", str(out_html)]) == 0
    capsys.readouterr()
    with Store(db, read_only=True) as store:
        from harness.review import run_calibration

        groups = {g["selection"]: g for g in run_calibration(store, run_id)}
        revision, current = store.current_clause_results(run_id)
    tone = next(c for c in current if c["clause_id"] == "tone")
    assert revision == 1 and tone["status"] == "breached" and tone["rate"] == pytest.approx(0.6)

    page.goto(out_html.as_uri())
    page.wait_for_timeout(200)
    assert page.evaluate("window.__pwned") is None
    # the clause table is the revised one
    row = page.locator('#clauses tr[data-clause="tone"]')
    assert _text(row.locator(".status")) == "breached" and _text(row.locator("td.human")) == str(len(rows))
    assert _text(page.locator("#revision")) == "after human review (revision 1)"
    # the labelled cards say the label, who gave it and the jury's own outcome; none says inconclusive
    card = page.locator('article.dis[data-case="case-007"][data-clause="tone"]')
    assert _text(card.locator("header .outcome")) == "fail"
    assert _text(card.locator(".reviewer")) == "alice" and _text(card.locator(".jury")) == "inconclusive"
    assert _text(card.locator(".note-text")) == NOTE_PAYLOAD
    statuses = page.locator("article.dis header .outcome").all_text_contents()
    assert "inconclusive" not in [s.strip() for s in statuses]
    # every label, with its reviewer, note and selection
    labels = page.locator("#labels tbody tr")
    assert labels.count() == len(rows)
    assert _text(page.locator('#labels tr[data-case="case-007"] .note')) == NOTE_PAYLOAD
    audit_cases = {r["case_id"] for r in rows if r["selection"] == "audit"}
    for case in audit_cases:
        assert _text(page.locator(f'#labels tr[data-case="{case}"] .selection')) == "audit (seed 1)"
    # the trend draws the post-review rate, marked as revised
    point = page.locator('.trend[data-clause="tone"] circle.pt.current')
    assert float(point.get_attribute("data-rate")) == pytest.approx(0.6, abs=1e-4)
    assert point.get_attribute("data-revision") == "1"
    first = page.locator('.trend[data-clause="tone"] circle.pt').first
    assert float(first.get_attribute("data-rate")) == pytest.approx(0.75, abs=1e-4)  # the earlier run: unrevised
    # calibration, one table per selection, each with its selection stated
    sections = page.locator(".calib")
    assert sections.evaluate_all("els => els.map(e => e.dataset.selection)") == list(groups)
    for name, g in groups.items():
        section = page.locator(f'.calib[data-selection="{name}"]')
        assert _text(section.locator(".selection-note")) == g["description"]
        for j in g["judges"]:
            cell = section.locator(f'tr[data-judge="{j["judge"]}"] .accuracy')
            assert _text(cell) == ("–" if j["accuracy"] is None else f"{j['accuracy'] * 100:.0f}%")
    assert "seed 1" in groups["audit"]["description"]
    assert page.console_errors == []
