"""Exact binomial tails along a growing number of trials (the power figures of harness/trust.py), without scipy.

scipy.stats.binom gives the same figures (tests/test_trust.py compares them to 1e-9), but importing scipy.stats
costs ~70 MB and 0.6 s, and every report computes power figures. The sizes asked about are 1, 2, ..., M with a
threshold count k(N) that moves a step or so per size, so each tail follows from the last by the recurrence
P(X_{N+1} >= k) = P(X_N >= k) + p P(X_N = k - 1): O(M) terms in all, where evaluating each tail afresh
(a continued fraction per size) costs O(M sqrt(M)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def upper_tails(thresholds: Sequence[int], p: float) -> list[float]:
    """P(Bin(N, p) >= thresholds[N - 1]) for N = 1, 2, ..., len(thresholds)."""
    if p <= 0.0 or p >= 1.0:
        return [float((k <= 0) if p <= 0.0 else (k <= n)) for n, k in enumerate(thresholds, start=1)]
    log_p, log_q = math.log(p), math.log1p(-p)
    log_fact = [0.0]

    def pmf(n: int, j: int) -> float:
        if j < 0 or j > n:
            return 0.0
        return math.exp(log_fact[n] - log_fact[j] - log_fact[n - j] + j * log_p + (n - j) * log_q)

    out: list[float] = []
    n, k, tail = 0, 0, 1.0  # P(X_0 >= 0)
    for wanted in thresholds:
        tail += p * pmf(n, k - 1)  # one more trial, the same threshold
        n += 1
        log_fact.append(log_fact[-1] + math.log(n))
        wanted = min(max(int(wanted), 0), n + 1)  # below 0 every count reaches it, above n none does
        while k < wanted:
            tail -= pmf(n, k)
            k += 1
        while k > wanted:
            k -= 1
            tail += pmf(n, k)
        out.append(min(1.0, max(0.0, tail)))
    return out
