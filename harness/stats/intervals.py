"""Score intervals and multiplicity: Wilson (single proportion), Newcombe (paired difference), Holm's step-down.

Pure Python (no numpy), so that the modules that decide clauses stay quick to import. These are the one
implementation of each: trust.py, agreement.py, compare.py, review.py and calibration.py all use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # the two-sided 95% normal quantile


def wilson_bounds(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval around an observed rate `p` of `n` trials (n may be hypothetical)."""
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p) / n + z * z / (4 * n * n))) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion (95% by default); None when n is 0."""
    if n == 0:
        return None
    return wilson_bounds(successes / n, n, z)


def newcombe_paired(
    both: int, only_first: int, only_second: int, neither: int, z: float = Z95
) -> tuple[float, float] | None:
    """Newcombe's (1998) method 10 interval for p2 - p1 of paired binary data, None without pairs.

    p1 = (both + only_first) / n and p2 = (both + only_second) / n: the interval is for the second rate
    minus the first. It combines the two marginal Wilson intervals ("square and add") with the
    correlation phi of the pairs, continuity-corrected as Newcombe specifies (phi is 0 when ad - bc lies in
    [0, n/2]). Newcombe, R. G. (1998). Improved confidence intervals for the difference between binomial
    proportions based on paired data. Statistics in Medicine 17, 2635-2650.
    """
    n = both + only_first + only_second + neither
    if n == 0:
        return None
    first, second = both + only_first, both + only_second
    p1, p2 = first / n, second / n
    l1, u1 = wilson_bounds(p1, n, z)
    l2, u2 = wilson_bounds(p2, n, z)
    margins = first * (n - first) * second * (n - second)
    phi = 0.0
    if margins > 0:
        a = both * neither - only_first * only_second
        phi = (a - n / 2) / math.sqrt(margins) if a > n / 2 else (a / math.sqrt(margins) if a < 0 else 0.0)
    diff = p2 - p1
    # The bounds for p2 - p1: the low end pairs p2's lower margin with p1's upper one, and vice versa.
    low = diff - math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    high = diff + math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2))
    return max(-1.0, low), min(1.0, high)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's (1979) step-down adjusted p-values (None stays None and is not counted in the family).

    Rejecting where the adjusted p is below alpha controls the family-wise error rate at alpha under any
    dependence between the tests.
    """
    family = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(family)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(family):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
