"""One clock (harness/clock.py): stored timestamps follow $PACTJURY_NOW, a clock ahead of the real time is refused
for every write (nothing created), an earlier one is marked, and `--as-of` is a read-only what-if."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from suitefiles import basic_suite, write_agent, write_suite
from test_run_cli import pj, rows

from harness import clock

PAST = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _suite(tmp_path):
    root = write_suite(tmp_path / "suite", suite=basic_suite(4))
    write_agent(root)
    return root, ["--target", f"python:{root / 'agent.py'}:respond", "--agent", "bot", "--no-progress"]


def _close_after(value: datetime, start: datetime = PAST) -> bool:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return start <= value < start + timedelta(minutes=2)  # a fixed clock runs on from its instant


def test_stored_timestamps_follow_the_fixed_clock_and_the_run_says_so(tmp_path):
    root, target = _suite(tmp_path)
    db = tmp_path / "c.duckdb"
    r = pj("run", root, *target, "--db", db, env={"PACTJURY_NOW": PAST.isoformat()})
    assert r.returncode == 0, r.stderr
    ((run_id, started, options),) = rows(db, "SELECT run_id, started_at, options FROM runs")
    assert run_id.startswith("20250301-0900") and _close_after(started)
    assert json.loads(options)["clock"] == f"PACTJURY_NOW={PAST.isoformat()}"
    stamps = [t for (t,) in rows(db, "SELECT event_at FROM run_events")]
    stamps += [t for (t,) in rows(db, "SELECT decided_at FROM agent_decisions")]
    stamps += [t for (t,) in rows(db, "SELECT scored_at FROM trust_scores")]
    stamps += [t for (t,) in rows(db, "SELECT decided_at FROM decisions")]
    assert len(stamps) >= 5 and all(_close_after(t) for t in stamps), stamps
    events = [e for (e,) in rows(db, "SELECT event FROM run_events ORDER BY event_at")]
    assert events == ["started", "completed"]  # the fixed clock runs on, so the order holds
    shown = pj("show", run_id, "--db", db)
    assert f"clock: fixed by PACTJURY_NOW={PAST.isoformat()}" in shown.stdout

    # status --record under that clock marks the decision it appends
    r = pj("status", "--record", "--db", db, env={"PACTJURY_NOW": (PAST + timedelta(days=1)).isoformat()})
    assert r.returncode == 0, r.stderr
    ((decided, ref),) = rows(db, "SELECT decided_at, trigger_ref FROM agent_decisions WHERE trigger = 'status'")
    assert _close_after(decided, PAST + timedelta(days=1)) and ref.startswith("PACTJURY_NOW=2025-03-02")


def test_a_clock_ahead_of_the_real_time_writes_nothing(tmp_path):
    root, target = _suite(tmp_path)
    db = tmp_path / "f.duckdb"
    future = {"PACTJURY_NOW": (datetime.now(UTC) + timedelta(days=8)).isoformat()}
    r = pj("run", root, *target, "--db", db, env=future)
    assert r.returncode == 2 and "ahead of the real time" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not db.exists()  # refused before the file was created

    assert pj("run", root, *target, "--db", db).returncode == 0  # on the real clock
    before = rows(db, "SELECT (SELECT count(*) FROM agent_decisions), (SELECT count(*) FROM trust_scores)")
    for args in (["status", "--record"], ["run", root, *target], ["run", "--due", root.parent, *target]):
        r = pj(*args, "--db", db, env=future)
        assert r.returncode == 2 and "ahead of the real time" in r.stderr, (args, r.stderr)
    assert rows(db, "SELECT (SELECT count(*) FROM agent_decisions), (SELECT count(*) FROM trust_scores)") == before
    assert rows(db, "SELECT count(*) FROM runs")[0][0] == 1
    assert rows(db, "SELECT max(event_at) FROM run_events")[0][0].replace(tzinfo=UTC) <= datetime.now(UTC)

    # reading at that clock is the what-if it is for
    r = pj("status", "--json", "--db", db, env=future)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["stale_clauses"]


def test_as_of_is_a_read_only_what_if(tmp_path):
    root, target = _suite(tmp_path)
    db = tmp_path / "a.duckdb"
    assert pj("run", root, *target, "--db", db).returncode == 0
    later = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    now = json.loads(pj("status", "--json", "--db", db).stdout)[0]
    then = json.loads(pj("status", "--json", "--as-of", later, "--db", db).stdout)[0]
    assert now["stale_clauses"] == [] and then["stale_clauses"] and then["score"] < now["score"]
    text = pj("status", "--as-of", later, "--db", db).stdout
    assert "fixed clock: --as-of" in text
    due = json.loads(pj("due", root.parent, "--json", "--as-of", later, "--agent", "bot", "--db", db).stdout)
    assert due and due[0]["reason"].startswith("stale:")
    assert json.loads(pj("due", root.parent, "--json", "--agent", "bot", "--db", db).stdout) == []

    r = pj("status", "--record", "--as-of", later, "--db", db)
    assert r.returncode == 2 and "--as-of is a what-if" in r.stderr
    r = pj("status", "--as-of", "next tuesday", "--db", db)
    assert r.returncode == 2 and "--as-of" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert rows(db, "SELECT count(*) FROM agent_decisions WHERE trigger = 'status'")[0][0] == 0


def test_as_of_applies_to_its_block_only(monkeypatch):
    monkeypatch.delenv(clock.ENV, raising=False)
    with clock.as_of(PAST) as at:
        assert _close_after(at) and clock.source() == f"--as-of {PAST.isoformat()}" and clock.marker()
    assert clock.source() is None and clock.marker() == {}
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
    assert clock.parse_instant("1740819600") == PAST and clock.parse_instant("2025-03-01T09:00") == PAST


def test_no_module_reads_the_wall_clock_but_the_clock():
    """Stored times come from harness/clock.py alone. The lock file keeps the real time on purpose (who holds the
    lock since when); the exceptions below are compared or sent, never stored."""
    from pathlib import Path

    import harness

    allowed = {"clock.py", "lock.py"}
    found = []
    for path in Path(harness.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name not in allowed and ("datetime.now(" in text or "datetime.utcnow(" in text):
            found.append(str(path))
        # a Retry-After date against the real time; an OpenAI-style reply's `created` (the HTTP servers): not stored
        real_time_ok = path.name in ("llm.py", "llm_errors.py") or {"testing", "local"} & set(path.parts)
        if "time.time()" in text and not real_time_ok:
            found.append(str(path))
    assert found == []
