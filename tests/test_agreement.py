"""Agreement statistics against published worked examples, plus hand-computed cases and degenerate input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters

from harness.stats.agreement import (
    alpha,
    case_agreement,
    cohen_from_table,
    fleiss_from_counts,
    fleiss_table,
    panel_agreement,
    wilson,
)
from harness.types import Ballot, Vote

NAN = np.nan


def vote(judge, label, score=None, sample=0, case="c"):
    return Vote(case_id=case, clause_id="k", judge=judge, model="m", label=label, score=score, sample=sample)


def ballot(*votes, case="c", complete=True):
    return Ballot(case_id=case, clause_id="k", votes=tuple(votes), complete=complete)


def run(rows, judges=None):
    """Ballots from rows of labels ('p', 'f', 'a' abstain, None no vote), one column per judge."""
    out = []
    for i, row in enumerate(rows):
        names = judges or [f"j{k}" for k in range(len(row))]
        code = {"p": "pass", "f": "fail", "a": "abstain"}
        out.append(ballot(*(vote(n, code[x], case=f"c{i}") for n, x in zip(names, row) if x), case=f"c{i}"))
    return out


# ---------------------------------------------------------------- per ballot


def test_case_agreement_counts_split_and_entropy():
    c = case_agreement(run([["p", "p", "f", "a"]])[0])
    assert (c.pass_votes, c.fail_votes, c.abstain_votes, c.split) == (2, 1, 1, "2-1")
    # H(1/3, 2/3) = log2(3) - 2/3 = 0.9183 bits
    assert c.entropy_bits == pytest.approx(math.log2(3) - 2 / 3) and c.entropy_bits == pytest.approx(0.9183, abs=1e-4)
    assert not c.unanimous
    assert case_agreement(run([["p", "f"]])[0]).entropy_bits == pytest.approx(1.0)
    c = case_agreement(run([["f", "f", "f"]])[0])
    assert c.entropy_bits == 0.0 and c.unanimous and c.split == "0-3"


def test_case_agreement_needs_two_valid_votes_for_unanimity():
    c = case_agreement(run([["p", "a"]])[0])
    assert c.entropy_bits == 0.0 and not c.unanimous
    c = case_agreement(run([["a", "a"]])[0])
    assert c.entropy_bits is None and not c.unanimous and c.split == "0-0"
    c = case_agreement(ballot(vote("x", "pass", sample=0), vote("x", "pass", sample=1)))
    assert c.unanimous and c.pass_votes == 2  # every sample is a vote here


# ---------------------------------------------------------------- Fleiss' kappa


def test_fleiss_wikipedia_worked_example():
    """Wikipedia, "Fleiss' kappa", section "Worked example": 10 subjects x 14 raters x 5 categories, kappa = 0.210.
    (This table is the article's own illustration; Fleiss (1971) is checked on its own data below.)"""
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_from_counts(np.array(counts)) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_1971_psychiatric_diagnoses():
    """Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. Psychological Bulletin 76(5),
    378-382: 30 patients, 6 psychiatrists, 5 diagnoses (Table 1); overall kappa = .430. The rater-by-rater
    form used here is the `diagnoses` data set of the R package irr (Gamer et al.), built from that table."""
    rows = (
        "444444 222555 233335 555555 222444 113333 333355 113334 114444 555555 144444 124444 222333 144444 "
        "224445 333335 111455 111112 224444 133555 555555 244444 224555 114444 144445 222224 111155 224444 "
        "133333 555555"
    ).split()
    data = np.array([[int(c) for c in r] for r in rows])
    counts, _ = aggregate_raters(data)
    assert counts.shape == (30, 5)
    assert fleiss_from_counts(counts) == pytest.approx(0.430, abs=5e-4)


def test_panel_builds_the_fleiss_table_from_ballots():
    # Pass counts 3, 0, 2, 1 of 3 raters: P_i = 1, 1, 1/3, 1/3 so P-bar = 2/3; p(pass) = 6/12 so P_e = 1/2;
    # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3. The fifth item has an abstain, so Fleiss cannot use it.
    rows = [["p", "p", "p"], ["f", "f", "f"], ["p", "f", "p"], ["f", "f", "p"], ["p", "a", "p"]]
    s = panel_agreement(run(rows))
    labels = np.array([[1, 0, 1, 0, 1], [1, 0, 0, 0, NAN], [1, 0, 1, 1, 1]], dtype=float)
    assert fleiss_table(labels).tolist() == [[0, 3], [3, 0], [1, 2], [2, 1]]  # (fail, pass) per item
    assert s.fleiss_items == 4 and s.fleiss_kappa == pytest.approx(1 / 3)


# ---------------------------------------------------------------- Krippendorff's alpha

# Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability. Annenberg School for Communication,
# University of Pennsylvania, Departmental Papers (ASC) 43. The reliability data of section C ("Nominal data,
# any number of observers, missing data"): observers A-D x units 1-12, None = missing. The paper gives
# alpha = .743 there (nominal), and for the same data .815 in section D (ordinal), .849 in section E (interval).
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_krippendorff_2011_sections_c_d_e():
    m = np.array([[NAN if x is None else x for x in row] for row in KRIPPENDORFF_C], dtype=float)
    assert alpha(m, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert alpha(m, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert alpha(m, "interval") == pytest.approx(0.849, abs=5e-4)


def test_panel_ordinal_and_interval_alpha_from_scores():
    # The same data as judge scores on 1-5: one ballot per unit, a missing value is an abstain or no vote.
    ballots = []
    for u in range(12):
        vs = []
        for k, row in enumerate(KRIPPENDORFF_C):
            if row[u] is not None:
                vs.append(vote(f"obs{k}", "pass", score=float(row[u]), case=f"u{u}"))
            elif k % 2:
                vs.append(vote(f"obs{k}", "abstain", case=f"u{u}"))
        ballots.append(ballot(*vs, case=f"u{u}"))
    s = panel_agreement(ballots)
    assert s.krippendorff_alpha_ordinal == pytest.approx(0.815, abs=5e-4)
    assert s.krippendorff_alpha_interval == pytest.approx(0.849, abs=5e-4)


def test_panel_nominal_alpha_on_labels():
    """Krippendorff (2011), section A ("Binary or dichotomous data, two observers, no missing data"):
    10 units, alpha = .095. Observer values 1 are read as pass, 0 as fail."""
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    s = panel_agreement(run([["p" if x else "f", "p" if y else "f"] for x, y in zip(a, b)]))
    assert s.krippendorff_alpha_nominal == pytest.approx(0.095, abs=5e-4)


# ---------------------------------------------------------------- Cohen's kappa and percent agreement


def test_cohen_kappa_wikipedia_example_through_ballots():
    """Wikipedia, "Cohen's kappa", section "Simple example": 50 grant proposals read by A and B; 20 yes/yes,
    5 A-yes/B-no, 10 A-no/B-yes, 15 no/no; p_o = 0.7, p_e = 0.5, kappa = 0.40. Here yes = pass."""
    rows = [["p", "p"]] * 20 + [["p", "f"]] * 5 + [["f", "p"]] * 10 + [["f", "f"]] * 15
    s = panel_agreement(run(rows, judges=["A", "B"]))
    assert s.cohen_kappa["A"]["B"] == pytest.approx(0.40) and s.cohen_kappa["B"]["A"] == s.cohen_kappa["A"]["B"]
    assert s.percent_agreement == pytest.approx(0.7)  # with two raters, the article's p_o
    assert cohen_from_table(np.array([[20, 5], [10, 15]])) == pytest.approx(0.40)


def test_cohen_uses_only_items_both_judges_voted_on():
    rows = [["p", "p", "p"], ["f", "f", "a"], ["p", "f", None], ["f", "f", "f"]]
    s = panel_agreement(run(rows))
    # j0-j1: table [[fail-fail 2, fail-pass 0], [pass-fail 1, pass-pass 1]]: p_o = 3/4,
    # p_e = (2/4)(3/4) + (2/4)(1/4) = 1/2, kappa = 1/2. j0-j2 and j1-j2 agree on both shared items, 1 each.
    assert s.cohen_kappa["j0"]["j1"] == pytest.approx(0.5)
    assert s.cohen_kappa["j0"]["j2"] == pytest.approx(1.0)
    assert cohen_from_table(np.array([[0, 0], [0, 3]])) is None  # chance agreement 1: undefined


def test_percent_agreement_by_hand():
    # Items: 2-1 -> 1 agreeing pair of 3; 3-0 -> 3 of 3; 1 valid rating -> skipped. Mean (1/3 + 1) / 2 = 2/3.
    s = panel_agreement(run([["p", "p", "f"], ["f", "f", "f"], ["p", "a", None]]))
    assert s.percent_agreement == pytest.approx(2 / 3) and s.percent_agreement_items == 2


# ---------------------------------------------------------------- per judge, Wilson intervals


def test_wilson_newcombe_1998():
    """Newcombe, R. G. (1998). Two-sided confidence intervals for the single proportion: comparison of seven
    methods. Statistics in Medicine 17, 857-872, Table I, method 3 (score/Wilson): 81/263 -> 0.2553 to 0.3662."""
    low, high = wilson(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-5) and high == pytest.approx(0.3662, abs=5e-5)
    assert wilson(0, 0) is None


def test_judge_pass_interval_through_ballots():
    rows = [["p"]] * 81 + [["f"]] * 182 + [["a"]] * 5
    j = panel_agreement(run(rows, judges=["x"])).judges[0]
    assert j.n == 268 and j.pass_rate == pytest.approx(81 / 263)
    assert j.pass_ci == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert j.abstain_rate == pytest.approx(5 / 268) and j.abstain_ci == wilson(5, 268)


def test_agreement_with_panel_is_leave_one_out_and_skips_inconclusive_references():
    rows = [["p", "p"], ["f", "p"], ["f", "f"], ["p", "a"], ["p", "f"]]
    s = panel_agreement(run(rows, judges=["x", "y"]), ["pass", "pass", "fail", "pass", "inconclusive"])
    x, y = s.judges
    # Leave-one-out: x against y's vote (none on row 3: no reference), y against x's (y abstains on row 3).
    assert (x.judge, x.n_compared, x.agreement_with_panel) == ("x", 4, 0.5)
    assert (y.judge, y.n_compared, y.agreement_with_panel) == ("y", 4, 0.5)
    assert x.agreement_ci == wilson(2, 4) and s.agreement_reference == "leave-one-out"
    # The full-panel figure, kept for reference, counts the judge's own vote and skips the inconclusive verdict.
    assert (x.agreement_full_panel, y.agreement_full_panel) == (0.75, 1.0)
    assert panel_agreement(run(rows)).judges[0].agreement_full_panel is None  # no verdicts given
    with pytest.raises(ValueError):
        panel_agreement(run(rows), ["pass"])


# ---------------------------------------------------------------- which ballots and votes count


def test_incomplete_ballots_are_excluded_and_verdicts_stay_aligned():
    bs = run([["p", "p"], ["f", "f"], ["f", "p"]])
    bs[1] = bs[1].model_copy(update={"complete": False})
    s = panel_agreement(bs, ["pass", "fail", "pass"])
    assert (s.n_ballots, s.n_excluded_incomplete) == (2, 1)
    # Ballots 0 and 2: j0 says pass (panel pass) then fail (panel pass). Pairing ballot 2 with verdict 1
    # ("fail") instead would give 1.0.
    assert s.judges[0].agreement_full_panel == 0.5
    assert s.judges[0].n == 2


def test_first_sample_represents_a_judge_in_rater_statistics():
    # x's sample 0 (listed neither first nor last) says fail, samples 1 and 2 pass; y says fail:
    # the rater matrix holds fail/fail.
    b = ballot(vote("x", "pass", sample=1), vote("x", "fail", sample=0), vote("x", "pass", sample=2), vote("y", "fail"))
    s = panel_agreement([b])
    assert s.percent_agreement == 1.0
    assert s.judges[0].n == 3 and s.judges[0].pass_rate == pytest.approx(2 / 3)  # per-judge rates count every sample


# ---------------------------------------------------------------- degenerate input


def undefined(s):
    return (
        s.percent_agreement,
        s.fleiss_kappa,
        s.krippendorff_alpha_nominal,
        s.krippendorff_alpha_ordinal,
        s.krippendorff_alpha_interval,
    )


def test_no_ballots():
    s = panel_agreement([], [])
    assert s.n_ballots == 0 and s.judges == () and s.cohen_kappa == {} and undefined(s) == (None,) * 5
    json.dumps(s.model_dump())


def test_one_judge_all_abstain_and_no_variance():
    one = panel_agreement(run([["p"], ["f"], ["p"]]))
    assert undefined(one) == (None,) * 5 and one.judges[0].pass_rate == pytest.approx(2 / 3)
    abstain = panel_agreement(run([["a", "a"], ["a", "a"]]))
    assert undefined(abstain) == (None,) * 5 and abstain.cohen_kappa == {"j0": {"j1": None}, "j1": {"j0": None}}
    assert abstain.judges[0].pass_rate is None and abstain.judges[0].abstain_rate == 1.0
    same = panel_agreement(run([["p", "p"], ["p", "p"]]))
    assert same.percent_agreement == 1.0 and same.fleiss_kappa is None and same.krippendorff_alpha_nominal is None
    assert same.cohen_kappa["j0"]["j1"] is None


def test_everything_is_json_serialisable():
    rows = [["p", "p", "f"], ["f", "a", "f"], ["p", "p", "p"]]
    bs = [
        ballot(*(v.model_copy(update={"score": 4.0 if v.label == "pass" else 2.0}) for v in b.votes), case=b.case_id)
        for b in run(rows)
    ]
    s = panel_agreement(bs, ["pass", "fail", "pass"])
    back = json.loads(json.dumps(s.model_dump()))
    assert back["cohen_kappa"]["j0"].keys() == {"j1", "j2"} and len(back["judges"]) == 3
    assert json.loads(s.model_dump_json())["fleiss_items"] == 2
    json.dumps(case_agreement(bs[0]).model_dump())
