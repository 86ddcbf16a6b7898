"""Jury agreement statistics: per-ballot splits, run-level kappas and alphas, per-judge rates with Wilson intervals."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Literal

import krippendorff
import numpy as np
from pydantic import BaseModel, ConfigDict
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as _sm_fleiss
from statsmodels.stats.proportion import proportion_confint

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
    votes on an item are not independent and the intervals are optimistic)."""

    judge: str
    n: int  # votes cast, abstains included
    pass_rate: float | None  # among its valid (pass/fail) votes
    pass_ci: Interval | None
    abstain_rate: float | None  # among all its votes
    abstain_ci: Interval | None
    n_compared: int  # valid votes on ballots whose panel verdict is pass or fail
    agreement_with_panel: float | None
    agreement_ci: Interval | None


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


# ---------------------------------------------------------------- small helpers


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def wilson(successes: int, n: int) -> Interval | None:
    """95% Wilson score interval, None when n is 0."""
    if n == 0:
        return None
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def case_agreement(ballot: Ballot) -> CaseAgreement:
    labels = [v.label for v in ballot.votes]
    p, f, a = labels.count("pass"), labels.count("fail"), labels.count("abstain")
    n = p + f
    entropy = sum((x / n) * math.log2(n / x) for x in (p, f) if x) if n else None
    return CaseAgreement(pass_votes=p, fail_votes=f, abstain_votes=a, split=f"{p}-{f}",
                         entropy_bits=entropy, unanimous=n >= 2 and (p == 0 or f == 0))


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
    counts, _ = aggregate_raters(complete.T.astype(int), n_cat=2)  # n_cat keeps both columns when one is unused
    return counts


def fleiss_from_counts(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories count table; None when undefined (< 2 items or raters, no variance)."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] < 2 or counts.sum(axis=1).min() < 2:
        return None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _finite(_sm_fleiss(counts, method="fleiss"))


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
    table = np.asarray(table, dtype=float)
    total = table.sum()
    if total == 0:
        return None
    p_e = float((table.sum(axis=0) / total) @ (table.sum(axis=1) / total))
    if p_e >= 1 - 1e-12:
        return None
    return _finite(cohens_kappa(table, return_results=False))


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


# ---------------------------------------------------------------- judges


def _rate(k: int, n: int) -> tuple[float | None, Interval | None]:
    return (k / n if n else None), wilson(k, n)


def judge_stats(judge: str, ballots: Sequence[Ballot], verdicts: Sequence[str] | None) -> JudgeStats:
    votes = [[v for v in b.votes if v.judge == judge] for b in ballots]
    flat = [v for vs in votes for v in vs]
    passes = sum(v.label == "pass" for v in flat)
    abstains = sum(v.label == "abstain" for v in flat)
    agree = compared = 0
    for vs, verdict in zip(votes, verdicts or ()):
        if verdict not in ("pass", "fail"):
            continue  # an inconclusive panel has no verdict to agree with
        for v in vs:
            if v.label != "abstain":
                compared += 1
                agree += v.label == verdict
    pass_rate, pass_ci = _rate(passes, len(flat) - abstains)
    abstain_rate, abstain_ci = _rate(abstains, len(flat))
    agreement, agreement_ci = _rate(agree, compared)
    return JudgeStats(judge=judge, n=len(flat), pass_rate=pass_rate, pass_ci=pass_ci, abstain_rate=abstain_rate,
                      abstain_ci=abstain_ci, n_compared=compared, agreement_with_panel=agreement,
                      agreement_ci=agreement_ci)


# ---------------------------------------------------------------- the run


def panel_agreement(ballots: Sequence[Ballot], verdicts: Sequence[str] | None = None,
                    sampled: Sequence[bool] | None = None) -> PanelStats:
    """Agreement over a run's complete ballots; `verdicts[i]` is the panel outcome of `ballots[i]`.

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
    return PanelStats(
        n_ballots=len(done),
        n_excluded_incomplete=len(ballots) - len(done),
        raters=raters,
        percent_agreement=pct,
        percent_agreement_items=pct_items,
        fleiss_kappa=fleiss_from_counts(table),
        fleiss_items=int(table.shape[0]),
        krippendorff_alpha_nominal=alpha(labels, "nominal"),
        krippendorff_alpha_ordinal=alpha(scores, "ordinal"),
        krippendorff_alpha_interval=alpha(scores, "interval"),
        cohen_kappa=cohen_matrix(labels, raters),
        judges=tuple(judge_stats(j, done, kept_verdicts) for j in raters),
    )
