"""Jury agreement statistics: per-ballot splits, run-level kappas, alphas, AC1 and PABAK with their n and
intervals, and per-judge rates with Wilson intervals, agreement measured leave-one-out."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Literal

import krippendorff
import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.jury.aggregate import AggregateOptions, DawidSkeneFit, aggregate, fit_dawid_skene
from harness.stats import irr
from harness.stats.intervals import wilson as _wilson
from harness.stats.irr import MIN_ITEMS, PairAgreement
from harness.types import Ballot, Vote

Interval = tuple[float, float]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseAgreement(_Record):
    """How one ballot split; every vote counts, samples of the same judge included."""

    pass_votes: int
    fail_votes: int
    abstain_votes: int
    split: str  # "pass-fail", e.g. "2-1"
    entropy_bits: float | None  # Shannon entropy of the pass/fail split of valid votes; None without valid votes
    unanimous: bool  # every valid vote agrees, and there are at least two


class JudgeStats(_Record):
    """One judge over the complete ballots, all of its samples counted (so with samples > 1 the
    votes on an item are not independent and the intervals are optimistic).

    Agreement with the panel is leave-one-out: each vote is compared with the verdict the panel's method gives
    from the other judges' votes alone (quorum 1; a tie among them, or no other vote, is no reference and the
    vote is not compared). Counting the judge's own vote in the verdict it is compared with flatters it: a
    coin-flipping judge beside two good ones agrees with the full panel about 58% of the time and with the
    others 50% (tests/test_agreement_intervals.py). `agreement_full_panel` keeps the old figure for reference.
    """

    judge: str
    n: int  # votes cast, abstains included
    pass_rate: float | None  # among its valid (pass/fail) votes
    pass_ci: Interval | None
    abstain_rate: float | None  # among all its votes
    abstain_ci: Interval | None
    n_compared: int  # valid votes on ballots where the other judges' verdict is pass or fail
    agreement_with_panel: float | None  # leave-one-out
    agreement_ci: Interval | None
    agreement_full_panel: float | None = None  # against the verdict the judge itself voted in
    small_sample: bool = False  # n_compared below MIN_ITEMS


class PanelStats(_Record):
    """Run-level agreement over complete ballots. Rater-matrix statistics (percent agreement, kappas,
    alphas) use one rating per judge per ballot: its lowest-numbered sample, abstain meaning missing."""

    n_ballots: int
    n_excluded_incomplete: int
    raters: tuple[str, ...]
    percent_agreement: float | None
    percent_agreement_items: int  # items with at least two valid ratings
    fleiss_kappa: float | None
    fleiss_items: int  # items on which every rater voted validly (Fleiss needs equal raters per item)
    krippendorff_alpha_nominal: float | None
    krippendorff_alpha_ordinal: float | None
    krippendorff_alpha_interval: float | None
    # cohen_kappa[a][b] == cohen_kappa[b][a]: nested by name because tuple keys do not survive JSON.
    cohen_kappa: dict[str, dict[str, float | None]]
    judges: tuple[JudgeStats, ...]
    # n, intervals and the prevalence-robust statistics (harness/stats/irr.py). A statistic from fewer than
    # min_items items is listed in small_sample; its value is reported but should not be trusted.
    min_items: int = MIN_ITEMS
    alpha_items: int = 0  # items with two or more valid labels (nominal alpha, AC1, PABAK, percent agreement)
    score_items: int = 0  # items with two or more scores (ordinal and interval alpha)
    fleiss_ci: Interval | None = None  # percentile bootstrap over items
    fleiss_se0: float | None = None  # standard error under kappa = 0 (Fleiss, Nee & Landis 1979)
    alpha_nominal_ci: Interval | None = None  # percentile bootstrap over items
    gwet_ac1: float | None = None
    gwet_ac1_ci: Interval | None = None
    pabak: float | None = None
    pabak_ci: Interval | None = None
    bootstrap_resamples: int = irr.RESAMPLES
    bootstrap_seed: int = irr.SEED
    pairs: tuple[PairAgreement, ...] = ()  # Cohen's kappa (with its asymptotic interval), AC1, PABAK and n per pair
    small_sample: tuple[str, ...] = ()
    agreement_reference: str = "leave-one-out"
    dawid_skene: DawidSkeneFit | None = None  # the fit's convergence, for a dawid-skene panel (posteriors dropped)


# ---------------------------------------------------------------- small helpers


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def wilson(successes: int, n: int) -> Interval | None:
    """95% Wilson score interval, None when n is 0 (harness/stats/intervals.py: the one implementation)."""
    return _wilson(successes, n)


def case_agreement(ballot: Ballot) -> CaseAgreement:
    labels = [v.label for v in ballot.votes]
    p, f, a = labels.count("pass"), labels.count("fail"), labels.count("abstain")
    n = p + f
    entropy = sum((x / n) * math.log2(n / x) for x in (p, f) if x) if n else None
    return CaseAgreement(
        pass_votes=p,
        fail_votes=f,
        abstain_votes=a,
        split=f"{p}-{f}",
        entropy_bits=entropy,
        unanimous=n >= 2 and (p == 0 or f == 0),
    )


# ---------------------------------------------------------------- rater matrices


def _first_samples(ballot: Ballot) -> dict[str, Vote]:
    first: dict[str, Vote] = {}
    for v in ballot.votes:
        if v.judge not in first or v.sample < first[v.judge].sample:
            first[v.judge] = v
    return first


def rater_matrices(ballots: Sequence[Ballot], raters: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores), each raters x items: labels 1 pass / 0 fail, NaN for an abstain or no vote;
    scores of valid votes, NaN otherwise."""
    labels = np.full((len(raters), len(ballots)), np.nan)
    scores = np.full((len(raters), len(ballots)), np.nan)
    row = {r: k for k, r in enumerate(raters)}
    for i, b in enumerate(ballots):
        for judge, v in _first_samples(b).items():
            if v.label == "abstain":
                continue
            labels[row[judge], i] = 1.0 if v.label == "pass" else 0.0
            if v.score is not None:
                scores[row[judge], i] = v.score
    return labels, scores


def percent_agreement(labels: np.ndarray) -> tuple[float | None, int]:
    """Mean over items (with >= 2 valid ratings) of the share of rater pairs that agree."""
    shares = []
    for col in labels.T:
        valid = col[~np.isnan(col)]
        n = len(valid)
        if n < 2:
            continue
        p = int(valid.sum())
        shares.append((p * (p - 1) + (n - p) * (n - p - 1)) / (n * (n - 1)))
    return (float(np.mean(shares)) if shares else None), len(shares)


def fleiss_table(labels: np.ndarray) -> np.ndarray:
    """Items x (fail, pass) counts over the items every rater voted on validly."""
    complete = labels[:, ~np.isnan(labels).any(axis=0)]
    if complete.shape[1] == 0:
        return np.zeros((0, 2))
    passes = complete.sum(axis=0).astype(int)
    return np.column_stack([complete.shape[0] - passes, passes])


def fleiss_from_counts(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories count table; None when undefined (< 2 items or raters, no variance)."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.sum(axis=1).min() < 2:
        return None
    return irr.fleiss_kappa(counts)


def alpha(matrix: np.ndarray, level: Literal["nominal", "ordinal", "interval"]) -> float | None:
    """Krippendorff's alpha of a raters x units matrix with NaN for missing; None when undefined."""
    if matrix.size == 0 or np.isnan(matrix).all():
        return None
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _finite(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))
    except (ValueError, ZeroDivisionError):
        # The package refuses a single-valued domain or data with no unit rated twice: alpha is undefined there.
        return None


def cohen_from_table(table: np.ndarray) -> float | None:
    """Cohen's kappa of a square agreement table; None when chance agreement is 1 (or no items)."""
    return irr.cohen_kappa_se(table)[0]


def _pair_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    both = ~np.isnan(a) & ~np.isnan(b)
    table = np.zeros((2, 2))
    for x, y in zip(a[both].astype(int), b[both].astype(int)):
        table[x, y] += 1
    return table


def cohen_matrix(labels: np.ndarray, raters: Sequence[str]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {r: {} for r in raters}
    for i, a in enumerate(raters):
        for j in range(i + 1, len(raters)):
            k = cohen_from_table(_pair_table(labels[i], labels[j]))
            out[a][raters[j]] = out[raters[j]][a] = k
    return out


def pair_stats(labels: np.ndarray, raters: Sequence[str], min_items: int = MIN_ITEMS) -> tuple[PairAgreement, ...]:
    """Per pair of judges: n shared items, Cohen's kappa with its asymptotic interval, AC1 and PABAK."""
    return tuple(
        irr.pair_agreement(raters[i], raters[j], _pair_table(labels[i], labels[j]), min_items)
        for i in range(len(raters))
        for j in range(i + 1, len(raters))
    )


# ---------------------------------------------------------------- judges


def _rate(k: int, n: int) -> tuple[float | None, Interval | None]:
    return (k / n if n else None), wilson(k, n)


def _agreement(votes: Sequence[Sequence[Vote]], references: Sequence[str]) -> tuple[int, int]:
    """(agreeing, compared) valid votes against per-ballot references; only pass/fail references count."""
    agree = compared = 0
    for vs, reference in zip(votes, references):
        if reference not in ("pass", "fail"):
            continue  # an inconclusive or tied reference has no verdict to agree with
        for v in vs:
            if v.label != "abstain":
                compared += 1
                agree += v.label == reference
    return agree, compared


def leave_one_out(
    ballots: Sequence[Ballot], judge: str, method: str = "majority", options: AggregateOptions | None = None
) -> list[str]:
    """Per ballot, the verdict of `method` on the other judges' votes: quorum 1, a tie is inconclusive."""
    opts = (options or AggregateOptions()).model_copy(update={"quorum": 1, "tie": "inconclusive"})
    others = [b.model_copy(update={"votes": tuple(v for v in b.votes if v.judge != judge)}) for b in ballots]
    return [d.outcome for d in aggregate(method, others, opts)]


def judge_stats(
    judge: str,
    ballots: Sequence[Ballot],
    verdicts: Sequence[str] | None,
    references: Sequence[str] | None = None,
    min_items: int = MIN_ITEMS,
) -> JudgeStats:
    """One judge's rates; `references` are its leave-one-out verdicts (see JudgeStats), `verdicts` the panel's."""
    votes = [[v for v in b.votes if v.judge == judge] for b in ballots]
    flat = [v for vs in votes for v in vs]
    passes = sum(v.label == "pass" for v in flat)
    abstains = sum(v.label == "abstain" for v in flat)
    agree, compared = _agreement(votes, references or ())
    full_agree, full_compared = _agreement(votes, verdicts or ())
    pass_rate, pass_ci = _rate(passes, len(flat) - abstains)
    abstain_rate, abstain_ci = _rate(abstains, len(flat))
    agreement, agreement_ci = _rate(agree, compared)
    return JudgeStats(
        judge=judge,
        n=len(flat),
        pass_rate=pass_rate,
        pass_ci=pass_ci,
        abstain_rate=abstain_rate,
        abstain_ci=abstain_ci,
        n_compared=compared,
        agreement_with_panel=agreement,
        agreement_ci=agreement_ci,
        agreement_full_panel=_rate(full_agree, full_compared)[0],
        small_sample=compared < min_items,
    )


# ---------------------------------------------------------------- the run


def panel_agreement(
    ballots: Sequence[Ballot],
    verdicts: Sequence[str] | None = None,
    sampled: Sequence[bool] | None = None,
    *,
    method: str = "majority",
    options: AggregateOptions | None = None,
    min_items: int = MIN_ITEMS,
) -> PanelStats:
    """Agreement over a run's complete ballots; `verdicts[i]` is the panel outcome of `ballots[i]`, and
    `method` and `options` are the panel's (for the leave-one-out references and the Dawid-Skene report).

    Incomplete ballots (an adaptive jury stopped early) are left out: which judges were called depends
    on how the earlier ones voted, so their missing votes are not missing at random. For the same reason
    an adaptive panel's complete ballots are a sample biased towards disagreement; `sampled[i]` False leaves
    ballot i out as well, so that only the ballots on which every judge was asked by design count.
    """
    if verdicts is not None and len(verdicts) != len(ballots):
        raise ValueError(f"{len(verdicts)} verdicts for {len(ballots)} ballots")
    if sampled is not None and len(sampled) != len(ballots):
        raise ValueError(f"{len(sampled)} sample flags for {len(ballots)} ballots")
    keep = [i for i, b in enumerate(ballots) if b.complete and (sampled is None or sampled[i])]
    done = [ballots[i] for i in keep]
    kept_verdicts = [verdicts[i] for i in keep] if verdicts is not None else None
    raters = tuple(sorted({v.judge for b in done for v in b.votes}))
    labels, scores = rater_matrices(done, raters)
    pct, pct_items = percent_agreement(labels)
    table = fleiss_table(labels)
    robust = irr.panel_statistics(labels)
    # References over every ballot, not only the kept ones: Dawid-Skene's verdicts depend on the whole run.
    references = {}
    for j in raters:
        every = leave_one_out(ballots, j, method, options)
        references[j] = [every[i] for i in keep]
    judges = tuple(judge_stats(j, done, kept_verdicts, references[j], min_items) for j in raters)
    pairs = pair_stats(labels, raters, min_items)
    score_items = int(((~np.isnan(scores)).sum(axis=0) >= 2).sum())
    fleiss, nominal, ordinal = fleiss_from_counts(table), alpha(labels, "nominal"), alpha(scores, "ordinal")
    counts = {
        "fleiss_kappa": (int(table.shape[0]), fleiss),
        "krippendorff_alpha": (pct_items, nominal),
        "gwet_ac1": (pct_items, robust["gwet_ac1"][0]),
        "pabak": (pct_items, robust["pabak"][0]),
        "krippendorff_alpha_scores": (score_items, ordinal),
    }
    small = [name for name, (n, value) in counts.items() if n < min_items and value is not None]
    small += [f"cohen_kappa {p.a}/{p.b}" for p in pairs if p.small_sample and p.n]
    small += [f"agreement_with_panel {j.judge}" for j in judges if j.small_sample and j.n_compared]
    ds = None
    if method == "dawid-skene":
        ds = fit_dawid_skene(ballots, options).model_copy(update={"posteriors": ()})
    return PanelStats(
        n_ballots=len(done),
        n_excluded_incomplete=len(ballots) - len(done),
        raters=raters,
        percent_agreement=pct,
        percent_agreement_items=pct_items,
        fleiss_kappa=fleiss,
        fleiss_items=int(table.shape[0]),
        krippendorff_alpha_nominal=nominal,
        krippendorff_alpha_ordinal=ordinal,
        krippendorff_alpha_interval=alpha(scores, "interval"),
        cohen_kappa=cohen_matrix(labels, raters),
        judges=judges,
        min_items=min_items,
        alpha_items=pct_items,
        score_items=score_items,
        fleiss_ci=robust["fleiss_kappa"][1],
        fleiss_se0=irr.fleiss_se0(table),
        alpha_nominal_ci=robust["alpha_nominal"][1],
        gwet_ac1=robust["gwet_ac1"][0],
        gwet_ac1_ci=robust["gwet_ac1"][1],
        pabak=robust["pabak"][0],
        pabak_ci=robust["pabak"][1],
        pairs=pairs,
        small_sample=tuple(small),
        dawid_skene=ds,
    )
