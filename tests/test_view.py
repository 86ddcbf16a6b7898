"""`pactjury view`: the routes through Starlette's test client, and the real server (`pactjury view` in a child
process) in headless Chromium: a reviewer clicks a label button and the store has the label, written exactly as
`review import` writes it; a cross-site page's POST is refused."""

from __future__ import annotations

import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from decisionhelpers import jury_run, jury_suite

from harness.cli import main
from harness.review import audit_sample
from harness.review import queue as queue_items
from harness.store import Store

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]

TOKEN = "test-token"
NOTE_PAYLOAD = "<script>window.__pwned=1</script>rude <b>reply</b>"


@pytest.fixture()
def run(tmp_path):
    root = jury_suite(tmp_path / "suite")
    db = tmp_path / "v.duckdb"
    return db, jury_run(db, root)


@pytest.fixture()
def client(run):
    from starlette.testclient import TestClient

    from harness.view.app import create_app

    db, _ = run
    with Store(db):  # migrated, as `pactjury view` does before serving
        pass
    return TestClient(create_app(db, token=TOKEN), base_url="http://127.0.0.1:8765")


def _label(run_id: str, **fields: str) -> dict[str, str]:
    return (
        dict(
            token=TOKEN,
            case_id="case-007",
            clause_id="tone",
            label="fail",
            reviewer="ann",
            note="",
            selection="queue",
            audit_seed="",
            back=f"/runs/{run_id}/queue",
        )
        | fields
    )


def _count(db: Path, table: str) -> int:
    with Store(db, read_only=True) as store:
        return store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"]


def test_pages_show_runs_clauses_queue_rationales_audit_and_calibration(client, run):
    db, run_id = run
    page = client.get("/")
    assert page.status_code == 200 and f'data-run="{run_id}"' in page.text
    overview = client.get(f"/runs/{run_id}").text
    assert re.search(r'data-clause="tone".*?s-inconclusive', overview, re.S)  # 2 inconclusive of 10
    assert "6 split or inconclusive verdicts" in overview
    queue = client.get(f"/runs/{run_id}/queue").text
    cards = re.findall(r'<article class="item" id="item-(case-\d+)--tone"', queue)
    with Store(db, read_only=True) as store:
        assert cards == [it["case_id"] for it in queue_items(store, run_id)]  # review export's items, in its order
    assert cards[:2] == ["case-007", "case-008"] and len(cards) == 6  # the inconclusive ones first
    # the judges' rationales side by side, each in its own vote box
    card = queue.split('id="item-case-005--tone"')[1].split("</article>")[0]
    assert (
        len(re.findall(r'class="vote[ "]', card)) == 3
        and "j-b thinks fail on case-005" in card
        and "j-a thinks pass" in card
    )
    assert f'name="token" value="{TOKEN}"' in card
    # the audit sample is review export's: the same seed, the same items
    audit = client.get(f"/runs/{run_id}/audit?n=4&seed=3").text
    with Store(db, read_only=True) as store:
        drawn = audit_sample(store, run_id, 4, 3)
    assert sorted(re.findall(r'id="item-(case-\d+)--(tone)" data-case', audit)) == sorted(drawn)
    assert audit.count('name="selection" value="audit"') == 4 and 'name="audit_seed" value="3"' in audit
    assert client.get(f"/runs/{run_id}/clause?id=tone").text.count('<tr data-case="case-') == 10
    item = client.get(f"/runs/{run_id}/item?case=case-001&clause=tone").text
    assert 'name="selection" value="view"' in item  # picked by hand: neither the queue nor the audit sample
    assert "No labels yet" in client.get(f"/runs/{run_id}/calibration").text
    missing = client.get("/runs/no-such-run")
    assert missing.status_code == 404 and "no run &#39;no-such-run&#39;" in missing.text
    assert client.get(f"/runs/{run_id}/item?case=case-404&clause=tone").status_code == 400
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"


def test_a_label_is_written_exactly_as_review_import_writes_it(client, run, tmp_path, capsys):
    db, run_id = run
    twin = tmp_path / "twin.duckdb"
    shutil.copyfile(db, twin)  # the same run, labelled through `review import` instead
    response = client.post(f"/runs/{run_id}/labels", data=_label(run_id, note=NOTE_PAYLOAD), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/runs/{run_id}/queue?done=1#item-case-007--tone"
    labels = tmp_path / "one.jsonl"
    labels.write_text(
        json.dumps(
            dict(
                run_id=run_id,
                case_id="case-007",
                clause_id="tone",
                label="fail",
                reviewer="ann",
                note=NOTE_PAYLOAD,
                selection="queue",
            )
        )
        + "\n"
    )
    assert main(["review", "import", str(labels), "--db", str(twin)]) == 0
    capsys.readouterr()
    tables = {
        "human_labels": "* EXCLUDE (import_id, labelled_at, source, source_row)",
        "clause_result_revisions": "* EXCLUDE (revised_at, import_id)",
        "decision_revisions": "* EXCLUDE (decided_at, import_id)",
    }
    for table, cols in tables.items():
        rows = []
        for path in (db, twin):
            with Store(path, read_only=True) as store:
                rows.append(store.query(f"SELECT {cols} FROM {table} ORDER BY ALL"))
        assert rows[0] == rows[1] and rows[0], table
    with Store(db, read_only=True) as store:
        (label,) = store.query("SELECT source, source_row, reviewer, note FROM human_labels")
        revision, current = store.current_clause_results(run_id)
    assert label == dict(source="pactjury view", source_row=0, reviewer="ann", note=NOTE_PAYLOAD)
    assert revision == 1 and next(c for c in current if c["clause_id"] == "tone")["inconclusive"] == 1
    # the page now shows the label, its reviewer and the note, escaped; the cookie keeps the reviewer's name
    page = client.get(f"/runs/{run_id}/queue?done=1").text
    card = page.split('id="item-case-007--tone"')[1].split("</article>")[0]
    assert 'class="current-label">fail' in card and 'class="current-reviewer">ann' in card
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in card and "<script>" not in page
    assert 'name="reviewer" value="ann"' in page and 'id="flash"' in page
    assert re.search(r'data-selection="queue" data-items="1"', client.get(f"/runs/{run_id}/calibration").text)


def test_an_audit_label_records_its_selection_and_seed(client, run):
    db, run_id = run
    with Store(db, read_only=True) as store:
        case_id, clause_id = audit_sample(store, run_id, 1, 9)[0]
    data = _label(
        run_id,
        case_id=case_id,
        clause_id=clause_id,
        label="pass",
        selection="audit",
        audit_seed="9",
        back=f"/runs/{run_id}/audit?n=1&seed=9",
    )
    response = client.post(f"/runs/{run_id}/labels", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith(
        f"/runs/{run_id}/audit?n=1&seed=9&done=1"
    )
    with Store(db, read_only=True) as store:
        assert store.query("SELECT selection, audit_seed FROM human_labels") == [dict(selection="audit", audit_seed=9)]
    page = client.get(f"/runs/{run_id}/calibration").text
    assert 'data-selection="audit" data-items="1"' in page and "seed 9" in page


@pytest.mark.parametrize(
    "change,headers,status,needle",
    [
        ({"token": ""}, {}, 403, "missing or wrong form token"),
        ({"token": "guessed"}, {}, 403, "missing or wrong form token"),
        ({}, {"origin": "http://evil.example"}, 403, "sent from another site (http://evil.example)"),
        ({}, {"sec-fetch-site": "cross-site"}, 403, "sent from another site"),
        ({}, {"host": "evil.example:8765"}, 400, "Invalid host header"),  # DNS rebinding
        ({"label": "maybe"}, {}, 400, "label &#39;maybe&#39; must be pass or fail"),
        ({"case_id": "case-404"}, {}, 400, "unknown case &#39;case-404&#39;"),
        ({"reviewer": ""}, {}, 400, "no reviewer"),
    ],
)
def test_refused_labels_write_nothing(client, run, change, headers, status, needle):
    db, run_id = run
    response = client.post(
        f"/runs/{run_id}/labels", data=_label(run_id, **change), headers=headers, follow_redirects=False
    )
    assert response.status_code == status and needle in response.text, response.text
    assert _count(db, "human_labels") == 0 and _count(db, "clause_result_revisions") == 0


def test_the_redirect_after_a_label_stays_in_the_app(client, run):
    _, run_id = run
    for back in ("https://evil.example/", "//evil.example/runs/", "/runs/x/../..//evil"):
        response = client.post(f"/runs/{run_id}/labels", data=_label(run_id, back=back), follow_redirects=False)
        assert response.headers["location"].startswith("/?done=1"), back


def test_view_refuses_a_non_loopback_host_and_a_missing_store(tmp_path, capsys):
    assert main(["view", "--host", "0.0.0.0", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "loopback interface only" in capsys.readouterr().err
    assert main(["view", "--db", str(tmp_path / "x.duckdb")]) == 2
    assert "no database here yet" in capsys.readouterr().err and not (tmp_path / "x.duckdb").exists()


# ---------------------------------------------------------------- the real server in a real browser


@pytest.fixture()
def server(run):
    """`pactjury view --port 0` in a child process; yields its base URL."""
    db, run_id = run
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "view", "--port", "0", "--db", str(db), "--reviewer", "rita"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        line = proc.stderr.readline() if ready else ""
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, f"pactjury view did not start: {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture()
def page(server):
    from test_report_html import CHROMIUM_ARGS, _chromium

    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        pg = browser.new_page()
        pg.console_errors = []
        pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
        yield pg
        browser.close()


def test_clicking_a_label_button_in_chromium_stores_the_label(page, server, run):
    db, run_id = run
    page.goto(f"{server}/runs/{run_id}/queue")
    card = page.locator('article.item[data-case="case-007"]')
    assert card.locator(".vote").count() == 3 and card.locator(".current").count() == 0
    assert card.locator('input[name="reviewer"]').input_value() == "rita"  # from --reviewer
    card.locator('textarea[name="note"]').fill(NOTE_PAYLOAD)
    with page.expect_navigation():
        card.locator('button[value="fail"]').click()
    assert page.url == f"{server}/runs/{run_id}/queue?done=1#item-case-007--tone", page.content()[-1500:]
    assert page.locator("#flash").is_visible()
    card = page.locator('article.item[data-case="case-007"]')
    assert card.locator(".current-label").text_content() == "fail"
    assert card.locator(".current-note").text_content() == NOTE_PAYLOAD and page.evaluate("window.__pwned") is None
    with Store(db, read_only=True) as store:
        labels = store.query("SELECT case_id, clause_id, label, reviewer, note, selection FROM human_labels")
        revision, current = store.current_clause_results(run_id)
    assert labels == [
        dict(case_id="case-007", clause_id="tone", label="fail", reviewer="rita", note=NOTE_PAYLOAD, selection="queue")
    ]
    assert revision == 1
    # the run page shows the revision, and the human label counted on the clause
    page.goto(f"{server}/runs/{run_id}")
    assert page.locator("#revision").text_content() == "after human review (revision 1)"
    assert page.locator('#clauses tr[data-clause="tone"] .human').text_content() == "1"
    assert page.console_errors == []


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Serves a page that, once opened, posts a label to the view app from another origin."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (
            f'<form method="post" action="{self.target}"><input name="case_id" value="case-007">'
            '<input name="clause_id" value="tone"><input name="label" value="pass">'
            '<input name="reviewer" value="mallory"></form><script>document.forms[0].submit()</script>'
        )
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_a_cross_site_page_cannot_label(page, server, run):
    db, run_id = run
    handler = type("Attacker", (_Attacker,), {"target": f"{server}/runs/{run_id}/labels"})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with page.expect_navigation(url=re.compile(r".*/labels$")):
            page.goto(f"http://localhost:{httpd.server_address[1]}/")
        assert "missing or wrong form token" in page.locator("#error").text_content()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _count(db, "human_labels") == 0 and _count(db, "clause_result_revisions") == 0
