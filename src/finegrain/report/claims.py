"""A report's claims as data, judged with Welch 95% confidence intervals over seeds (no IO here).

Every claim is a linear contrast of group means, sum(c_i * mu_i), so one Welch-Satterthwaite interval serves all:
pairwise `a - b`; a series' rise `last - first` and its concavity (slope over the first half of x minus slope over the
second half). A group is one variant or several pooled (their seeds are the samples).

Verdicts: the CI excludes 0 in the expected direction -> reproduced; in the other -> contradicted; else inconclusive.
`equal` claims (equivalence within `margin`): CI inside (-margin, margin) -> reproduced; wholly outside -> contradicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from scipy import stats as sps

from finegrain.report.config import ClaimCfg

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"


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


@dataclass(frozen=True)
class Interval:
    estimate: float
    lo: float
    hi: float
    df: float


def welch_contrast(groups: list[Stat], coeffs: list[float], level: float = 0.95) -> Interval | None:
    """CI of sum(c_i * mean_i), Welch-Satterthwaite degrees of freedom; None when a group has fewer than 2 runs."""
    used = [(g, c) for g, c in zip(groups, coeffs, strict=True) if c != 0]
    if any(g.n < 2 for g, _ in used):
        return None
    estimate = sum(c * g.mean for g, c in used)
    terms = [c * c * g.std**2 / g.n for g, c in used]
    var = sum(terms)
    if var == 0:
        return Interval(estimate, estimate, estimate, math.inf)
    df = var**2 / sum(t * t / (g.n - 1) for t, (g, _) in zip(terms, used, strict=True))
    half = float(sps.t.ppf(0.5 + level / 2, df)) * math.sqrt(var)
    return Interval(estimate, estimate - half, estimate + half, df)


def direction(ci: Interval, expect: Literal["greater", "less"]) -> str:
    """reproduced / contradicted / inconclusive for a contrast expected > 0 (greater) or < 0 (less)."""
    sign = 1 if expect == "greater" else -1
    lo, hi = sorted((sign * ci.lo, sign * ci.hi))
    return REPRODUCED if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE


def equivalence(ci: Interval, margin: float) -> str:
    if -margin < ci.lo and ci.hi < margin:
        return REPRODUCED
    return CONTRADICTED if ci.lo >= margin or ci.hi <= -margin else INCONCLUSIVE


@dataclass
class Verdict:
    claim: ClaimCfg
    verdict: str
    sides: dict[str, str]
    difference: str
    reason: str = ""
    scale: str = ""
    intervals: dict[str, Interval] = field(default_factory=dict)


def _fmt(ci: Interval | None) -> str:
    return "no CI (needs >= 2 runs per group)" if ci is None else f"{ci.estimate:+.4g} [{ci.lo:+.4g}, {ci.hi:+.4g}]"


def judge_pair(claim: ClaimCfg, a: Stat, b: Stat) -> Verdict:
    """a - b with its Welch 95% CI, judged against the claim's expected direction (or equivalence margin)."""
    ci = welch_contrast([a, b], [1.0, -1.0])
    sides = {" + ".join(claim.a): str(a), " + ".join(claim.b): str(b)}
    if ci is None:
        return Verdict(claim, INCONCLUSIVE, sides, _fmt(ci), "fewer than 2 runs on a side")
    verdict = equivalence(ci, claim.margin) if claim.expect == "equal" else direction(ci, claim.expect)
    return Verdict(claim, verdict, sides, _fmt(ci), intervals={"a-b": ci})


def judge_series(claim: ClaimCfg, points: list[Stat]) -> Verdict:
    """Rise (last - first > 0) and, for rising_diminishing, concavity: the slope over the first half of x exceeds the
    slope over the second half (the split is the middle point). Both must hold for reproduced; either reversed with
    a CI excluding 0 contradicts."""
    x, k = claim.x, len(points)
    rise = welch_contrast(points, [-1.0] + [0.0] * (k - 2) + [1.0])
    sides = {f"{v} (x={xv:g})": str(p) for v, xv, p in zip(claim.series, x, points, strict=True)}
    steps = ", ".join(f"{b.mean - a.mean:+.3g}" for a, b in zip(points, points[1:], strict=False))
    intervals = {"rise": rise} if rise else {}
    checks = [direction(rise, "greater")] if rise else []
    text = f"rise {_fmt(rise)}; steps {steps}"
    if claim.expect == "rising_diminishing":
        m = k // 2
        d1, d2 = x[m] - x[0], x[-1] - x[m]
        coeffs = [0.0] * k
        coeffs[0] -= 1 / d1
        coeffs[m] += 1 / d1 + 1 / d2
        coeffs[-1] -= 1 / d2
        concavity = welch_contrast(points, coeffs)
        text += f"; slope drop {_fmt(concavity)} per x unit"
        if concavity:
            intervals["concavity"] = concavity
            checks.append(direction(concavity, "greater"))
        else:
            checks = []
    if not checks:
        return Verdict(claim, INCONCLUSIVE, sides, text, "fewer than 2 runs at a point")
    verdict = CONTRADICTED if CONTRADICTED in checks else REPRODUCED if set(checks) == {REPRODUCED} else INCONCLUSIVE
    return Verdict(claim, verdict, sides, text, intervals=intervals)


def judge(claim: ClaimCfg, stat_of: dict[str, Stat]) -> Verdict:
    """The claim's verdict given each variant's Stat on the claim's metric."""
    if claim.series:
        return judge_series(claim, [stat_of[v] for v in claim.series])
    return judge_pair(claim, pool([stat_of[v] for v in claim.a]), pool([stat_of[v] for v in claim.b]))
