"""Human review round trip (export, label, import), append-only revisions, judge calibration, and JUnit output
read back by a real consumer (junitparser)."""

from __future__ import annotations

import csv
import json

import pytest
from decisionhelpers import jury_run, jury_suite
from junitparser import Failure, JUnitXml, Skipped

from harness.cli import main
from harness.review import calibration, kappa
from harness.store import Store

# the reviewers' labels for the queue (cases 4-9) of decisionhelpers.QUEUE_VOTES
HUMAN = {
    "case-004": "pass",
    "case-005": "pass",
    "case-006": "fail",
    "case-007": "fail",
    "case-008": "fail",
    "case-009": "fail",
}


@pytest.fixture()
def reviewed(tmp_path):
    root = jury_suite(tmp_path / "suite")
    db = tmp_path / "r.duckdb"
    return tmp_path, db, jury_run(db, root)


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_label_import_round_trip_changes_results_and_keeps_originals(reviewed, capsys):
    tmp_path, db, run_id = reviewed
    queue = tmp_path / "queue.csv"
    code, _, err = cli(capsys, "review", "export", run_id, "--db", db, "-o", queue)
    assert code == 0 and "6 case(s) to review" in err
    rows = list(csv.DictReader(queue.open()))
    # the inconclusive ones first, then the split ones; never the unanimous cases 0-3
    assert [r["case_id"] for r in rows[:2]] == ["case-007", "case-008"]
    assert {r["case_id"] for r in rows} == set(HUMAN)
    first = next(r for r in rows if r["case_id"] == "case-005")
    assert first["jury_verdict"] == "fail" and first["split"] == "1-2" and first["input"] == "hello number 5"
    assert first["claim"] == "Is courteous." and first["output"] == '{"greeting": "hello 5"}'
    assert json.loads(first["tool_calls"]) == [] and json.loads(first["expected"]) == {"label": "odd"}
    assert first["vote:j-a"] == "pass" and "j-b thinks fail on case-005" in first["rationale:j-b"]
    assert json.loads(first["checks"]) == [] and len(json.loads(first["votes"])) == 3
    assert (first["label"], first["reviewer"], first["note"]) == ("", "", "")

    for r in rows:
        r["label"] = HUMAN[r["case_id"]].upper() if r["case_id"] == "case-004" else HUMAN[r["case_id"]]
    rows[0]["reviewer"] = "bob"  # a row's own reviewer wins over --reviewer
    with queue.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    code, out, _ = cli(capsys, "review", "import", queue, "--reviewer", "alice", "--db", db)
    assert code == 0, out
    assert "imported 6 label(s) (2 pass, 4 fail)" in out and "tone inconclusive -> breached" in out
    assert "decision RESTRICT (was APPROVE)" in out

    with Store(db, read_only=True) as store:
        # the jury's originals are untouched; the review is revision 1
        assert [(r["clause_id"], r["status"]) for r in store.clause_results(run_id)] == [
            ("says-hello", "met"),
            ("tone", "inconclusive"),
        ]
        assert store.decision(run_id)["decision"] == "approve"
        revision, current = store.current_clause_results(run_id)
        tone = next(r for r in current if r["clause_id"] == "tone")
        assert revision == 1 and (tone["passed"], tone["failed"], tone["inconclusive"], tone["status"]) == (
            6,
            4,
            0,
            "breached",
        )
        assert tone["human_labels"] == 6
        assert store.current_run_decision(run_id)["decision"] == "restrict"
        labels = store.query(
            "SELECT case_id, label, reviewer, source, source_row, labelled_at FROM human_labels ORDER BY case_id"
        )
        assert {r["reviewer"] for r in labels} == {"alice", "bob"} and all(r["labelled_at"] for r in labels)
        assert all(r["source"] == str(queue) for r in labels)
        provenance = {v["case_id"]: v for v in store.effective_verdicts(run_id) if v["clause_id"] == "tone"}
        assert provenance["case-007"]["decided_by"] == "human"
        assert provenance["case-007"]["original_outcome"] == "inconclusive"
        assert provenance["case-001"]["decided_by"] == "panel"

    code, out, _ = cli(capsys, "show", run_id, "--db", db, "--json")
    shown = json.loads(out)
    assert code == 1  # the reviewed run now has a breached clause
    assert shown["revision"] == 1 and shown["decision"]["decision"] == "restrict"
    tone = next(c for c in shown["clauses"] if c["clause_id"] == "tone")
    assert tone["failing_cases"] == ["case-006", "case-007", "case-008", "case-009"]

    # a second import is revision 2; the latest label wins
    relabel = tmp_path / "relabel.jsonl"
    relabel.write_text(
        "\n".join(
            json.dumps(dict(run_id=run_id, case_id=c, clause_id="tone", label="pass", reviewer="carol"))
            for c in ("case-006", "case-007")
        )
        + "\n"
    )
    code, out, _ = cli(capsys, "review", "import", relabel, "--db", db)
    assert code == 0 and f"run {run_id}: revision 2" in out
    with Store(db, read_only=True) as store:
        revision, current = store.current_clause_results(run_id)
        tone = next(r for r in current if r["clause_id"] == "tone")
        assert revision == 2 and (tone["passed"], tone["failed"]) == (8, 2)
        assert store.query("SELECT count(*) AS n FROM clause_result_revisions")[0]["n"] == 4  # 2 clauses x 2


def test_jsonl_export_has_structured_fields(reviewed, capsys):
    _, db, run_id = reviewed
    code, out, _ = cli(capsys, "review", "export", run_id, "--format", "jsonl", "--db", db)
    items = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(items) == 6
    votes = {v["judge"]: v for v in items[0]["votes"]}
    assert votes["j-b"]["label"] == "abstain" and votes["j-b"]["abstain_reason"] == "unparseable reply"
    assert items[0]["expected"] == {"label": "odd"} and items[0]["label"] == ""


@pytest.mark.parametrize(
    "row,needle",
    [
        ({"case_id": "case-404"}, "row 2: unknown case 'case-404'"),
        ({"clause_id": "says-goodbye"}, "row 2: unknown clause 'says-goodbye'"),
        ({"label": "maybe"}, "row 2: label 'maybe' must be pass or fail"),
        ({"run_id": "no-such-run"}, "row 2: unknown run 'no-such-run'"),
        ({"reviewer": ""}, "row 2: no reviewer"),
    ],
)
def test_import_validation_is_one_line_naming_file_and_row(reviewed, capsys, row, needle):
    tmp_path, db, run_id = reviewed
    path = tmp_path / "labels.csv"
    good = dict(run_id=run_id, case_id="case-004", clause_id="tone", label="pass", reviewer="ann", note="")
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(good))
        writer.writeheader()
        writer.writerow(good)
        writer.writerow({**good, **row})
    code, out, err = cli(capsys, "review", "import", path, "--db", db)
    assert code == 2 and needle in err and str(path) in err and len(err.strip().splitlines()) == 1, err
    with Store(db, read_only=True) as store:  # nothing was stored: the file is validated whole first
        assert store.query("SELECT count(*) AS n FROM human_labels")[0]["n"] == 0


def test_judge_calibration_on_a_constructed_example(reviewed, capsys):
    tmp_path, db, run_id = reviewed
    path = tmp_path / "l.jsonl"
    path.write_text(
        "".join(
            json.dumps(dict(run_id=run_id, case_id=c, clause_id="tone", label=lab)) + "\n" for c, lab in HUMAN.items()
        )
    )
    assert cli(capsys, "review", "import", path, "--reviewer", "ann", "--db", db)[0] == 0
    code, out, _ = cli(capsys, "review", "stats", run_id, "--db", db, "--json")
    groups = {g["selection"]: g for g in json.loads(out)}
    # every label is on a queue item (no audit sample was drawn): the queue and all labels, stated as such
    assert set(groups) == {"queue", "all"} and groups["queue"]["n_items"] == groups["all"]["n_items"] == 6
    assert "disagreement queue" in groups["queue"]["description"]
    assert groups["queue"]["judges"] == groups["all"]["judges"]
    stats = {s["judge"]: s for s in groups["all"]["judges"]}
    # j-a voted pass, pass, pass, pass, fail, fail against pass, pass, fail, fail, fail, fail:
    # 4/6 agree; chance agreement (4/6)(2/6) + (2/6)(4/6) = 4/9; kappa = (2/3 - 4/9) / (5/9) = 0.4
    a = stats["j-a"]
    assert (a["n"], a["agree"]) == (6, 4) and a["kappa"] == pytest.approx(0.4)
    assert a["sensitivity"] == 1.0 and a["specificity"] == 0.5
    # j-b abstained twice; on the other 4 it agrees 2 times at chance level: kappa 0
    assert (stats["j-b"]["n"], stats["j-b"]["not_counted"], stats["j-b"]["kappa"]) == (4, 2, pytest.approx(0.0))
    # j-c agrees once in 4 with a pass rate of 1/4 against 2/4: kappa (0.25 - 0.5) / 0.5 = -0.5
    assert stats["j-c"]["accuracy"] == 0.25 and stats["j-c"]["kappa"] == pytest.approx(-0.5)
    # the panel verdict itself: 2 of the 4 it decided
    assert (stats["(panel)"]["n"], stats["(panel)"]["agree"]) == (4, 2)
    code, out, _ = cli(capsys, "review", "stats", "--all", "--db", db)
    assert code == 0 and "j-a" in out and "0.40" in out and "-0.50" in out
    assert "queue: 6 labelled item(s); disagreement queue" in out
    code, out, _ = cli(capsys, "show", run_id, "--db", db)
    assert "judges against human labels" in out and "human review: revision 1" in out


def test_kappa_and_calibration_edge_cases():
    assert kappa({("pass", "pass"): 3, ("fail", "fail"): 3}) == pytest.approx(1.0)
    assert kappa({("pass", "pass"): 4}) is None  # chance agreement 1: undefined
    assert kappa({}) is None
    stats = calibration([])
    assert stats == [
        dict(
            judge="(panel)",
            labelled=0,
            n=0,
            not_counted=0,
            agree=0,
            accuracy=None,
            accuracy_ci_low=None,
            accuracy_ci_high=None,
            kappa=None,
            sensitivity=None,
            specificity=None,
        )
    ]


def test_junit_is_read_by_junitparser(reviewed, capsys):
    tmp_path, db, run_id = reviewed
    labels = tmp_path / "l.jsonl"
    labels.write_text(
        "".join(
            json.dumps(dict(run_id=run_id, case_id=c, clause_id="tone", label=lab, reviewer="ann")) + "\n"
            for c, lab in HUMAN.items()
        )
    )
    cli(capsys, "review", "import", labels, "--db", db)
    before = tmp_path / "before.xml"
    code, _, _ = cli(capsys, "show", run_id, "--db", db, "--junit", before, "--confidence", "0.5")
    assert code == 1
    (suite,) = list(JUnitXml.fromfile(str(before)))
    cases = {c.name: c for c in suite}
    assert set(cases) == {"says-hello", "tone"} and suite.tests == 2 and suite.failures == 1
    assert cases["says-hello"].is_passed
    (failure,) = cases["tone"].result
    assert isinstance(failure, Failure) and failure.type == "breached"
    assert "threshold 90.0%" in failure.message and "50% CI" in failure.message
    assert "6 passed, 4 failed" in failure.message
    assert "failing cases: case-006, case-007, case-008, case-009" in failure.text
    props = {p.name: p.value for p in suite.properties()}
    assert props["run_id"] == run_id and props["decision"] == "restrict" and props["revision"] == "1"


def test_junit_skips_undecided_clauses(tmp_path, capsys):
    root = jury_suite(tmp_path / "suite")
    db = tmp_path / "u.duckdb"
    run_id = jury_run(db, root)
    out = tmp_path / "u.xml"
    assert cli(capsys, "show", run_id, "--db", db, "--junit", out)[0] == 0
    suite = next(iter(JUnitXml.fromfile(str(out))))
    cases = {c.name: c for c in suite}
    (skipped,) = cases["tone"].result
    assert isinstance(skipped, Skipped) and skipped.message.startswith("inconclusive:")
    assert "2 inconclusive" in skipped.message and "more cases to decide" in skipped.message


@pytest.mark.parametrize(
    "name,data,needle",
    [
        ("labels.csv", bytes(range(256)) * 4, "a binary file, not a labelled export"),
        ("labels.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file"),
        (
            "labels.csv",
            "run_id,case_id,clause_id,label\nr,case-004,tone,pass — déjà\n".encode("latin-1", "replace"),
            "line 2: not UTF-8 text (byte 0x",
        ),
        ("labels.jsonl", b'{"run_id": "r", "note": "\xff\xfe"}\n', "line 1: not UTF-8 text (byte 0xff"),
    ],
)
def test_import_of_a_binary_or_non_utf8_file_is_one_line_and_writes_nothing(reviewed, capsys, name, data, needle):
    tmp_path, db, _ = reviewed
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = cli(capsys, "review", "import", path, "--reviewer", "ann", "--db", db)
    assert code == 2 and out == "" and needle in err and str(path) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with Store(db, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM human_labels")[0]["n"] == 0
        assert store.query("SELECT count(*) AS n FROM clause_result_revisions")[0]["n"] == 0


def test_failed_deterministic_cases_are_listed_by_show(tmp_path, capsys):
    import yaml
    from decisionhelpers import det_suite, run_suite

    root = det_suite(tmp_path / "suite", n=6)
    suite = yaml.safe_load((root / "suite.yaml").read_text())
    for case in suite["cases"][1:4:2]:  # cases 1 and 3 expect the wrong label: label-right fails on them
        case["expected"] = {"label": "even"}
    (root / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    db = tmp_path / "d.duckdb"
    run_id = run_suite(db, root)
    with Store(db, read_only=True) as store:
        failing = store.query(
            "SELECT case_id, clause_id, check_name, detail FROM check_results WHERE run_id = ? "
            "AND outcome = 'fail' ORDER BY clause_id, case_id",
            [run_id],
        )
    assert [f["case_id"] for f in failing] == ["case-001", "case-003"]
    code, out, _ = cli(capsys, "show", run_id, "--db", db)
    assert "failed deterministic checks (2 case(s))" in out
    for f in failing:
        line = next(ln for ln in out.splitlines() if ln.startswith(f["case_id"]) and f["clause_id"] in ln)
        assert f["check_name"] in line and (f["detail"] or "")[:30] in line
    code, out, _ = cli(capsys, "show", run_id, "--db", db, "--json")
    shown = json.loads(out)["failed_checks"]
    assert [(r["case_id"], r["clause_id"], r["check"]) for r in shown] == [
        (f["case_id"], f["clause_id"], f["check_name"]) for f in failing
    ]
