"""Agreement beyond point values: n and intervals, the small-sample flag, AC1 and PABAK, leave-one-out agreement,
and Dawid-Skene convergence. Published values where there are some; seeded simulations, each well under 5 s."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from harness.jury.aggregate import AggregateOptions, aggregate, fit_dawid_skene
from harness.stats import irr
from harness.stats.agreement import panel_agreement
from harness.types import Ballot, Vote


def _ballots(labels: np.ndarray, judges: list[str] | None = None) -> list[Ballot]:
    """Ballots from a judges x items matrix of 1 pass / 0 fail / NaN no vote."""
    names = judges or [f"j{k}" for k in range(labels.shape[0])]
    out = []
    for i in range(labels.shape[1]):
        votes = tuple(
            Vote(case_id=f"c{i}", clause_id="k", judge=n, model="m", label="pass" if x == 1 else "fail")
            for n, x in zip(names, labels[:, i])
            if not np.isnan(x)
        )
        out.append(Ballot(case_id=f"c{i}", clause_id="k", votes=votes))
    return out


def _judges(rng: np.random.Generator, n: int, accuracy: tuple[float, ...], prevalence: float = 0.5) -> np.ndarray:
    truth = rng.random(n) < prevalence
    right = rng.random((len(accuracy), n)) < np.array(accuracy)[:, None]
    return np.where(right, truth, ~truth).astype(float)


# ---------------------------------------------------------------- AC1 and PABAK under skewed prevalence


def test_kappa_collapses_under_skewed_prevalence_ac1_and_pabak_do_not():
    """98 of 100 agreements, both judges passing 98: the table is pass/pass 97, pass/fail 1, fail/pass 1,
    fail/fail 1. Kappa = (.98 - .9608) / (1 - .9608) = .49 (chance agreement .98^2 + .02^2); Gwet's AC1 =
    (.98 - .0392) / (1 - .0392) = .98 (chance 2 x .98 x .02); PABAK = 2 x .98 - 1 = .96 (Gwet 2008, Table 1's
    point; Byrt, Bishop & Carlin 1993)."""
    pair = irr.pair_agreement("a", "b", np.array([[1, 1], [1, 97]]))  # rows a fail/pass, columns b fail/pass
    assert pair.n == 100 and pair.percent == pytest.approx(0.98)
    assert round(pair.kappa, 2) == 0.49 and pair.kappa == pytest.approx(0.0192 / 0.0392)
    assert round(pair.ac1, 2) == 0.98 and pair.ac1 == pytest.approx(0.9408 / 0.9608)
    assert pair.pabak == pytest.approx(0.96)
    # the same through ballots: the pair row, and the panel-level (two-rater) AC1 and PABAK
    labels = np.array([[1.0] * 97 + [1, 0, 0], [1.0] * 97 + [0, 1, 0]])
    s = panel_agreement(_ballots(labels, ["a", "b"]))
    (row,) = s.pairs
    assert (row.n, round(row.kappa, 2), round(row.ac1, 2), row.pabak) == (100, 0.49, 0.98, pytest.approx(0.96))
    assert s.gwet_ac1 == pytest.approx(row.ac1) and s.pabak == pytest.approx(0.96)
    assert s.fleiss_kappa == pytest.approx(0.49, abs=0.005)  # two raters: Fleiss' kappa is Scott's pi here


def test_cohen_kappa_standard_error_matches_statsmodels_and_its_interval():
    """Fleiss, Cohen & Everitt (1969) asymptotic standard error, as statsmodels (and SAS) compute it."""
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.array([[15, 5], [10, 20]])
    pair = irr.pair_agreement("a", "b", table)
    ref = cohens_kappa(table)
    assert pair.kappa == pytest.approx(ref["kappa"]) and pair.kappa_se == pytest.approx(ref["std_kappa"])
    assert pair.kappa_ci == pytest.approx((ref["kappa_low"], ref["kappa_upp"]))
    assert not pair.small_sample and irr.pair_agreement("a", "b", np.array([[1, 0], [0, 1]])).small_sample


def test_numpy_kappas_match_statsmodels_on_random_tables():
    """harness/stats/irr.py computes Cohen's kappa, its standard error and Fleiss' kappa itself (statsmodels is
    a test reference only, kept out of runs); on 200 random tables the figures are statsmodels' to 1e-9."""
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = np.random.default_rng(17)
    for _ in range(200):
        k = int(rng.integers(2, 5))
        table = rng.integers(0, 30, (k, k))
        table[0, 0] += 1  # not empty
        kappa, se = irr.cohen_kappa_se(table)
        ref = cohens_kappa(table)
        if kappa is None:
            assert (table.sum(0) / table.sum()) @ (table.sum(1) / table.sum()) >= 1 - 1e-12
            continue
        assert kappa == pytest.approx(ref["kappa"], abs=1e-9) and se == pytest.approx(ref["std_kappa"], abs=1e-9)
        raters = int(rng.integers(2, 7))
        counts = rng.multinomial(raters, rng.dirichlet(np.ones(k)), size=int(rng.integers(2, 40)))
        ours = irr.fleiss_kappa(counts)
        with np.errstate(all="ignore"):
            theirs = fleiss_kappa(counts)
        assert (ours is None and not np.isfinite(theirs)) or ours == pytest.approx(theirs, abs=1e-9)
    assert irr.fleiss_kappa(np.array([[2, 0], [1, 2]])) is None  # unequal raters per item: Fleiss is undefined


# ---------------------------------------------------------------- n, intervals and the small-sample flag


def test_two_shared_items_give_kappa_one_and_are_flagged():
    """The issue's case: two shared items, both agreeing, give kappa 1.0 and alpha 1.0, which mean nothing."""
    s = panel_agreement(_ballots(np.array([[1.0, 0.0], [1.0, 0.0]])))
    assert s.cohen_kappa["j0"]["j1"] == 1.0 and s.pairs[0].n == 2 and s.pairs[0].small_sample
    assert s.fleiss_items == 2 and s.alpha_items == 2 and s.min_items == irr.MIN_ITEMS == 10
    assert {"fleiss_kappa", "krippendorff_alpha", "cohen_kappa j0/j1"} <= set(s.small_sample)
    assert "agreement_with_panel j0" in s.small_sample


def test_panel_statistics_match_the_reference_implementations_and_bootstrap_is_seeded():
    rng = np.random.default_rng(3)
    labels = _judges(rng, 60, (0.9, 0.8, 0.7), prevalence=0.7)
    labels[rng.random(labels.shape) < 0.1] = np.nan  # some abstains
    s = panel_agreement(_ballots(labels))
    assert s.krippendorff_alpha_nominal == pytest.approx(
        krippendorff.alpha(reliability_data=labels, level_of_measurement="nominal")
    )
    complete = labels[:, ~np.isnan(labels).any(axis=0)]
    counts, _ = aggregate_raters(complete.T.astype(int), n_cat=2)
    assert s.fleiss_kappa == pytest.approx(fleiss_kappa(counts))
    stats = irr.panel_statistics(labels)
    assert stats["fleiss_kappa"][0] == pytest.approx(s.fleiss_kappa)
    assert stats["alpha_nominal"][0] == pytest.approx(s.krippendorff_alpha_nominal)
    for ci, value in (
        (s.fleiss_ci, s.fleiss_kappa),
        (s.alpha_nominal_ci, s.krippendorff_alpha_nominal),
        (s.gwet_ac1_ci, s.gwet_ac1),
        (s.pabak_ci, s.pabak),
    ):
        assert ci is not None and ci[0] < value < ci[1] and ci[1] - ci[0] < 0.6
    assert irr.panel_statistics(labels) == stats  # seeded: the same figures every time
    assert s.small_sample == () and s.fleiss_items >= 10
    # the bootstrap interval is the percentile interval of resampling the items, done the slow way
    boot = np.random.default_rng(11)
    draws = []
    for _ in range(1000):
        pick = labels[:, boot.integers(0, labels.shape[1], labels.shape[1])]
        draws.append(krippendorff.alpha(reliability_data=pick, level_of_measurement="nominal"))
    assert s.alpha_nominal_ci == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=0.03)


def test_fleiss_null_standard_error_fleiss_1971():
    """Fleiss, Nee & Landis (1979) standard error under kappa = 0 on Fleiss' (1971) 30 x 6 diagnoses: the R
    package irr's kappam.fleiss reports kappa .43, z = 17.7 for it."""
    rows = (
        "444444 222555 233335 555555 222444 113333 333355 113334 114444 555555 144444 124444 222333 144444 "
        "224445 333335 111455 111112 224444 133555 555555 244444 224555 114444 144445 222224 111155 224444 "
        "133333 555555"
    ).split()
    counts, _ = aggregate_raters(np.array([[int(c) for c in r] for r in rows]))
    assert round(fleiss_kappa(counts) / irr.fleiss_se0(counts), 1) == 17.7


def test_bootstrap_intervals_do_not_depend_on_the_memory_bound():
    """The resamples are drawn in batches sized to a memory bound (harness/stats/irr.py BOOTSTRAP_CELLS): a bound
    that cuts them one resample at a time gives the same intervals."""
    rng = np.random.default_rng(8)
    labels = _judges(rng, 300, (0.9, 0.7, 0.6), prevalence=0.6)
    labels[rng.random(labels.shape) < 0.05] = np.nan
    one_at_a_time, default = irr.panel_statistics(labels, cells=10), irr.panel_statistics(labels)
    for name, (value, ci) in default.items():  # the same draws; sums in another order differ in the last bits
        assert one_at_a_time[name][0] == pytest.approx(value, rel=1e-12)
        assert one_at_a_time[name][1] == pytest.approx(ci, rel=1e-12)
    assert irr.panel_statistics(labels, cells=900)["gwet_ac1"][1] is not None


def test_degenerate_panels_have_no_interval():
    assert irr.panel_statistics(np.zeros((2, 0)))["fleiss_kappa"] == (None, None)
    same = irr.panel_statistics(np.ones((3, 5)))
    assert same["alpha_nominal"] == (None, None) and same["gwet_ac1"][0] == 1.0
    json.dumps(panel_agreement([]).model_dump())


# ---------------------------------------------------------------- leave-one-out agreement


def test_a_coin_flipping_judge_agrees_with_the_others_half_the_time():
    """Two judges right 90% of the time and one that flips a coin, 600 seeded ballots. Against the full panel
    (its own vote counted) the coin agrees about 59% of the time: when the good judges split, its vote is the
    verdict. Leave-one-out, against the other two alone (their splits no reference), it agrees 50%."""
    labels = _judges(np.random.default_rng(5), 600, (0.9, 0.9, 0.5))
    ballots = _ballots(labels)
    verdicts = [d.outcome for d in aggregate("majority", ballots)]
    coin = panel_agreement(ballots, verdicts).judges[2]
    assert coin.agreement_full_panel == pytest.approx(0.59, abs=0.04)
    assert coin.agreement_with_panel == pytest.approx(0.50, abs=0.04)
    assert coin.agreement_ci[0] < 0.5 < coin.agreement_ci[1] and coin.n_compared > 400


def test_leave_one_out_uses_the_panels_method():
    """Weighted, j2 weighing 3: leave j1 out and j2's fail outweighs j0's pass, a reference j1's pass disagrees
    with. Under majority the same two votes tie, which is no reference: j1 is not compared at all."""
    labels = np.array([[1.0] * 12, [1.0] * 12, [0.0] * 12])
    opts = AggregateOptions(weights={"j0": 1.0, "j1": 1.0, "j2": 3.0})
    ballots = _ballots(labels)
    verdicts = [d.outcome for d in aggregate("weighted", ballots, opts)]
    assert set(verdicts) == {"fail"}
    weighted = panel_agreement(ballots, verdicts, method="weighted", options=opts).judges[1]
    assert (weighted.n_compared, weighted.agreement_with_panel, weighted.agreement_full_panel) == (12, 0.0, 0.0)
    majority = panel_agreement(ballots, verdicts).judges[1]
    assert (majority.n_compared, majority.agreement_with_panel) == (0, None)


# ---------------------------------------------------------------- Dawid-Skene convergence


def test_dawid_skene_iterates_to_tolerance_and_reports_it():
    """Judges of accuracy .55, .55 and .9 on 200 seeded ballots: EM is slow here. 200 iterations (the old
    cap) stop short, with one judge's specificity off by about .4; the default runs to the tolerance."""
    ballots = _ballots(_judges(np.random.default_rng(4), 200, (0.55, 0.55, 0.9), prevalence=0.8))
    short = fit_dawid_skene(ballots, AggregateOptions(max_iter=200, starts=1))
    full = fit_dawid_skene(ballots)
    assert not short.converged and short.iterations == 200
    assert full.converged and 200 < full.iterations < full.max_iter and full.starts == 5
    gap = max(
        abs(full.reliability[j][k] - short.reliability[j][k])
        for j in full.reliability
        for k in ("sensitivity", "specificity")
    )
    assert gap > 0.3
    assert full.objective is not None and full.best_objective >= full.objective
    assert full.best_start == "majority" and full.starts_converged == 5
    again = fit_dawid_skene(ballots)
    assert again == full  # seeded random starts: the same fit every time


def test_dawid_skene_convergence_reaches_the_panel_statistics():
    labels = _judges(np.random.default_rng(4), 80, (0.9, 0.8, 0.7))
    ballots = _ballots(labels)
    verdicts = [d.outcome for d in aggregate("dawid-skene", ballots)]
    s = panel_agreement(ballots, verdicts, method="dawid-skene")
    assert s.dawid_skene is not None and s.dawid_skene.converged and s.dawid_skene.posteriors == ()
    assert json.loads(s.model_dump_json())["dawid_skene"]["iterations"] == s.dawid_skene.iterations
    assert panel_agreement(ballots, verdicts).dawid_skene is None  # majority: nothing to report


def test_a_random_start_wins_only_by_a_clear_margin():
    """On a tiny symmetric run, random starts find asymmetric optima a hair higher than the majority start's;
    a split ballot stays a tie rather than becoming a confident pass on 0.03 nats."""
    labels = np.array([[1.0, 1, 0, 0, 1, 0], [1.0, 1, 0, 0, 0, 1]])
    fit = fit_dawid_skene(_ballots(labels))
    assert fit.best_start == "majority" and fit.posteriors[4] == pytest.approx(0.5, abs=1e-9)
    assert 0 < fit.best_objective - fit.objective < 1.0
    free = fit_dawid_skene(_ballots(labels), AggregateOptions(start_margin=0.0))
    assert free.best_start != "majority" and free.objective == pytest.approx(fit.best_objective)
