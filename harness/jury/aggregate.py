"""Panel aggregation: turn judges' ballots into pass/fail/inconclusive decisions, plus the adaptive-jury stop test."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.errors import ConfigError
from harness.types import Ballot, PanelDecision, Vote

Tie = Literal["fail", "pass", "inconclusive"]


class AggregateOptions(BaseModel):
    """How a panel decides. Every vote counts once: a judge casting several samples casts several votes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Strictly positive: a zero-weight valid vote would meet the quorum with no say, and could make the weighted
    # share 0/0. To mute a judge, leave it off the panel.
    weights: dict[str, float] = Field(default_factory=dict)
    quorum: int = Field(default=1, ge=1)
    tie: Tie = "fail"  # fail-closed: a split panel never certifies a case by default
    # Above one half so that pass and fail can never both reach it.
    fraction: float = Field(default=2 / 3, gt=0.5, le=1.0)
    pass_mark: float = 4.0
    # Dawid-Skene's EM: at most max_iter rounds per start, converged when no posterior or judge parameter moves
    # by tol; `starts` starts (the majority vote, then random ones from `seed`), the best objective wins.
    max_iter: int = Field(default=10_000, ge=1)
    tol: float = Field(default=1e-8, gt=0.0)
    starts: int = Field(default=5, ge=1)
    seed: int = 20240611
    # A random start replaces the majority start only if its objective is higher by more than this (nats): on
    # small runs the objective has near-equal optima that make a split ballot a confident pass or fail.
    start_margin: float = Field(default=1.0, ge=0.0)

    @field_validator("weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {j: w for j, w in v.items() if not (w > 0 and math.isfinite(w))}
        if bad:
            raise ValueError(f"judge weights must be positive and finite: {bad}")
        return v

    def weight(self, judge: str) -> float:
        return self.weights.get(judge, 1.0)


Method = Callable[[Sequence[Ballot], AggregateOptions], list[PanelDecision]]

# Slack for float comparisons, so that e.g. weights 0.1 + 0.2 against 0.3 count as the exact tie they are meant to be.
_EPS = 1e-9


def _is_tie(margin: float) -> bool:
    return abs(margin) <= _EPS


# ---------------------------------------------------------------- shared rules


def _quorum_failed(k: int, opts: AggregateOptions) -> PanelDecision | None:
    if k < opts.quorum:
        return PanelDecision(outcome="inconclusive", reason=f"quorum not met: {k} of {opts.quorum} valid votes")
    return None


def _tie(why: str, opts: AggregateOptions, score: float | None = None) -> PanelDecision:
    return PanelDecision(outcome=opts.tie, reason=f"{why}; tie rule gives {opts.tie}", score=score)


def _labels(ballot: Ballot) -> list[Vote]:
    return [v for v in ballot.votes if v.label != "abstain"]


def _scores(ballot: Ballot) -> list[float]:
    # For score methods a vote without a score says nothing on the scale, so it counts as an abstain.
    return [v.score for v in ballot.votes if v.label != "abstain" and v.score is not None]


# ---------------------------------------------------------------- count and weight rules


def _decide_counts(p: int, f: int, method: str, opts: AggregateOptions) -> PanelDecision:
    """The verdict of majority, supermajority or unanimous from p pass and f fail votes."""
    n = p + f
    if (failed := _quorum_failed(n, opts)) is not None:
        return failed
    share = p / n
    split = f"{p}-{f}"
    if method == "majority":
        if 2 * p > n:
            return PanelDecision(outcome="pass", reason=f"majority pass {split}", score=share)
        if 2 * f > n:
            return PanelDecision(outcome="fail", reason=f"majority fail {split}", score=share)
        return _tie(f"even split {split}", opts, share)
    if method == "supermajority":
        if p >= opts.fraction * n - _EPS:
            return PanelDecision(outcome="pass", reason=f"supermajority pass {split}", score=share)
        if f >= opts.fraction * n - _EPS:
            return PanelDecision(outcome="fail", reason=f"supermajority fail {split}", score=share)
        return _tie(f"no side reached {opts.fraction:.3g} ({split})", opts, share)
    # unanimous
    if f == 0 or p == 0:
        outcome = "pass" if f == 0 else "fail"
        return PanelDecision(outcome=outcome, reason=f"unanimous {outcome} {split}", score=share)
    # A split is never a pass, whatever the tie rule says: unanimity is the requirement.
    outcome = "fail" if opts.tie == "fail" else "inconclusive"
    return PanelDecision(outcome=outcome, reason=f"not unanimous ({split}); split gives {outcome}", score=share)


def _decide_weights(wp: float, wf: float, n: int, opts: AggregateOptions) -> PanelDecision:
    if (failed := _quorum_failed(n, opts)) is not None:
        return failed
    share = wp / (wp + wf)
    if _is_tie(wp - wf):
        return _tie("weighted pass share 0.5", opts, 0.5)
    outcome = "pass" if wp > wf else "fail"
    return PanelDecision(outcome=outcome, reason=f"weighted pass share {share:.3f}", score=share)


def _decide_scores(scores: Sequence[float], method: str, opts: AggregateOptions) -> PanelDecision:
    if (failed := _quorum_failed(len(scores), opts)) is not None:
        return failed
    name = "mean" if method == "mean-score" else "median"
    value = statistics.fmean(scores) if name == "mean" else statistics.median(scores)
    # The mark is inclusive ("a score >= pass_mark passes"), so a score method has no tie.
    outcome = "pass" if value >= opts.pass_mark - _EPS else "fail"
    return PanelDecision(outcome=outcome, reason=f"{name} score {value:.3g} vs mark {opts.pass_mark:g}", score=value)


def _count_method(name: str) -> Method:
    def method(ballots: Sequence[Ballot], opts: AggregateOptions) -> list[PanelDecision]:
        out = []
        for b in ballots:
            labels = [v.label for v in _labels(b)]
            out.append(_decide_counts(labels.count("pass"), labels.count("fail"), name, opts))
        return out

    method.__doc__ = {
        "majority": "Strict majority of valid votes; exactly half each way goes to the tie rule.",
        "supermajority": "A side wins with at least `fraction` of the valid votes; neither side goes to the tie rule.",
        "unanimous": "All valid votes agree. A split is `fail` when tie='fail' (fail-closed), otherwise "
        "`inconclusive`: it is never `pass`, even with tie='pass'.",
    }[name]
    return method


def weighted(ballots: Sequence[Ballot], opts: AggregateOptions) -> list[PanelDecision]:
    """Weighted pass share of the valid votes against 0.5; exactly 0.5 goes to the tie rule."""
    out = []
    for b in ballots:
        valid = _labels(b)
        wp = sum(opts.weight(v.judge) for v in valid if v.label == "pass")
        wf = sum(opts.weight(v.judge) for v in valid if v.label == "fail")
        out.append(_decide_weights(wp, wf, len(valid), opts))
    return out


def _score_method(name: str) -> Method:
    def method(ballots: Sequence[Ballot], opts: AggregateOptions) -> list[PanelDecision]:
        return [_decide_scores(_scores(b), name, opts) for b in ballots]

    method.__doc__ = f"The {name.split('-')[0]} of the valid votes' scores against `pass_mark` (inclusive)."
    return method


# ---------------------------------------------------------------- Dawid-Skene

# No maintained Dawid-Skene package is on our index that fits (binary labels, repeated samples per judge,
# missing votes), so this is a small numpy EM, computing the MAP estimate under a Beta(2, 1.01) prior on each
# judge's sensitivity and specificity. The extra right-vote says a judge is a priori better than a coin: on
# tiny runs plain maximum likelihood has degenerate optima (e.g. a lone judge's lone "fail" explained as noise
# around an all-pass prior) and this breaks them towards believing the judges. The 0.01s keep every
# probability off 0 and 1 so logs stay finite; on runs of hundreds of votes the prior is negligible.
_RIGHT, _WRONG, _PRIOR = 1.0, 0.01, 0.01


def _vote_counts(ballots: Sequence[Ballot]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Items x judges matrices of pass and fail counts (several samples of a judge add up)."""
    judges = sorted({v.judge for b in ballots for v in _labels(b)})
    col = {j: k for k, j in enumerate(judges)}
    n_pass = np.zeros((len(ballots), len(judges)))
    n_fail = np.zeros((len(ballots), len(judges)))
    for i, b in enumerate(ballots):
        for v in _labels(b):
            (n_pass if v.label == "pass" else n_fail)[i, col[v.judge]] += 1
    return judges, n_pass, n_fail


def _m_step(t: np.ndarray, n_pass: np.ndarray, n_fail: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    n_all = n_pass + n_fail
    sens = (t @ n_pass + _RIGHT) / (t @ n_all + _RIGHT + _WRONG)
    spec = ((1 - t) @ n_fail + _RIGHT) / ((1 - t) @ n_all + _RIGHT + _WRONG)
    prior = (t.sum() + _PRIOR) / (len(t) + 2 * _PRIOR)
    return sens, spec, prior


def _e_step(sens: np.ndarray, spec: np.ndarray, prior: float, n_pass: np.ndarray, n_fail: np.ndarray) -> np.ndarray:
    # Log space: a ballot with many votes would underflow a product of probabilities.
    log_pass = math.log(prior) + n_pass @ np.log(sens) + n_fail @ np.log1p(-sens)
    log_fail = math.log1p(-prior) + n_pass @ np.log1p(-spec) + n_fail @ np.log(spec)
    return 1.0 / (1.0 + np.exp(np.clip(log_fail - log_pass, -700, 700)))


class DawidSkeneFit(BaseModel):
    """A Dawid-Skene fit and how it was reached: what `show` and the report say about convergence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    posteriors: tuple[float | None, ...]  # P(pass) per ballot; None where it has no valid vote
    reliability: dict[str, dict[str, float]]  # judge -> sensitivity, specificity
    prior: float | None
    objective: float | None  # log-likelihood of the votes plus the log prior: what EM climbs
    best_objective: float | None  # the highest any start reached (above `objective` by at most start_margin)
    iterations: int  # of the winning start
    converged: bool  # the winning start moved less than tol before max_iter
    best_start: str  # "majority" or "random N"
    starts: int
    starts_converged: int
    starts_at_best: int  # starts that reached the chosen objective (within 1e-6): several means a stable optimum
    max_iter: int
    tol: float


def _objective(sens: np.ndarray, spec: np.ndarray, prior: float, n_pass: np.ndarray, n_fail: np.ndarray) -> float:
    log_pass = math.log(prior) + n_pass @ np.log(sens) + n_fail @ np.log1p(-sens)
    log_fail = math.log1p(-prior) + n_pass @ np.log1p(-spec) + n_fail @ np.log(spec)
    loglik = float(np.logaddexp(log_pass, log_fail).sum())
    log_prior = (_RIGHT * (np.log(sens) + np.log(spec)) + _WRONG * (np.log1p(-sens) + np.log1p(-spec))).sum()
    return loglik + float(log_prior) + _PRIOR * (math.log(prior) + math.log1p(-prior))


def _em(
    t: np.ndarray, n_pass: np.ndarray, n_fail: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, int, bool]:
    sens, spec, prior = _m_step(t, n_pass, n_fail)
    for i in range(1, max_iter + 1):
        t = _e_step(sens, spec, prior, n_pass, n_fail)
        new_sens, new_spec, new_prior = _m_step(t, n_pass, n_fail)
        moved = max(
            float(np.max(np.abs(new_sens - sens))), float(np.max(np.abs(new_spec - spec))), abs(new_prior - prior)
        )
        sens, spec, prior = new_sens, new_spec, new_prior
        if moved < tol:
            return t, i, True
    return t, max_iter, False


def fit_dawid_skene(ballots: Sequence[Ballot], opts: AggregateOptions | None = None) -> DawidSkeneFit:
    """Binary Dawid-Skene (1979) by EM over the whole run, from several starts.

    Sensitivity = P(votes pass | truly pass), specificity = P(votes fail | truly fail). The first start is
    the majority vote (each item's pass share); the others draw each item's P(pass) uniformly, seeded. EM
    finds a local optimum from each. The majority start's is kept unless another start's objective beats it
    by more than `start_margin` (the majority start also picks the sensible one of two mirror-image
    solutions); then the highest wins.
    """
    opts = opts or AggregateOptions()
    judges, n_pass, n_fail = _vote_counts(ballots)
    has_votes = (n_pass + n_fail).sum(axis=1) > 0
    if not has_votes.any():
        return DawidSkeneFit(
            posteriors=(None,) * len(ballots),
            reliability={},
            prior=None,
            objective=None,
            best_objective=None,
            iterations=0,
            converged=True,
            best_start="majority",
            starts=0,
            starts_converged=0,
            starts_at_best=0,
            max_iter=opts.max_iter,
            tol=opts.tol,
        )
    # Ballots without a valid vote carry no information about judges or the prior, so they sit out of EM.
    n_pass, n_fail = n_pass[has_votes], n_fail[has_votes]
    rng = np.random.default_rng(opts.seed)
    starts = [n_pass.sum(axis=1) / (n_pass + n_fail).sum(axis=1)]
    starts += [rng.uniform(size=len(n_pass)) for _ in range(opts.starts - 1)]
    fits = []
    for start in starts:
        t, iterations, converged = _em(start, n_pass, n_fail, opts.max_iter, opts.tol)
        fits.append((_objective(*_m_step(t, n_pass, n_fail), n_pass, n_fail), t, iterations, converged))
    top = max(range(len(fits)), key=lambda i: (fits[i][0], -i))
    best = top if fits[top][0] > fits[0][0] + opts.start_margin else 0
    objective, t, iterations, converged = fits[best]
    sens, spec, prior = _m_step(t, n_pass, n_fail)
    posteriors: list[float | None] = [None] * len(ballots)
    for i, p in zip(np.flatnonzero(has_votes), t):
        posteriors[i] = float(p)
    return DawidSkeneFit(
        posteriors=tuple(posteriors),
        reliability={j: {"sensitivity": float(sens[k]), "specificity": float(spec[k])} for k, j in enumerate(judges)},
        prior=float(prior),
        objective=objective,
        best_objective=fits[top][0],
        iterations=iterations,
        converged=converged,
        best_start="majority" if best == 0 else f"random {best}",
        starts=len(fits),
        starts_converged=sum(f[3] for f in fits),
        starts_at_best=sum(abs(f[0] - objective) <= 1e-6 for f in fits),
        max_iter=opts.max_iter,
        tol=opts.tol,
    )


def dawid_skene(
    ballots: Sequence[Ballot], max_iter: int = 10_000, tol: float = 1e-8
) -> tuple[list[float | None], dict[str, dict[str, float]], float | None]:
    """(posterior P(pass) per ballot, per-judge sensitivity and specificity, prior P(pass)) of `fit_dawid_skene`."""
    fit = fit_dawid_skene(ballots, AggregateOptions(max_iter=max_iter, tol=tol))
    return list(fit.posteriors), fit.reliability, fit.prior


def dawid_skene_method(ballots: Sequence[Ballot], opts: AggregateOptions) -> list[PanelDecision]:
    """Posterior P(pass) from Dawid-Skene over all ballots; exactly 0.5 goes to the tie rule."""
    posteriors = fit_dawid_skene(ballots, opts).posteriors
    out: list[PanelDecision] = []
    for b, p in zip(ballots, posteriors):
        if (failed := _quorum_failed(len(_labels(b)), opts)) is not None:
            out.append(failed)
        elif p is None:  # unreachable while the quorum is at least 1: a ballot past it has a valid vote
            out.append(PanelDecision(outcome="inconclusive", reason="no valid vote"))
        elif math.isclose(p, 0.5, rel_tol=0.0, abs_tol=1e-12):
            out.append(_tie("posterior P(pass) 0.5", opts, p))
        else:
            out.append(
                PanelDecision(outcome="pass" if p > 0.5 else "fail", reason=f"posterior P(pass) {p:.3f}", score=p)
            )
    return out


METHODS: dict[str, Method] = {
    "majority": _count_method("majority"),
    "supermajority": _count_method("supermajority"),
    "unanimous": _count_method("unanimous"),
    "weighted": weighted,
    "mean-score": _score_method("mean-score"),
    "median-score": _score_method("median-score"),
    "dawid-skene": dawid_skene_method,
}


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"unknown aggregation method {method!r}; valid: {', '.join(sorted(METHODS))}")


def aggregate(method: str, ballots: Sequence[Ballot], opts: AggregateOptions | None = None) -> list[PanelDecision]:
    """One decision per ballot, in order."""
    _check_method(method)
    return METHODS[method](list(ballots), opts or AggregateOptions())


# ---------------------------------------------------------------- adaptive jury


def can_still_change(
    method: str, votes_so_far: Sequence[Vote], remaining_judges: Sequence[str], opts: AggregateOptions | None = None
) -> bool:
    """Could the judges not yet called still change this ballot's outcome from what the votes so far give?

    Each entry of `remaining_judges` is one future vote (list a judge twice for two samples), and may be
    pass, fail or abstain; for the score methods its score may be anywhere in 1..5. Dawid-Skene depends
    on the whole run, so it never stops early: True whenever a judge remains (with none left there is
    nothing to call, for any method).
    """
    _check_method(method)
    opts = opts or AggregateOptions()
    if method == "dawid-skene":
        return bool(remaining_judges)
    ballot = Ballot(case_id="-", clause_id="-", votes=tuple(votes_so_far))
    now = METHODS[method]([ballot], opts)[0].outcome
    r = len(remaining_judges)
    if method in ("mean-score", "median-score"):
        reachable = _score_outcomes(_scores(ballot), r, method, opts)
    elif method == "weighted":
        reachable = _weighted_outcomes(_labels(ballot), remaining_judges, opts)
    else:
        labels = [v.label for v in _labels(ballot)]
        p, f = labels.count("pass"), labels.count("fail")
        # Judges are interchangeable under these rules, so how many more vote each way is all that matters.
        reachable = {_decide_counts(p + a, f + b, method, opts).outcome for a in range(r + 1) for b in range(r + 1 - a)}
    return bool(reachable - {now})


def _score_outcomes(scores: list[float], r: int, method: str, opts: AggregateOptions) -> set[str]:
    # Mean and median only grow as any one score grows, so for m new scores the extremes are all 1s and
    # all 5s, and every outcome between them is pass or fail (the quorum depends on m alone).
    return {_decide_scores(scores + [x] * m, method, opts).outcome for m in range(r + 1) for x in (1.0, 5.0)}


def _weighted_outcomes(valid: list[Vote], remaining: Sequence[str], opts: AggregateOptions) -> set[str]:
    wp = sum(opts.weight(v.judge) for v in valid if v.label == "pass")
    wf = sum(opts.weight(v.judge) for v in valid if v.label == "fail")
    n, w = len(valid), sum(opts.weight(j) for j in remaining)
    r = len(remaining)
    # All-pass maximises both the pass margin wp - wf and the vote count; all-fail minimises the margin; every
    # other assignment's margin lies between them. The outcome of a margin is fail (< 0), tie (= 0) or pass
    # (> 0), so an assignment in between can only give something new if the two ends fall on opposite sides
    # of zero, and then they already differ. Missing the quorum needs fewer votes than all-abstain, the current
    # outcome, has. Hence the two ends and the current outcome are every outcome there is.
    return {
        _decide_weights(wp + w, wf, n + r, opts).outcome,
        _decide_weights(wp, wf + w, n + r, opts).outcome,
        _decide_weights(wp, wf, n, opts).outcome,
    }
