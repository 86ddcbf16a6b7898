"""The figures in README's Statistics section, measured in one run (seeded, so the same every run; ~15 s).

1. kappa vs Gwet's AC1 and PABAK at 98/100 agreement under skewed prevalence
2. a coin-flipping judge's agreement with the full panel vs leave-one-out
3. compare's family-wise false-change rate over 20 clauses with no true difference, unadjusted vs Holm
4. exact coverage at n = 20 pairs of the Newcombe paired interval vs the paired percentile bootstrap
5. Dawid-Skene stopped at 200 EM iterations vs run to its tolerance
6. the chance that `cases_needed` decides the clause, and that `cases_needed_power` does
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.jury.aggregate import AggregateOptions, aggregate, fit_dawid_skene  # noqa: E402
from harness.stats import irr  # noqa: E402
from harness.stats.agreement import panel_agreement  # noqa: E402
from harness.stats.compare import conclude_family, mcnemar_exact, paired_diff_ci  # noqa: E402
from harness.stats.intervals import newcombe_paired, wilson  # noqa: E402
from harness.trust import cases_needed, cases_needed_power, z_for  # noqa: E402
from harness.types import Ballot, Vote  # noqa: E402


def ballots(labels: np.ndarray) -> list[Ballot]:
    return [
        Ballot(
            case_id=f"c{i}",
            clause_id="k",
            votes=tuple(
                Vote(case_id=f"c{i}", clause_id="k", judge=f"j{j}", model="m", label="pass" if x else "fail")
                for j, x in enumerate(labels[:, i])
            ),
        )
        for i in range(labels.shape[1])
    ]


def judges(rng: np.random.Generator, n: int, accuracy: tuple[float, ...], prevalence: float = 0.5) -> np.ndarray:
    truth = rng.random(n) < prevalence
    right = rng.random((len(accuracy), n)) < np.array(accuracy)[:, None]
    return np.where(right, truth, ~truth).astype(float)


def prevalence() -> None:
    p = irr.pair_agreement("a", "b", np.array([[1, 1], [1, 97]]))
    print(
        f"1. 98/100 agreement, 98% passes (table 97/1/1/1): kappa {p.kappa:.2f} (95% CI {p.kappa_ci[0]:.2f} to "
        f"{p.kappa_ci[1]:.2f}), AC1 {p.ac1:.2f}, PABAK {p.pabak:.2f}"
    )


def leave_one_out() -> None:
    bs = ballots(judges(np.random.default_rng(5), 600, (0.9, 0.9, 0.5)))
    coin = panel_agreement(bs, [d.outcome for d in aggregate("majority", bs)]).judges[2]
    print(
        f"2. coin-flip judge beside two 90% judges, 600 ballots: agreement with the full panel "
        f"{coin.agreement_full_panel:.3f}, leave-one-out {coin.agreement_with_panel:.3f} (n {coin.n_compared})"
    )


def family_wise() -> None:
    rng = np.random.default_rng(7)
    holm = raw = 0
    families = 2000
    for _ in range(families):
        clauses = []
        for k in range(20):
            t = tuple(int(x) for x in rng.multinomial(30, (0.49, 0.21, 0.21, 0.09)))
            low, high = paired_diff_ci(*t)
            clauses.append(
                dict(
                    clause_id=f"c{k}",
                    n_pairs=30,
                    diff=(t[2] - t[1]) / 30,
                    ci_low=low,
                    ci_high=high,
                    mcnemar_p=mcnemar_exact(*t),
                )
            )
        changed = ("regressed", "improved")
        holm += any(c["conclusion"] in changed for c in conclude_family(clauses))
        raw += any(conclude_family([c])[0]["conclusion"] in changed for c in clauses)
    print(
        f"3. 20 clauses x 30 pairs, no true difference, {families} comparisons: some change reported in "
        f"{raw / families:.1%} unadjusted, {holm / families:.1%} with Holm"
    )


def coverage() -> None:
    n = 20
    tables = np.array(
        [(a, b, c, n - a - b - c) for a in range(n + 1) for b in range(n + 1 - a) for c in range(n + 1 - a - b)]
    )
    newcombe = np.array([newcombe_paired(*t) for t in tables])
    rng = np.random.default_rng(1)
    boot = []
    for _, reg, imp, _ in tables:  # the percentile bootstrap compare used before (2000 resamples)
        if reg == imp == 0:
            boot.append((0.0, 0.0))
            continue
        draws = rng.multinomial(n, [imp / n, reg / n, (n - reg - imp) / n], size=2000)
        boot.append(tuple(np.quantile((draws[:, 0] - draws[:, 1]) / n, [0.025, 0.975])))
    boot_arr = np.array(boot)
    log_fact = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    grid = [(a, b, rho) for a in (0.5, 0.7, 0.8, 0.9) for b in (0.5, 0.7, 0.8, 0.9) for rho in (0.0, 0.3, 0.6)]
    grid += [(0.95, 0.9, 0.5), (0.9, 0.85, 0.7), (0.85, 0.9, 0.6), (0.95, 0.85, 0.4)]
    cov_n, cov_b = [], []
    for a, b, rho in grid:
        both = a * b + rho * math.sqrt(a * (1 - a) * b * (1 - b))
        cells = np.array([both, a - both, b - both, 1 - a - b + both])
        if cells.min() <= 0:
            continue
        w = np.exp(log_fact[n] - log_fact[tables].sum(axis=1) + (tables * np.log(cells)).sum(axis=1))
        truth = cells[2] - cells[1]
        for arr, out in ((newcombe, cov_n), (boot_arr, cov_b)):
            out.append(float((w * ((arr[:, 0] <= truth + 1e-12) & (truth - 1e-12 <= arr[:, 1]))).sum()))
    print(
        f"4. exact coverage at n = 20 pairs over {len(cov_n)} settings (rates .5-.95, correlation 0-.7): "
        f"Newcombe mean {np.mean(cov_n):.3f}, min {min(cov_n):.3f}; paired bootstrap mean {np.mean(cov_b):.3f}, "
        f"min {min(cov_b):.3f}"
    )


def dawid_skene() -> None:
    bs = ballots(judges(np.random.default_rng(4), 200, (0.55, 0.55, 0.9), prevalence=0.8))
    short = fit_dawid_skene(bs, AggregateOptions(max_iter=200, starts=1))
    full = fit_dawid_skene(bs)
    judge, key = max(
        ((j, k) for j in full.reliability for k in ("sensitivity", "specificity")),
        key=lambda jk: abs(full.reliability[jk[0]][jk[1]] - short.reliability[jk[0]][jk[1]]),
    )
    print(
        f"5. Dawid-Skene, judges .55/.55/.9 on 200 ballots: after 200 iterations (not converged) {judge}'s {key} "
        f"{short.reliability[judge][key]:.2f}; converged after {full.iterations} iterations, {full.starts} starts: "
        f"{full.reliability[judge][key]:.2f}"
    )


def _chance(passed: int, decided: int, total: int, threshold: float, z: float) -> float:
    """Exact P(the Wilson lower bound at `total` cases clears the threshold), the observed rate being the truth."""
    from scipy.stats import binom

    ok = [k for k in range(total + 1) if (wilson(k, total, z) or (0.0, 0.0))[0] >= threshold]
    return float(binom.pmf(ok, total, passed / decided).sum())


def power() -> None:
    z = z_for(0.95)
    for passed, decided, t in ((18, 20, 0.8), (27, 30, 0.8), (9, 10, 0.7)):
        plain, powered = cases_needed(passed, decided, t, z), cases_needed_power(passed, decided, t, z)
        assert plain is not None and powered is not None
        print(
            f"6. {passed}/{decided} against {t:.0%}: {plain} more cases decide it with probability "
            f"{_chance(passed, decided, decided + plain, t, z):.2f}; {powered} more with probability "
            f"{_chance(passed, decided, decided + powered, t, z):.2f}"
        )


if __name__ == "__main__":
    prevalence()
    leave_one_out()
    family_wise()
    coverage()
    dawid_skene()
    power()
