"""Name filters on the read commands: an unknown pact, agent, clause or judge is a one-line error listing the known
ones (exit 2), never an empty table with exit 0. On the store of real runs in tests/evidence_store.py."""

from __future__ import annotations

import evidence_store as ev
import pytest
from evidence_store import cli

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def evs(tmp_path_factory):
    return ev.build(tmp_path_factory.getbasetemp())


@pytest.mark.parametrize(
    ("args", "needle", "known"),
    [
        (["trends", "--pact", "nope"], "--pact nope: no pact 'nope'", "known pacts: evidence-pact, old-pact"),
        (["trends", "--agent", "nobody"], "--agent nobody: no agent 'nobody'", "known agents: ev-agent"),
        (
            ["trends", "--clause", "nope"],
            "--clause nope: no clause 'nope'",
            "known clauses: greets, helpful, label-right",
        ),
        (["trends", "--judge", "bogus"], "--judge bogus: no judge 'bogus'", "known judges: ev-a, ev-b, ev-c"),
        (["status", "--pact", "nosuch"], "--pact nosuch: no pact 'nosuch'", "known pacts: evidence-pact, old-pact"),
        (["status", "--agent", "nobody"], "--agent nobody: no agent 'nobody'", "known agents: ev-agent"),
    ],
)
def test_unknown_store_wide_names_are_errors_listing_the_known_ones(evs, args, needle, known):
    r = cli(*args, "--db", evs.db)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert needle in line and known in line and str(evs.db) in line


@pytest.mark.parametrize(
    ("flag", "value", "known"),
    [
        ("--judge", "bogus", "known judges: ev-a, ev-b, ev-c"),
        ("--clause", "nope", "known clauses: helpful, label-right, says-hello, tone"),
    ],
)
def test_unknown_names_in_one_run_are_errors(evs, flag, value, known):
    r = cli("disagreements", evs.v1, flag, value, "--db", evs.db)
    assert r.returncode == 2 and r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert f"{flag} {value}: no" in line and f"in run {evs.v1}" in line and known in line


def test_robustness_clause_filter(evs):
    r = cli("robustness", evs.v2, "--clause", "nope", "--db", evs.db)
    assert r.returncode == 2 and "--clause nope: no clause 'nope' in run" in r.stderr and r.stdout == ""


def test_a_run_without_judges_says_so(evs):
    r = cli("disagreements", evs.v1_no_panel, "--judge", "ev-a", "--db", evs.db)
    assert r.returncode == 2 and "has no judges yet" in r.stderr


def test_known_names_still_answer(evs):
    assert (
        cli("trends", "--pact", "evidence-pact", "--judge", "ev-b", "--view", "judges", "--db", evs.db).returncode == 0
    )
    r = cli("disagreements", evs.v1, "--judge", "ev-c", "--db", evs.db)
    assert r.returncode == 0 and "ev-c" in r.stdout
    r = cli("status", "--pact", "old-pact", "--db", evs.db)
    assert r.returncode == 0 and "old-pact" in r.stdout
