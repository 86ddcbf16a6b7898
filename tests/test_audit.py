"""The audit sample of `review export --audit N --seed S`, and why it exists: a seeded simulation in which judges
of known accuracy are calibrated on the disagreement queue (biased low) and on the audit sample (close to true)."""

from __future__ import annotations

import csv
import json
import random

import pytest
from decisionhelpers import JUDGES, jury_run, jury_suite

from harness.cli import main
from harness.store import Store

ACCURACY = {"j-a": 0.9, "j-b": 0.75, "j-c": 0.6}
N_CASES = 400
AUDIT = 120


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def simulate(n: int, seed: int) -> tuple[dict[str, str], list[tuple[int, str, str, str, str]]]:
    """Truth per case (70% pass) and each judge's vote: right with its accuracy, independently; majority verdict."""
    rng = random.Random(seed)
    truth, votes = {}, []
    for i in range(n):
        true = "pass" if rng.random() < 0.7 else "fail"
        labels = [true if rng.random() < ACCURACY[j] else ("fail" if true == "pass" else "pass") for j in JUDGES]
        verdict = "pass" if labels.count("pass") >= 2 else "fail"
        truth[f"case-{i:03d}"] = true
        votes.append((i, *labels, verdict))
    return truth, votes


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    truth, votes = simulate(N_CASES, seed=20261203)
    root = jury_suite(tmp / "suite", n=N_CASES)
    db = tmp / "sim.duckdb"
    run_id = jury_run(db, root, votes=votes)
    # each judge's accuracy over the whole run: what calibration should estimate
    real = {j: sum(v[1 + k] == truth[f"case-{v[0]:03d}"] for v in votes) / N_CASES for k, j in enumerate(JUDGES)}
    return tmp, db, run_id, truth, real


def test_audit_sample_is_seeded_marked_and_beside_the_queue(simulated, capsys):
    tmp, db, run_id, _, _ = simulated
    out = tmp / "a.csv"
    code, _, err = cli(capsys, "review", "export", run_id, "--audit", "20", "--seed", "5", "--db", db, "-o", out)
    assert code == 0 and "an audit sample of 20 drawn at random from the 400 panel verdicts (seed 5" in err
    rows = list(csv.DictReader(out.open()))
    audit = [r for r in rows if r["selection"] == "audit"]
    queue = [r for r in rows if r["in_queue"] == "yes"]
    assert len(audit) == 20 and all(r["audit_seed"] == "5" for r in audit)
    assert all(r["audit_seed"] == "" for r in rows if r["selection"] == "queue")
    with Store(db, read_only=True) as store:
        split = store.query(
            "SELECT count(*) AS n FROM verdicts WHERE run_id = ? AND decided_by = 'panel' AND entropy_bits > 0",
            [run_id],
        )[0]["n"]
    assert len(queue) == split  # the whole queue is there, audit rows that fall in it included
    assert len(rows) == split + sum(1 for r in audit if r["in_queue"] == "no")
    # the same seed draws the same sample; another seed another one
    again = tmp / "b.jsonl"
    cli(capsys, "review", "export", run_id, "--audit", "20", "--seed", "5", "--db", db, "-o", again)
    items = [json.loads(line) for line in again.read_text().splitlines()]
    assert {i["case_id"] for i in items if i["selection"] == "audit"} == {r["case_id"] for r in audit}
    other = tmp / "c.jsonl"
    cli(capsys, "review", "export", run_id, "--audit", "20", "--seed", "6", "--db", db, "-o", other)
    drawn = {
        json.loads(line)["case_id"]
        for line in other.read_text().splitlines()
        if json.loads(line)["selection"] == "audit"
    }
    assert len(drawn) == 20 and drawn != {r["case_id"] for r in audit}


def test_calibration_on_the_audit_sample_is_close_to_true_accuracy_and_the_queue_is_biased(simulated, capsys):
    tmp, db, run_id, truth, real = simulated
    assert real == pytest.approx(ACCURACY, abs=0.04)  # the simulated judges are what they should be
    export = tmp / "review.csv"
    assert (
        cli(capsys, "review", "export", run_id, "--audit", str(AUDIT), "--seed", "11", "--db", db, "-o", export)[0] == 0
    )
    rows = list(csv.DictReader(export.open()))
    for r in rows:  # the reviewer knows the truth
        r["label"], r["reviewer"] = truth[r["case_id"]], "oracle"
    with export.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert cli(capsys, "review", "import", export, "--db", db)[0] == 0

    code, out, _ = cli(capsys, "review", "stats", run_id, "--db", db, "--json")
    groups = {g["selection"]: g for g in json.loads(out)}
    assert code == 0 and set(groups) == {"audit", "queue", "all"}
    assert groups["audit"]["n_items"] == AUDIT and groups["audit"]["seeds"] == [11]
    assert f"{AUDIT} labelled of {N_CASES} panel verdicts, seed 11" in groups["audit"]["description"]
    # measured: true .912 / .750 / .605; audit sample .883 / .717 / .650; queue .860 / .575 / .320
    audit = {s["judge"]: s for s in groups["audit"]["judges"]}
    queue = {s["judge"]: s for s in groups["queue"]["judges"]}
    for judge in JUDGES:
        a, q = audit[judge], queue[judge]
        # the audit sample: close to the judge's accuracy over the run, which lies inside its 95% interval
        assert abs(a["accuracy"] - real[judge]) < 0.06, (judge, a["accuracy"], real[judge])
        assert a["accuracy_ci_low"] <= real[judge] <= a["accuracy_ci_high"]
        # the disagreement queue: every judge looks worse than it is
        assert q["accuracy"] < real[judge] - 0.04, (judge, q["accuracy"], real[judge])
    # the weaker judges the more so: their true accuracy lies outside the queue's interval
    for judge in ("j-b", "j-c"):
        assert queue[judge]["accuracy_ci_high"] < real[judge]
    assert queue["j-c"]["accuracy"] < 0.45 < audit["j-c"]["accuracy"]
    code, out, _ = cli(capsys, "review", "stats", run_id, "--db", db)
    assert "audit: 120 labelled item(s); random audit sample" in out and "queue:" in out
