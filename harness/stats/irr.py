"""Inter-rater reliability beyond the point value: n, standard errors, bootstrap intervals, Gwet's AC1 and PABAK.

Binary labels (pass 1 / fail 0). Two-rater figures come from a 2x2 table; panel figures from a raters x items
matrix with NaN for a missing rating. Kappa collapses when one label dominates (98 of 100 agreements can give
kappa .49); AC1 and PABAK are the prevalence-robust companions reported beside it, never instead of it.

References: Cohen's kappa standard error: Fleiss, Cohen & Everitt (1969), as statsmodels computes it.
Fleiss' kappa standard error under kappa = 0: Fleiss, Nee & Landis (1979). Gwet's AC1: Gwet (2008),
Computing inter-rater reliability and its variance in the presence of high agreement, BJMSP 61, 29-48.
PABAK: Byrt, Bishop & Carlin (1993). Intervals for the panel statistics: the percentile bootstrap over items
(seeded, so a run's figures are reproducible).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

Interval = tuple[float, float]

MIN_ITEMS = 10  # a statistic from fewer items is flagged: with 2 shared items a kappa of 1.0 means nothing
RESAMPLES = 1000
SEED = 20240611
Z95 = 1.959963984540054


class PairAgreement(BaseModel):
    """Two judges on the items both rated validly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    a: str
    b: str
    n: int
    percent: float | None
    kappa: float | None
    kappa_se: float | None  # asymptotic (Fleiss, Cohen & Everitt 1969)
    kappa_ci: Interval | None  # kappa +- z se, clipped to [-1, 1]
    ac1: float | None
    pabak: float | None
    small_sample: bool  # n below MIN_ITEMS


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def pair_agreement(a: str, b: str, table: np.ndarray, min_items: int = MIN_ITEMS) -> PairAgreement:
    """Cohen's kappa with its standard error, AC1 and PABAK of a 2x2 table (rows: a's label, columns: b's)."""
    table = np.asarray(table, dtype=float)
    n = int(table.sum())
    kappa = se = ci = ac1 = pabak = percent = None
    if n:
        percent = float(np.trace(table) / n)
        pabak = 2 * percent - 1
        pi = (table.sum(axis=0) + table.sum(axis=1)) / (2 * n)
        ac1 = _chance_corrected(percent, float((pi * (1 - pi)).sum()))
        p_e = float((table.sum(axis=0) / n) @ (table.sum(axis=1) / n))
        if p_e < 1 - 1e-12:
            kappa, se = cohen_kappa_se(table)
            if min(table.sum(axis=0).min(), table.sum(axis=1).min()) == 0:
                se = None  # a judge that gave one label only: kappa is 0 by construction, its variance formula 0
            if kappa is not None and se is not None and se > 0:
                ci = (max(-1.0, kappa - Z95 * se), min(1.0, kappa + Z95 * se))
    return PairAgreement(
        a=a,
        b=b,
        n=n,
        percent=percent,
        kappa=kappa,
        kappa_se=se,
        kappa_ci=ci,
        ac1=ac1,
        pabak=pabak,
        small_sample=n < min_items,
    )


def cohen_kappa_se(table: np.ndarray) -> tuple[float | None, float | None]:
    """Cohen's kappa of a square table and its asymptotic standard error (Fleiss, Cohen & Everitt 1969).

    The same figures as statsmodels' `cohens_kappa` (tests/test_agreement_intervals.py compares them), written
    here because importing statsmodels brings scipy and pandas (~60 MB) into every judged run."""
    table = np.asarray(table, dtype=float)
    n = table.sum()
    if n == 0:
        return None, None
    probs = table / n
    rows, cols = probs.sum(axis=1), probs.sum(axis=0)
    p_e = float(cols @ rows)
    if p_e >= 1 - 1e-12:
        return None, None
    kappa = (float(np.trace(probs)) - p_e) / (1 - p_e)
    term_a = float((np.diag(probs) * (1 - (rows + cols) * (1 - kappa)) ** 2).sum())
    off = ~np.eye(len(table), dtype=bool)
    spread = (cols[:, None] + rows[None, :]) ** 2
    term_b = (1 - kappa) ** 2 * float((probs * spread)[off].sum())
    term_c = (kappa - p_e * (1 - kappa)) ** 2
    var = (term_a + term_b - term_c) / (1 - p_e) ** 2 / n
    return _finite(kappa), (math.sqrt(var) if var >= 0 and math.isfinite(var) else None)


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories count table with the same number of raters on every item."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    if counts.ndim != 2 or counts.shape[0] < 2 or raters.min() < 2 or (raters != raters[0]).any():
        return None
    n = raters[0]
    p_cat = counts.sum(axis=0) / counts.sum()
    p_item = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    p_e = float((p_cat**2).sum())
    if p_e >= 1 - 1e-12:
        return None
    return _finite((float(p_item.mean()) - p_e) / (1 - p_e))


def _chance_corrected(observed: float, chance: float) -> float | None:
    return None if chance >= 1 - 1e-12 else (observed - chance) / (1 - chance)


# ---------------------------------------------------------------- panel statistics from per-item sums
# Every panel statistic here is a ratio of sums over items of a few per-item features of (valid ratings m,
# pass ratings k). A bootstrap resample is a weighting of the items, so all resamples of all statistics come
# from one matrix product per batch: (resamples x items) weights @ (items x features).

PANEL_STATISTICS = ("alpha_nominal", "fleiss_kappa", "gwet_ac1", "pabak")
BOOTSTRAP_CELLS = 1_000_000


def item_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid ratings m, pass ratings k) per item of a raters x items label matrix."""
    valid = ~np.isnan(labels)
    return valid.sum(axis=0).astype(float), np.where(valid, labels, 0.0).sum(axis=0)


def _features(m: np.ndarray, k: np.ndarray, raters: int) -> np.ndarray:
    two = m >= 2
    safe = np.maximum(m, 2)
    agree = np.where(two, (k * (k - 1) + (m - k) * (m - k - 1)) / (safe * (safe - 1)), 0.0)
    full = (m == raters) & two  # Fleiss' kappa needs every rater on the item
    return np.column_stack(
        [
            m >= 1,
            two,
            agree,
            np.where(m >= 1, k / np.maximum(m, 1), 0.0),  # 0-3: AC1 and PABAK
            np.where(two, k * (m - k) / (safe - 1), 0.0),
            two * k,
            two * (m - k),  # 4-6: alpha's coincidences
            full,
            full * agree,
            full * k,
            full * m,  # 7-10: Fleiss
        ]
    ).astype(float)


def _statistics(s: np.ndarray) -> dict[str, np.ndarray]:
    """The statistics from per-resample feature sums s (resamples x features); NaN where undefined."""
    with np.errstate(all="ignore"):
        p_a = s[:, 2] / s[:, 1]
        pi = s[:, 3] / s[:, 0]
        fleiss_pi = s[:, 9] / s[:, 10]
        fleiss_pe = fleiss_pi**2 + (1 - fleiss_pi) ** 2
        return {
            # Krippendorff (2011), section C: 1 - (n - 1) o_pf / (n_p n_f), items with two or more ratings.
            "alpha_nominal": 1 - (s[:, 5] + s[:, 6] - 1) * s[:, 4] / (s[:, 5] * s[:, 6]),
            "fleiss_kappa": (s[:, 8] / s[:, 7] - fleiss_pe) / (1 - fleiss_pe),
            # Gwet (2008): chance agreement 2 pi (1 - pi) from the mean per-item pass share.
            "gwet_ac1": (p_a - 2 * pi * (1 - pi)) / (1 - 2 * pi * (1 - pi)),
            "pabak": 2 * p_a - 1,
        }


def panel_statistics(
    labels: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
    cells: int = BOOTSTRAP_CELLS,
) -> dict[str, tuple[float | None, Interval | None]]:
    """Point value and percentile-bootstrap interval of each of PANEL_STATISTICS (items resampled with
    replacement, seeded). An interval is None with fewer than 2 items, or when fewer than half the resamples
    give a defined value (all one label, say)."""
    m, k = item_counts(labels)
    rated = m >= 1
    f = _features(m[rated], k[rated], labels.shape[0])
    points = _statistics(f.sum(axis=0, keepdims=True))
    n = len(f)
    draws: dict[str, list[np.ndarray]] = {name: [] for name in PANEL_STATISTICS}
    rng = np.random.default_rng(seed)
    # Batches of resamples bound the memory at ~BOOTSTRAP_CELLS counts (3 arrays of that many 8-byte cells): 250 at
    # a time for up to 4,000 items, fewer beyond (a 20,000-item run would otherwise hold ~120 MB at once). The same
    # draws either way: the generator's stream does not depend on how it is cut.
    batch = max(1, min(250, cells // max(n, 1)))
    for start in range(0, resamples if n >= 2 else 0, batch):
        size = min(batch, resamples - start)
        picks = rng.integers(0, n, (size, n)) + (np.arange(size)[:, None] * n)
        weights = np.bincount(picks.ravel(), minlength=size * n).reshape(size, n).astype(float)
        for name, values in _statistics(weights @ f).items():
            draws[name].append(values)
    out: dict[str, tuple[float | None, Interval | None]] = {}
    tail = (1 - level) / 2
    for name in PANEL_STATISTICS:
        value = _finite(float(points[name][0])) if n else None
        ok = np.concatenate(draws[name]) if draws[name] else np.zeros(0)
        ok = ok[np.isfinite(ok)]
        ci = None
        if value is not None and len(ok) >= resamples / 2:
            low, high = np.quantile(ok, [tail, 1 - tail])
            ci = (float(low), float(high))
        out[name] = (value, ci)
    return out


def fleiss_se0(counts: np.ndarray) -> float | None:
    """Standard error of Fleiss' kappa under kappa = 0 (Fleiss, Nee & Landis 1979) for an items x categories
    count table with the same number of raters on every item; None when undefined."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[0] < 2:
        return None
    raters = counts.sum(axis=1)
    if raters.min() < 2 or raters.min() != raters.max():
        return None
    items, n = counts.shape[0], float(raters[0])
    p = counts.sum(axis=0) / counts.sum()
    pq = p * (1 - p)
    total = float(pq.sum())
    if total <= 0:
        return None
    var = 2 / (total**2 * items * n * (n - 1)) * (total**2 - float((pq * (1 - 2 * p)).sum()))
    return _finite(math.sqrt(var)) if var >= 0 else None
