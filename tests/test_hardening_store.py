"""Hardening of the store: no secret from a panel reaches the DuckDB file, foreign files are refused untouched,
and a run's unparseable judge replies can be counted."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from suitefiles import basic_suite, write_agent, write_panel, write_suite

from harness.cli import main
from harness.store import Store
from harness.testing.openai_server import Reply
from harness.types import Ballot, Case, CaseResult, JudgeSpec, PanelSpec, Transcript, Verdict, Vote

pytestmark = pytest.mark.timeout(120)

SECRETS = ("SECRETPASS", "SECRETQUERY", "SECRETTOKEN", "SECRETSIG")


def secret_urls(url: str) -> tuple[str, str]:
    """The fake server's URL with credentials in its query, and in its userinfo, as a hostile panel may write."""
    scheme, rest = url.split("://", 1)
    return (f"{url}?key=SECRETQUERY&access_token=SECRETTOKEN&sig=SECRETSIG", f"{scheme}://user:SECRETPASS@{rest}")


def every_cell(db: Path) -> str:
    """Every value of every table and view in the file, as one string to search."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        return "\n".join(str(row) for name in names for row in con.execute(f'SELECT * FROM "{name}"').fetchall())
    finally:
        con.close()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_api_base_credentials_never_reach_the_store(tmp_path, fake_llm, capsys):
    fake_llm.responder.default = lambda request: Reply(text=json.dumps({"rationale": "polite", "verdict": "pass"}))
    root = write_suite(tmp_path / "suite", suite=basic_suite(2))
    write_agent(root)
    in_query, in_userinfo = secret_urls(fake_llm.url)
    panel = write_panel(
        tmp_path / "panels",
        fake_llm.url,
        [{"name": "judge-a", "api_base": in_query}, {"name": "judge-b", "api_base": in_userinfo}],
        quorum=1,
        description="ask sk-proj-Abcdefghij0123456789XYZ for access",
    )
    db = tmp_path / "s.duckdb"
    code = main(
        [
            "run",
            str(root),
            "--target",
            f"python:{root / 'agent.py'}:respond",
            "--db",
            str(db),
            "--panel",
            str(panel),
            "--no-progress",
            "--no-report",
        ]
    )
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    con = duckdb.connect(str(db), read_only=True)
    # litellm cannot use either URL shape (a query string breaks its path, userinfo its connection), but the
    # calls were made with the real URL: the query one reached the server and got its 404.
    reasons = dict(con.execute("SELECT judge, any_value(abstain_reason) FROM votes GROUP BY judge").fetchall())
    spec = json.loads(con.execute("SELECT spec FROM panels").fetchone()[0])
    con.close()
    assert "404" in reasons["judge-a"] and "call failed" in reasons["judge-b"]
    cells = every_cell(db)
    for secret in SECRETS + ("Abcdefghij0123456789XYZ",):
        assert secret not in cells and secret not in out and secret not in err
    bases = [j["api_base"] for j in spec["judges"]]
    assert bases[0].endswith("/v1?key=***&access_token=***&sig=***") and bases[1].startswith("http://user:***@")


def test_register_panel_scrubs_every_string_field(tmp_path):
    judge = JudgeSpec(
        name="j",
        model="openai/j",
        api_base="https://u:SECRETPASS@h.example/v1?token=SECRETTOKEN",
        family="ghp_" + "A1b2" * 9,
    )
    panel = PanelSpec(id="p", hash="h1", judges=(judge,), description="see https://x.example/?sig=SECRETSIG")
    with Store(tmp_path / "p.duckdb") as store:
        store.register_panel(panel)
    cells = every_cell(tmp_path / "p.duckdb")
    assert all(s not in cells for s in SECRETS) and "A1b2" * 9 not in cells
    assert judge.api_base.endswith("token=SECRETTOKEN")  # the record used for calls keeps the real one


def foreign_duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR)")
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.execute("INSERT INTO customers VALUES (1, 'ada')")
    con.close()
    return path


def tables(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
    finally:
        con.close()


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pactjury: error: ") and "Traceback" not in err, err
    return lines[0]


def test_a_foreign_duckdb_file_is_refused_and_left_untouched(tmp_path, capsys):
    db = foreign_duckdb(tmp_path / "theirs.duckdb")
    before = file_hash(db)
    root = write_suite(tmp_path / "suite", suite=basic_suite(2))
    write_agent(root)
    for argv in (
        ["runs", "--db", str(db)],
        [
            "run",
            str(root),
            "--target",
            f"python:{root / 'agent.py'}:respond",
            "--db",
            str(db),
            "--no-progress",
            "--no-report",
        ],
    ):
        assert main(argv) == 2
        line = one_error_line(capsys.readouterr().err)
        assert f"not a pactjury store: {db} (has tables customers, orders)" in line
    assert file_hash(db) == before and tables(db) == ["customers", "orders"]
    assert not (tmp_path / "theirs.duckdb.wal").exists()


@pytest.mark.parametrize("kind", ["text", "sqlite", "empty"])
def test_a_file_that_is_not_duckdb_is_refused_cleanly(tmp_path, capsys, kind):
    db = tmp_path / "x.db"
    if kind == "sqlite":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
    else:
        db.write_text("" if kind == "empty" else "id,name\n1,ada\n")
    before = file_hash(db)
    assert main(["runs", "--db", str(db)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(db) in line and "not a pactjury store" in line
    assert file_hash(db) == before


def test_a_real_store_still_opens_and_migrates(tmp_path):
    with Store(tmp_path / "ok.duckdb"):
        pass
    with Store(tmp_path / "ok.duckdb", read_only=True) as store:
        names = {r["name"] for r in store.query("SELECT name FROM schema_migrations")}
    assert "0006_abstain_code" in names


def _vote(case: str, judge: str, label: str, reason: str | None = None, code: str | None = None) -> Vote:
    return Vote(
        case_id=case,
        clause_id="tone",
        judge=judge,
        model=f"m/{judge}",
        label=label,  # type: ignore[arg-type]
        abstain_reason=reason,
        abstain_code=code,
        cache_key=f"{case}{judge}",
    )  # type: ignore[arg-type]


def test_unparseable_counts_per_run(tmp_path):
    cases = [Case(id=f"c{i}", suite_id="s", clause_ids=("tone",), input="hi") for i in range(3)]
    ballots = {
        "c0": (_vote("c0", "a", "abstain", "unparseable reply: no verdict", "unparseable"), _vote("c0", "b", "pass")),
        "c1": (_vote("c1", "a", "abstain", "call failed (server): boom", "call-failed"), _vote("c1", "b", "fail")),
        # stored before abstain_code existed: read by its reason's wording
        "c2": (_vote("c2", "a", "abstain", "empty reply"), _vote("c2", "b", "abstain", "unparseable reply")),
    }
    outcomes = {"c0": "inconclusive", "c1": "inconclusive", "c2": "inconclusive"}
    results = [
        CaseResult(
            case=c,
            transcript=Transcript(run_id="r1", case_id=c.id, output="hello"),
            checks=(),
            verdicts=(
                Verdict(
                    case_id=c.id,
                    clause_id="tone",
                    outcome=outcomes[c.id],  # type: ignore
                    decided_by="panel",
                ),
            ),
            ballots=(Ballot(case_id=c.id, clause_id="tone", votes=ballots[c.id]),),
        )
        for c in cases
    ]
    with Store(tmp_path / "u.duckdb") as store:
        store.create_run(
            dict(
                run_id="r1",
                started_at=datetime.now(UTC),
                pact_id="p",
                pact_version="1",
                pact_hash="ph",
                suite_id="s",
                suite_hash="sh",
                suite_path="s",
                agent=None,
                agent_version=None,
                target_spec="t",
                panel_id=None,
                harness_version="0",
                options={},
                n_cases=3,
            ),
            cases,
        )
        store.write_results("r1", results)
        assert store.unparseable_counts("r1") == {"votes": 3, "inconclusive": 2}
        assert store.unparseable_counts("nope") == {"votes": 0, "inconclusive": 0}
