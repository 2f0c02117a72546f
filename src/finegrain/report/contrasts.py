"""Welch contrasts of group means over seeds and their tests (no IO): intervals, p-values, TOST, Holm, power.

A contrast is sum(c_i * mean_i) over groups summarised by (mean, sample std, n); its standard error is
sqrt(sum c_i^2 s_i^2 / n_i) with Welch-Satterthwaite degrees of freedom, so a two-group contrast [1, -1] is exactly
scipy's `ttest_ind(a, b, equal_var=False)`. Ratios are contrasts of log means by the delta method (`log_stat`).

Power (minimum detectable effect, seeds needed) uses the pooled std of the groups and the noncentral t, the textbook
planning formula: it says how many seeds a decision would take, not a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize
from scipy import stats as sps

ALPHA = 0.05
POWER = 0.8
MAX_SEEDS = 100_000
"""Seeds per side beyond which `seeds_needed` gives up (None: no practical number of runs decides)."""


@dataclass(frozen=True)
class Stat:
    """A group's mean, sample standard deviation and number of runs."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.std:.2g} (n={self.n})" if self.n > 1 else f"{self.mean:.4g} (n=1)"


def pool(parts: list[Stat]) -> Stat:
    """Several groups' runs as one sample (exact pooled mean and sample std)."""
    n = sum(p.n for p in parts)
    mean = sum(p.mean * p.n for p in parts) / n
    ss = sum((p.n - 1) * p.std**2 + p.n * (p.mean - mean) ** 2 for p in parts)
    return Stat(mean, math.sqrt(ss / (n - 1)) if n > 1 else 0.0, n)


def log_stat(s: Stat) -> Stat | None:
    """The group's log mean with the delta-method std: var(log mean) ~ s^2 / (n mean^2), i.e. std s / mean.

    The runs' metrics keep each variant's mean and std over seeds, not the seeds' values, and a report's ratio
    ("about double") is one of means, so the log of the mean is the quantity (per-seed logs would need the seeds
    and estimate a ratio of geometric means). None when the mean is not positive."""
    return Stat(math.log(s.mean), s.std / s.mean, s.n) if s.mean > 0 else None


@dataclass(frozen=True)
class Interval:
    """A contrast's estimate, its two-sided CI at `level`, Welch degrees of freedom and standard error."""

    estimate: float
    lo: float
    hi: float
    df: float
    se: float = 0.0
    level: float = 0.95

    def at(self, level: float) -> Interval:
        """The same contrast's interval at another confidence level."""
        half = _t_half(level, self.df, self.se)
        return Interval(self.estimate, self.estimate - half, self.estimate + half, self.df, self.se, level)


def _t_half(level: float, df: float, se: float) -> float:
    return float(sps.t.ppf(0.5 + level / 2, df)) * se if se > 0 else 0.0


def welch_contrast(groups: list[Stat], coeffs: list[float], level: float = 0.95) -> Interval | None:
    """CI of sum(c_i * mean_i), Welch-Satterthwaite degrees of freedom; None when a group has fewer than 2 runs."""
    used = [(g, c) for g, c in zip(groups, coeffs, strict=True) if c != 0]
    if any(g.n < 2 for g, _ in used):
        return None
    estimate = sum(c * g.mean for g, c in used)
    terms = [c * c * g.std**2 / g.n for g, c in used]
    var = sum(terms)
    if var == 0:
        return Interval(estimate, estimate, estimate, math.inf, 0.0, level)
    df = var**2 / sum(t * t / (g.n - 1) for t, (g, _) in zip(terms, used, strict=True))
    se = math.sqrt(var)
    half = _t_half(level, df, se)
    return Interval(estimate, estimate - half, estimate + half, df, se, level)


def p_two_sided(ci: Interval) -> float:
    """Welch t test of contrast = 0 (two-sided); < ALPHA exactly when the 95% CI excludes 0."""
    if ci.se == 0:
        return 1.0 if ci.estimate == 0 else 0.0
    return float(2 * sps.t.sf(abs(ci.estimate) / ci.se, ci.df))


def p_tost(ci: Interval, margin: float) -> float:
    """TOST p-value of equivalence within (-margin, margin): the larger of the one-sided p-values of H0 diff <= -margin
    and H0 diff >= margin; < ALPHA exactly when the 90% CI lies inside the margin."""
    if ci.se == 0:
        return 0.0 if abs(ci.estimate) < margin else 1.0
    above_lower = sps.t.sf((ci.estimate + margin) / ci.se, ci.df)
    below_upper = sps.t.cdf((ci.estimate - margin) / ci.se, ci.df)
    return float(max(above_lower, below_upper))


def p_beyond(ci: Interval, margin: float) -> float:
    """p-value of the difference lying beyond the margin (either side, two one-sided tests at ALPHA/2 each); < ALPHA
    exactly when the 95% CI lies wholly outside (-margin, margin)."""
    if ci.se == 0:
        return 0.0 if abs(ci.estimate) >= margin else 1.0
    above = sps.t.sf((ci.estimate - margin) / ci.se, ci.df)
    below = sps.t.cdf((ci.estimate + margin) / ci.se, ci.df)
    return float(min(1.0, 2 * min(above, below)))


def holm(ps: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control), in the input order."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(ps: list[float], alpha: float = ALPHA) -> list[float]:
    """Each hypothesis' Holm threshold alpha / (m - rank), rank 0 for the smallest p."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    levels = [0.0] * len(ps)
    for rank, i in enumerate(order):
        levels[i] = alpha / (len(ps) - rank)
    return levels


@dataclass(frozen=True)
class Design:
    """What power depends on: the groups' pooled std, sum(c_i^2 / n_i) and the pooled degrees of freedom."""

    sd: float
    weight: float
    df: int
    coeff_sq: float
    k: int

    @classmethod
    def of(cls, groups: list[Stat], coeffs: list[float]) -> Design | None:
        used = [(g, c) for g, c in zip(groups, coeffs, strict=True) if c != 0]
        df = sum(g.n - 1 for g, _ in used)
        if any(g.n < 2 for g, _ in used) or df < 1:
            return None
        sd = math.sqrt(sum((g.n - 1) * g.std**2 for g, _ in used) / df)
        return cls(sd, sum(c * c / g.n for g, c in used), df, sum(c * c for _, c in used), len(used))

    def with_seeds(self, n: int) -> Design:
        """The same groups' std with n runs in every group."""
        return Design(self.sd, self.coeff_sq / n, self.k * (n - 1), self.coeff_sq, self.k)

    @property
    def se(self) -> float:
        return self.sd * math.sqrt(self.weight)


def _nct_cdf(x: float, df: float, ncp: float) -> float:
    """Noncentral t cdf; the normal limit where scipy's series does not converge (far tails at large df)."""
    value = float(sps.nct.cdf(x, df, ncp))
    return value if math.isfinite(value) else float(sps.norm.cdf(x - ncp))


def power(effect: float, design: Design, alpha: float = ALPHA) -> float:
    """Probability that the two-sided pooled t test at `alpha` rejects 0 when the true contrast is `effect`."""
    if design.se == 0:
        return 1.0 if effect else alpha
    crit = sps.t.ppf(1 - alpha / 2, design.df)
    ncp = abs(effect) / design.se
    return 1 - _nct_cdf(crit, design.df, ncp) + _nct_cdf(-crit, design.df, ncp)


def tost_power(effect: float, margin: float, design: Design, alpha: float = ALPHA) -> float:
    """Probability that TOST at `alpha` shows equivalence within the margin when the true contrast is `effect`
    (1 - the two one-sided tests' failure probabilities, a slightly conservative bound)."""
    if design.se == 0:
        return 1.0 if abs(effect) < margin else 0.0
    crit = sps.t.ppf(1 - alpha, design.df)
    fail = sum(_nct_cdf(crit, design.df, (margin + s * effect) / design.se) for s in (1, -1))
    return float(max(0.0, 1 - fail))


def min_detectable(design: Design, alpha: float = ALPHA, target: float = POWER) -> float:
    """The smallest |contrast| the two-sided test at `alpha` detects with probability `target` (0 without noise)."""
    if design.se == 0:
        return 0.0
    hi = design.se
    while power(hi, design, alpha) < target:
        hi *= 2
    return float(optimize.brentq(lambda d: power(d, design, alpha) - target, 0.0, hi, xtol=1e-12 * hi))


def min_margin(design: Design, alpha: float = ALPHA, target: float = POWER) -> float:
    """The narrowest margin TOST at `alpha` shows equivalence within, with probability `target`, when the true
    contrast is 0."""
    if design.se == 0:
        return 0.0
    hi = design.se
    while tost_power(0.0, hi, design, alpha) < target:
        hi *= 2
    return float(optimize.brentq(lambda m: tost_power(0.0, m, design, alpha) - target, 0.0, hi, xtol=1e-12 * hi))


def seeds_needed(reaches) -> int | None:
    """The fewest runs per group n >= 2 for which `reaches(n)` (monotone in n) holds; None beyond MAX_SEEDS."""
    if not reaches(MAX_SEEDS):
        return None
    lo, hi = 2, MAX_SEEDS
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    return lo
