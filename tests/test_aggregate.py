"""Voting methods, Dawid-Skene and the adaptive-jury stop test (checked against brute force)."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from pydantic import ValidationError

from harness.errors import ConfigError
from harness.jury.aggregate import METHODS, AggregateOptions, aggregate, can_still_change, dawid_skene
from harness.types import Ballot, Vote


def vote(judge, label, score=None, sample=0, case="c1"):
    return Vote(case_id=case, clause_id="k", judge=judge, model="m", label=label, score=score, sample=sample)


def ballot(*votes, case="c1"):
    return Ballot(case_id=case, clause_id="k", votes=tuple(votes))


def labels(*ls):
    """A ballot with one vote per label, judges j0, j1, ..."""
    return ballot(*(vote(f"j{i}", lab) for i, lab in enumerate(ls)))


def decide(method, b, **opts):
    return aggregate(method, [b], AggregateOptions(**opts))[0]


# ---------------------------------------------------------------- majority / supermajority / unanimous


def test_majority_pass_fail_and_score():
    d = decide("majority", labels("pass", "pass", "fail"))
    assert d.outcome == "pass" and d.score == pytest.approx(2 / 3)
    assert decide("majority", labels("fail", "pass", "fail")).outcome == "fail"


@pytest.mark.parametrize("tie", ["fail", "pass", "inconclusive"])
def test_majority_even_split_follows_tie_rule(tie):
    assert decide("majority", labels("pass", "fail"), tie=tie).outcome == tie
    assert decide("majority", labels("pass", "fail", "abstain", "pass", "fail"), tie=tie).outcome == tie


def test_default_tie_rule_is_fail_closed():
    assert AggregateOptions().tie == "fail"
    assert decide("majority", labels("pass", "fail")).outcome == "fail"


def test_abstains_are_not_counted():
    # One pass among abstains is a 1-0 majority, not 1 of 3.
    assert decide("majority", labels("pass", "abstain", "abstain")).outcome == "pass"
    assert decide("majority", labels("fail", "abstain", "pass", "pass")).outcome == "pass"


def test_quorum():
    d = decide("majority", labels("pass", "abstain", "abstain"), quorum=2)
    assert d.outcome == "inconclusive" and d.reason == "quorum not met: 1 of 2 valid votes"
    d = decide("majority", labels("abstain", "abstain"))
    assert d.outcome == "inconclusive" and d.reason == "quorum not met: 0 of 1 valid votes"
    assert decide("majority", labels("pass", "pass"), quorum=2).outcome == "pass"
    for method in METHODS:
        assert decide(method, ballot()).outcome == "inconclusive"


def test_samples_count_as_votes():
    b = ballot(vote("a", "pass", sample=0), vote("a", "pass", sample=1), vote("b", "fail"))
    assert decide("majority", b).outcome == "pass"


def test_supermajority():
    assert decide("supermajority", labels("pass", "pass", "fail")).outcome == "pass"  # 2/3 reaches 2/3
    assert decide("supermajority", labels("fail", "fail", "pass")).outcome == "fail"
    assert decide("supermajority", labels("pass", "pass", "pass", "fail", "fail"), tie="pass").outcome == "pass"
    d = decide("supermajority", labels("pass", "pass", "pass", "fail", "fail"), tie="inconclusive")
    assert d.outcome == "inconclusive" and "tie rule" in d.reason  # 3/5 < 2/3
    assert decide("supermajority", labels("pass", "pass", "pass", "fail", "fail"), fraction=0.6).outcome == "pass"
    assert decide("supermajority", labels("pass", "pass", "pass", "fail"), fraction=0.75).outcome == "pass"
    assert decide("supermajority", labels("pass", "pass", "fail"), fraction=0.75).outcome == "fail"  # tie rule


@pytest.mark.parametrize("fraction", [0.5, 0.4, 1.01])
def test_supermajority_fraction_must_exceed_half(fraction):
    with pytest.raises(ValidationError):
        AggregateOptions(fraction=fraction)


def test_unanimous():
    assert decide("unanimous", labels("pass", "pass", "abstain")).outcome == "pass"
    assert decide("unanimous", labels("fail", "fail")).outcome == "fail"
    assert decide("unanimous", labels("pass", "fail", "pass")).outcome == "fail"  # fail-closed default
    # A split is never a pass: tie="pass" cannot turn disagreement into unanimity.
    assert decide("unanimous", labels("pass", "fail", "pass"), tie="pass").outcome == "inconclusive"
    assert decide("unanimous", labels("pass", "fail"), tie="inconclusive").outcome == "inconclusive"
    assert decide("unanimous", labels("pass", "abstain"), quorum=2).outcome == "inconclusive"


# ---------------------------------------------------------------- weighted


def test_weighted():
    b = labels("pass", "fail", "fail")
    assert decide("weighted", b).outcome == "fail"
    d = decide("weighted", b, weights={"j0": 3.0})
    assert d.outcome == "pass" and d.score == pytest.approx(0.6)
    assert decide("weighted", b, weights={"j0": 2.0}, tie="pass").outcome == "pass"  # 2 vs 1+1
    assert decide("weighted", b, weights={"j0": 2.0}, tie="inconclusive").outcome == "inconclusive"
    assert decide("weighted", b, weights={"j1": 0.5, "j2": 0.25}).outcome == "pass"
    # Abstaining heavy judges carry no weight.
    assert decide("weighted", labels("pass", "fail", "abstain"), weights={"j2": 100.0}, tie="pass").outcome == "pass"


def test_weighted_float_tie_is_a_tie():
    b = labels("pass", "pass", "fail")
    d = decide("weighted", b, weights={"j0": 0.1, "j1": 0.2, "j2": 0.3}, tie="inconclusive")
    assert d.outcome == "inconclusive" and d.score == 0.5


@pytest.mark.parametrize("w", [0.0, -1.0, float("inf"), float("nan")])
def test_weights_must_be_positive(w):
    with pytest.raises(ValidationError):
        AggregateOptions(weights={"a": w})


# ---------------------------------------------------------------- scores


def scored(*scores):
    return ballot(*(vote(f"j{i}", "abstain" if s is None else "pass", score=s) for i, s in enumerate(scores)))


def test_mean_score():
    d = decide("mean-score", scored(4, 4, 3))
    assert d.outcome == "fail" and d.score == pytest.approx(11 / 3)
    assert decide("mean-score", scored(5, 4, 3)).outcome == "pass"  # mean exactly 4: the mark is inclusive
    assert decide("mean-score", scored(5, 4, 3), pass_mark=4.5).outcome == "fail"
    assert decide("mean-score", scored(3, 4), pass_mark=3.5).outcome == "pass"


def test_median_score():
    d = decide("median-score", scored(1, 4, 5))
    assert d.outcome == "pass" and d.score == 4
    assert decide("mean-score", scored(1, 4, 5)).outcome == "fail"  # mean 3.33: the two methods differ here
    assert decide("median-score", scored(3, 4)).outcome == "fail"  # median 3.5
    assert decide("median-score", scored(4, 4, 1, 1)).outcome == "fail"  # median 2.5


def test_votes_without_score_abstain_for_score_methods():
    b = ballot(vote("a", "pass", score=5), vote("b", "fail"), vote("c", "pass"), vote("d", "abstain", score=1))
    d = decide("mean-score", b)
    assert d.outcome == "pass" and d.score == 5  # the abstain's score is ignored too
    assert decide("mean-score", b, quorum=2).reason == "quorum not met: 1 of 2 valid votes"
    assert decide("median-score", ballot(vote("a", "pass"))).outcome == "inconclusive"


# ---------------------------------------------------------------- registry


def test_registry_and_unknown_method():
    assert set(METHODS) == {
        "majority",
        "supermajority",
        "unanimous",
        "weighted",
        "mean-score",
        "median-score",
        "dawid-skene",
    }
    with pytest.raises(ConfigError) as e:
        aggregate("plurality", [], AggregateOptions())
    assert "plurality" in str(e.value) and "majority" in str(e.value) and "dawid-skene" in str(e.value)
    with pytest.raises(ConfigError):
        can_still_change("plurality", [], ["a"], AggregateOptions())


def test_one_decision_per_ballot_in_order():
    bs = [labels("pass"), labels("fail"), labels(), labels("pass", "pass")]
    bs = [ballot(*(vote(v.judge, v.label, score=5.0 if v.label == "pass" else 1.0) for v in b.votes)) for b in bs]
    for method in METHODS:
        assert [d.outcome for d in aggregate(method, bs, AggregateOptions())] == [
            "pass",
            "fail",
            "inconclusive",
            "pass",
        ], method
    assert aggregate("majority", [], AggregateOptions()) == []


# ---------------------------------------------------------------- Dawid-Skene


def synthetic_run(seed=7, n=200):
    """3 judges right 90% of the time, 2 that flip a coin whatever the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.4
    ballots = []
    for i, t in enumerate(truth):
        vs = [
            vote(f"good{k}", "pass" if (t if rng.random() < 0.9 else not t) else "fail", case=f"c{i}") for k in range(3)
        ]
        vs += [vote(f"coin{k}", "pass" if rng.random() < 0.5 else "fail", case=f"c{i}") for k in range(2)]
        ballots.append(ballot(*vs, case=f"c{i}"))
    return truth, ballots


def accuracy(decisions, truth):
    return np.mean([(d.outcome == "pass") == t for d, t in zip(decisions, truth)])


def test_dawid_skene_beats_majority_and_recovers_reliability():
    truth, ballots = synthetic_run()
    opts = AggregateOptions()
    ds, mv = (
        accuracy(aggregate("dawid-skene", ballots, opts), truth),
        accuracy(aggregate("majority", ballots, opts), truth),
    )
    assert ds > mv + 0.02 and ds >= 0.95
    posteriors, reliability, prior = dawid_skene(ballots)
    assert prior == pytest.approx(truth.mean(), abs=0.05)
    for k in range(3):
        r = reliability[f"good{k}"]
        assert r["sensitivity"] == pytest.approx(0.9, abs=0.1) and r["specificity"] == pytest.approx(0.9, abs=0.1)
    for k in range(2):
        r = reliability[f"coin{k}"]
        assert r["sensitivity"] == pytest.approx(0.5, abs=0.12) and r["specificity"] == pytest.approx(0.5, abs=0.12)
    assert all(0.0 <= p <= 1.0 for p in posteriors)


def test_dawid_skene_discounts_an_adversarial_judge():
    """Hand-checkable: a and b agree on 8 cases (4 pass, 4 fail) and c always contradicts them. On a ninth
    case only c votes, "pass": the majority rule follows c; Dawid-Skene has learnt that c inverts the truth.

    With a and b (nearly) certain, the 8 posteriors are 0/1 and the ninth, p, is a fixed point of the EM
    updates under the Beta(2, 1.01) judge prior and the +0.01 class-prior counts of harness.jury.aggregate:
    c's sensitivity s = (p + 1) / (4 + p + 1.01), specificity q = 1 / (4 + (1 - p) + 1.01),
    prior pi = (4 + p + 0.01) / (9 + 0.02), and p = pi s / (pi s + (1 - pi)(1 - q)).
    """
    bs = []
    for i in range(8):
        lab, other = ("pass", "fail") if i % 2 else ("fail", "pass")
        bs.append(ballot(vote("a", lab), vote("b", lab), vote("c", other)))
    bs.append(ballot(vote("a", "abstain"), vote("b", "abstain"), vote("c", "pass")))
    p = 0.5
    for _ in range(200):
        s, q, pi = (p + 1) / (5.01 + p), 1 / (6.01 - p), (4.01 + p) / 9.02
        p = pi * s / (pi * s + (1 - pi) * (1 - q))
    assert p == pytest.approx(0.195, abs=1e-3)  # the fixed point of the equations above
    posteriors, rel, prior = dawid_skene(bs)
    assert posteriors[8] == pytest.approx(p, abs=1e-3)
    assert prior == pytest.approx((4.01 + p) / 9.02, abs=1e-3)
    assert rel["c"]["sensitivity"] == pytest.approx((p + 1) / (5.01 + p), abs=1e-3)
    assert rel["c"]["specificity"] == pytest.approx(1 / (6.01 - p), abs=1e-3)
    assert rel["a"]["sensitivity"] == pytest.approx(5 / 5.01, abs=1e-3)  # 4 right of 4, plus the prior's 1 of 1.01
    assert [x > 0.5 for x in posteriors[:8]] == [bool(i % 2) for i in range(8)]
    assert aggregate("majority", bs, AggregateOptions())[8].outcome == "pass"
    d = aggregate("dawid-skene", bs, AggregateOptions())[8]
    assert d.outcome == "fail" and d.score == pytest.approx(posteriors[8])


def test_dawid_skene_believes_a_lone_judge_on_a_tiny_run():
    # Without the judge prior, maximum likelihood explains the lone fail as noise around an all-pass run.
    posteriors, _, _ = dawid_skene([labels("pass"), labels("fail"), labels("pass", "pass")])
    assert posteriors[0] > 0.9 and posteriors[1] < 0.1 and posteriors[2] > 0.9


@pytest.mark.parametrize("tie", ["fail", "pass", "inconclusive"])
def test_dawid_skene_symmetric_split_is_a_tie(tie):
    """Swapping pass/fail together with judges a/b maps this run onto itself, so the estimated
    reliabilities are mirror images and a's pass against b's fail has posterior exactly 1/2."""
    bs = [
        ballot(vote("a", "pass"), vote("b", "pass")),
        ballot(vote("a", "pass"), vote("b", "pass")),
        ballot(vote("a", "fail"), vote("b", "fail")),
        ballot(vote("a", "fail"), vote("b", "fail")),
        ballot(vote("a", "pass"), vote("b", "fail")),
        ballot(vote("a", "fail"), vote("b", "pass")),
    ]
    d = aggregate("dawid-skene", bs, AggregateOptions(tie=tie))
    assert d[4].score == pytest.approx(0.5, abs=1e-12) and d[4].outcome == tie
    assert d[0].outcome == "pass" and d[2].outcome == "fail"


def test_dawid_skene_samples_quorum_and_empty():
    bs = [
        ballot(vote("a", "pass", sample=0), vote("a", "pass", sample=1), vote("b", "fail")),
        ballot(vote("a", "abstain"), vote("b", "abstain")),
        ballot(vote("a", "fail"), vote("b", "fail")),
    ]
    posteriors, rel, _ = dawid_skene(bs)
    assert posteriors[1] is None and set(rel) == {"a", "b"}
    d = aggregate("dawid-skene", bs, AggregateOptions(quorum=2))
    assert d[1].reason == "quorum not met: 0 of 2 valid votes" and d[2].outcome == "fail"
    assert dawid_skene([]) == ([], {}, None)
    assert dawid_skene([bs[1]]) == ([None], {}, None)


# ---------------------------------------------------------------- adaptive jury vs brute force

POOL = ["a", "b", "c", "d", "e"]
WEIGHT_SETS = [{}, {"a": 1.0, "b": 2.0, "c": 1.0, "d": 0.5, "e": 0.5}, {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.7}]


def brute_force(method, so_far, remaining, opts, options):
    now = aggregate(method, [ballot(*so_far)], opts)[0].outcome
    for combo in product(options, repeat=len(remaining)):
        more = [vote(j, lab, score=s, sample=9) for j, (lab, s) in zip(remaining, combo)]
        if aggregate(method, [ballot(*so_far, *more)], opts)[0].outcome != now:
            return True
    return False


def check_exhaustively(method, cast_options, future_options, option_sets, max_votes):
    seen = set()
    for opts in option_sets:
        for k in range(max_votes + 1):
            for cast in product(cast_options, repeat=k):
                so_far = [vote(POOL[i], lab, score=s) for i, (lab, s) in enumerate(cast)]
                for r in range(max_votes + 1 - k):
                    remaining = POOL[k : k + r]
                    want = brute_force(method, so_far, remaining, opts, future_options)
                    got = can_still_change(method, so_far, remaining, opts)
                    assert got == want, (method, cast, remaining, opts)
                    seen.add(want)
    assert seen == {True, False}  # both answers occur, so the comparison has teeth


LABELS = [("pass", None), ("fail", None), ("abstain", None)]


@pytest.mark.parametrize("method", ["majority", "supermajority", "unanimous", "weighted"])
def test_can_still_change_matches_brute_force_for_labels(method):
    option_sets = [
        AggregateOptions(quorum=q, tie=t, fraction=f, weights=w)
        for q in (1, 2, 3)
        for t in ("fail", "pass", "inconclusive")
        for f in ((2 / 3, 0.75) if method == "supermajority" else (2 / 3,))
        for w in (WEIGHT_SETS if method == "weighted" else ({},))
    ]
    check_exhaustively(method, LABELS, LABELS, option_sets, max_votes=5)


@pytest.mark.parametrize("method", ["mean-score", "median-score"])
def test_can_still_change_matches_brute_force_for_scores(method):
    cast = [("abstain", None), ("pass", None), ("pass", 2.0), ("fail", 4.0), ("pass", 5.0)]
    future = [("abstain", None)] + [("pass", float(s)) for s in range(1, 6)]
    option_sets = [AggregateOptions(quorum=q, pass_mark=m) for q in (1, 2, 3) for m in (4.0, 3.5)]
    check_exhaustively(method, cast, future, option_sets, max_votes=4)


def test_can_still_change_examples():
    opts = AggregateOptions()
    two_pass = [vote("a", "pass"), vote("b", "pass")]
    assert not can_still_change("majority", two_pass, ["c"], opts)  # 2-1 at worst
    assert can_still_change("majority", two_pass, ["c", "d"], opts)  # 2-2 is a tie, which fails
    assert can_still_change("unanimous", two_pass, ["c"], opts)
    assert not can_still_change("majority", two_pass, [], opts)
    assert can_still_change("dawid-skene", two_pass, ["c"], opts)  # depends on the whole run
    assert not can_still_change("dawid-skene", two_pass, [], opts)  # no judge left to call
