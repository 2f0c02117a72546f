"""A report's claims as data, judged on Welch contrasts over seeds (finegrain.report.contrasts; no IO here).

Every claim is a linear contrast of group means: pairwise `a - b` (or, with `compare: ratio`, log(mean_a / mean_b) by
the delta method); a series' rise `last - first` and its concavity (slope over the first half of x minus slope over
the second half). A group is one variant or several pooled (their seeds are the samples).

Direction (raw): the 95% CI excludes 0 in the expected direction -> reproduced; in the other -> contradicted; else
inconclusive. `equal` claims (equivalence within `margin`, on the log ratio for ratio claims): by TOST, the 90% CI
inside (-margin, margin) -> reproduced; the 95% CI wholly outside -> contradicted.
Each claim has one p-value that is < 0.05 exactly when its raw verdict is decided: the Welch t test (two-sided); for
equal claims the TOST p (or, when the estimate lies beyond the margin, the p of lying beyond it); for a series the
largest of its checks' p (all must hold), or the smallest of those pointing the wrong way. `adjust` applies Holm
across one report run's claims: a raw verdict stands when its Holm-adjusted p is < 0.05, else it is inconclusive.
Size: with the report's values, the report's difference (rise for a series, log ratio for ratios) inside our 95% CI
-> same size; beyond it in the claim's direction -> the report's effect is larger; short of it -> smaller.
Every inconclusive verdict says the smallest effect these runs could detect and the seeds a decision would need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from finegrain.report.config import ClaimCfg
from finegrain.report.contrasts import (
    ALPHA,
    MAX_SEEDS,
    POWER,
    Design,
    Interval,
    Stat,
    holm,
    holm_levels,
    log_stat,
    min_detectable,
    min_margin,
    p_beyond,
    p_tost,
    p_two_sided,
    pool,
    power,
    seeds_needed,
    tost_power,
    welch_contrast,
)

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"
SAME_SIZE, REPORT_LARGER, REPORT_SMALLER = "same size", "report's effect larger", "report's effect smaller"


def direction(ci: Interval, expect: str) -> str:
    """reproduced / contradicted / inconclusive for a contrast expected > 0 (greater) or < 0 (less), at ci's level."""
    sign = 1 if expect == "greater" else -1
    lo, hi = sorted((sign * ci.lo, sign * ci.hi))
    return REPRODUCED if lo > 0 else CONTRADICTED if hi < 0 else INCONCLUSIVE


def equivalence(ci: Interval, margin: float) -> str:
    """TOST: the 90% CI inside (-margin, margin) -> reproduced; the 95% CI wholly beyond it -> contradicted."""
    ci90, ci95 = ci.at(0.90), ci.at(0.95)
    if -margin < ci90.lo and ci90.hi < margin:
        return REPRODUCED
    return CONTRADICTED if ci95.lo >= margin or ci95.hi <= -margin else INCONCLUSIVE


@dataclass(frozen=True)
class Check:
    """One tested contrast of a claim: interval (95%), raw verdict, p-value, and the design power is computed on."""

    name: str
    expect: str
    ci: Interval
    verdict: str
    p: float
    design: Design | None
    margin: float = 0.0

    @property
    def right_way(self) -> bool:
        return self.ci.estimate > 0 if self.expect == "greater" else self.ci.estimate < 0


def check(name: str, groups: list[Stat], coeffs: list[float], expect: str, margin: float = 0.0) -> Check | None:
    """The contrast of `groups` by `coeffs` tested as `expect` (greater / less / equal within margin)."""
    ci = welch_contrast(groups, coeffs)
    if ci is None:
        return None
    design = Design.of(groups, coeffs)
    if expect == "equal":
        p = p_tost(ci, margin) if abs(ci.estimate) < margin else p_beyond(ci, margin)
        return Check(name, expect, ci, equivalence(ci, margin), p, design, margin)
    return Check(name, expect, ci, direction(ci, expect), p_two_sided(ci), design)


@dataclass
class Verdict:
    claim: ClaimCfg
    verdict: str
    sides: dict[str, str]
    difference: str
    reason: str = ""
    scale: str = ""
    intervals: dict[str, Interval] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    p: float | None = None
    adjusted: str = ""
    p_holm: float | None = None
    size: str = ""
    size_text: str = ""
    report_difference: float | None = None
    sensitivity: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.adjusted = self.adjusted or self.verdict

    @property
    def verdict_text(self) -> str:
        """The raw verdict, with why when it was forced inconclusive."""
        return self.verdict + (f" ({self.reason})" if self.reason else "")

    @property
    def adjusted_text(self) -> str:
        """'reproduced (Holm p 0.012)', or '' when the claim had no test."""
        return "" if self.p_holm is None else f"{self.adjusted} (Holm p {p_text(self.p_holm)})"

    @property
    def sensitivity_text(self) -> str:
        return "; ".join(s["text"] for s in self.sensitivity.values())


def _ratio(x: float) -> str:
    return f"×{math.exp(x):.3g}"


def effect_text(claim: ClaimCfg, x: float) -> str:
    """A contrast value in the claim's units: a signed difference, or a ratio for `compare: ratio` claims."""
    return _ratio(x) if claim.compare == "ratio" else f"{x:+.4g}"


def _fmt(claim: ClaimCfg, ci: Interval | None) -> str:
    if ci is None:
        return "no CI (needs >= 2 runs per group)"
    show = lambda x: effect_text(claim, x)  # noqa: E731
    text = f"{show(ci.estimate)} [{show(ci.lo)}, {show(ci.hi)}]"
    if claim.expect == "equal":
        ci90 = ci.at(0.90)
        text += f" (90%: [{show(ci90.lo)}, {show(ci90.hi)}])"
    return text


def size_verdict(claim: ClaimCfg, ci: Interval, reported: float) -> tuple[str, str]:
    """The report's effect against our 95% CI, read along the claim's direction (an `equal` claim's along the
    report's own sign): (label, sentence)."""
    sign = -1.0 if claim.expect == "less" else (-1.0 if claim.expect == "equal" and reported < 0 else 1.0)
    lo, hi = sorted((sign * ci.lo, sign * ci.hi))
    ours = f"our 95% CI [{effect_text(claim, ci.lo)}, {effect_text(claim, ci.hi)}]"
    theirs = f"the report's {effect_text(claim, reported)}"
    if lo <= sign * reported <= hi:
        return SAME_SIZE, f"{SAME_SIZE}: {theirs} is inside {ours}"
    if sign * reported > hi:
        return REPORT_LARGER, f"{REPORT_LARGER}: {theirs} lies beyond {ours}"
    return REPORT_SMALLER, f"{REPORT_SMALLER}: {theirs} falls short of {ours}"


def _set_size(verdict: Verdict, reported: float | None) -> None:
    if reported is None or not verdict.checks:
        return
    verdict.report_difference = reported
    verdict.size, verdict.size_text = size_verdict(verdict.claim, verdict.checks[0].ci, reported)


def _claim_p(checks: list[Check]) -> float:
    """< ALPHA exactly when the claim is decided: every check holds (largest p), or one is reversed (smallest)."""
    if all(c.expect == "equal" or c.right_way for c in checks):
        return max(c.p for c in checks)
    return min(c.p for c in checks if not c.right_way)


def _finish(verdict: Verdict, checks: list[Check]) -> Verdict:
    verdict.checks = checks
    verdict.intervals = {c.name: c.ci for c in checks}
    verdict.p = _claim_p(checks)
    if verdict.verdict == INCONCLUSIVE:
        verdict.sensitivity = sensitivity(verdict, ALPHA)
    return verdict


def _at_target(claim: ClaimCfg, b: Stat, label: str) -> tuple[Stat, str]:
    """Side b moved to where an equal claim's `target` puts a: b + target, or b × target for ratios (so that a equal
    to it is a - b = target, a / b = target), with the label saying so."""
    t = claim.target
    if t is None:
        return b, label
    if claim.compare == "ratio":
        return Stat(b.mean * t, b.std * t, b.n), f"{label} × {t:.4g}"
    return Stat(b.mean + t, b.std, b.n), f"{label} {t:+.4g}"


def judge_pair(claim: ClaimCfg, a: Stat, b: Stat) -> Verdict:
    """a - b (or log(a/b) for ratio claims) with its Welch CI, judged against the claim's expected direction (or
    equivalence margin), and against the report's values when the claim has them."""
    label_a, label_b = " + ".join(claim.a), " + ".join(claim.b)
    if claim.metric_b:  # the sides may be the same variants: named by their metrics
        label_a, label_b = f"{label_a} ({claim.metric})", f"{label_b} ({claim.metric_b})"
    b, label_b = _at_target(claim, b, label_b)
    sides = {label_a: str(a), label_b: str(b)}
    name, groups = "a-b", [a, b]
    if claim.compare == "ratio":
        name, groups = "log(a/b)", [log_stat(a), log_stat(b)]
        if None in groups:
            return Verdict(claim, INCONCLUSIVE, sides, "no ratio", "a ratio needs positive means")
    found = check(name, groups, [1.0, -1.0], claim.expect, claim.margin)
    if found is None:
        return Verdict(claim, INCONCLUSIVE, sides, _fmt(claim, None), "fewer than 2 runs on a side")
    verdict = _finish(Verdict(claim, found.verdict, sides, _fmt(claim, found.ci)), [found])
    if claim.report:
        ra, rb = claim.report["a"], _at_target(claim, Stat(claim.report["b"], 0.0, 1), "")[0].mean
        _set_size(verdict, math.log(ra / rb) if claim.compare == "ratio" else ra - rb)
    return verdict


def judge_series(claim: ClaimCfg, points: list[Stat]) -> Verdict:
    """Rise (last - first > 0) and, for rising_diminishing, concavity: the slope over the first half of x exceeds the
    slope over the second half (the split is the middle point), or with `concavity: gain` the first half's gain
    exceeds the second half's. Both must hold for reproduced; either reversed with a CI excluding 0 contradicts."""
    x, k = claim.x, len(points)
    rise = check("rise", points, [-1.0] + [0.0] * (k - 2) + [1.0], "greater")
    sides = {f"{v} (x={xv:g})": str(p) for v, xv, p in zip(claim.series, x, points, strict=True)}
    steps = ", ".join(f"{b.mean - a.mean:+.3g}" for a, b in zip(points, points[1:], strict=False))
    checks = [rise] if rise else []
    text = f"rise {_fmt(claim, rise.ci if rise else None)}; steps {steps}"
    if claim.expect == "rising_diminishing":
        m = k // 2
        d1, d2 = (x[m] - x[0], x[-1] - x[m]) if claim.concavity == "slope" else (1.0, 1.0)
        coeffs = [0.0] * k
        coeffs[0] -= 1 / d1
        coeffs[m] += 1 / d1 + 1 / d2
        coeffs[-1] -= 1 / d2
        concavity = check("concavity", points, coeffs, "greater")
        shown = _fmt(claim, concavity.ci if concavity else None)
        text += f"; slope drop {shown} per x unit" if claim.concavity == "slope" else f"; gain drop {shown}"
        checks = [rise, concavity] if rise and concavity else []
    if not checks:
        return Verdict(claim, INCONCLUSIVE, sides, text, "fewer than 2 runs at a point")
    verdicts = {c.verdict for c in checks}
    raw = CONTRADICTED if CONTRADICTED in verdicts else REPRODUCED if verdicts == {REPRODUCED} else INCONCLUSIVE
    verdict = _finish(Verdict(claim, raw, sides, text), checks)
    if claim.report:
        _set_size(verdict, claim.report[claim.series[-1]] - claim.report[claim.series[0]])
    return verdict


def judge(claim: ClaimCfg, stat_of: dict[str, Stat], stat_of_b: dict[str, Stat] | None = None) -> Verdict:
    """The claim's raw verdict given each variant's Stat on the claim's metric (side b's on `metric_b` from
    `stat_of_b` when the claim has one; `adjust` adds the Holm verdicts)."""
    if claim.series:
        return judge_series(claim, [stat_of[v] for v in claim.series])
    if claim.metric_b and stat_of_b is None:
        raise ValueError(f"claim {claim.text!r}: side b is on {claim.metric_b}; pass its stats")
    of_b = stat_of_b if claim.metric_b else stat_of
    return judge_pair(claim, pool([stat_of[v] for v in claim.a]), pool([of_b[v] for v in claim.b]))


def sensitivity(verdict: Verdict, alpha: float) -> dict[str, dict]:
    """For the checks that left the verdict undecided at `alpha`: the smallest effect these runs detect with 80%
    power (two-sided, from the pooled std and runs per group), the narrowest margin they could show equivalence
    within (equal claims), and the runs per group a decision on the observed effect would need."""
    decided = verdict.verdict if verdict.verdict != INCONCLUSIVE else None
    return {
        c.name: _check_sensitivity(verdict.claim, c, alpha)
        for c in verdict.checks
        if c.design is not None and c.verdict == (decided or INCONCLUSIVE)
    }


def _check_sensitivity(claim: ClaimCfg, c: Check, alpha: float) -> dict:
    d, est = c.design, c.ci.estimate
    if d.se == 0:
        text = f"{c.name}: the seeds agree exactly (no spread), so more seeds would not change it"
        return {"mde": 0.0, "seeds_needed": None, "alpha": alpha, "text": text}
    mde = min_detectable(d, alpha)
    unit = " per x unit" if c.name == "concavity" and claim.concavity == "slope" else ""
    words = [f"{c.name}: these runs detect {effect_text(claim, mde).lstrip('+')}{unit} (80% power, α {alpha:.3g})"]
    if c.expect == "equal":
        narrowest = min_margin(d, alpha)
        within = f"{_ratio(-narrowest)}–{_ratio(narrowest)}" if claim.compare == "ratio" else f"±{narrowest:.3g}"
        words.append(f"show equivalence within {within}")
        if abs(est) < c.margin:
            seeds = seeds_needed(lambda n: tost_power(est, c.margin, d.with_seeds(n), alpha) >= POWER)
        else:
            seeds = seeds_needed(lambda n: power(abs(est) - c.margin, d.with_seeds(n), alpha) >= POWER)
    else:
        seeds = seeds_needed(lambda n: power(est, d.with_seeds(n), alpha) >= POWER) if est else None
    observed = effect_text(claim, est)
    per = "per point" if claim.series else "per side"
    if est == 0:
        words.append("no number of seeds decides an observed difference of 0")
    elif seeds is None:
        words.append(f"deciding the observed {observed} needs more than {MAX_SEEDS} seeds {per}")
    else:
        words.append(f"a decision on the observed {observed} needs {seeds} seeds {per}")
    return {"mde": mde, "seeds_needed": seeds, "alpha": alpha, "text": "; ".join(words)}


def adjust(verdicts: list[Verdict], alpha: float = ALPHA) -> list[Verdict]:
    """Holm across one report run's claims (those with a p-value; a claim forced inconclusive has none): each claim's
    adjusted verdict is its raw one when the Holm-adjusted p is < alpha, else inconclusive, with the seeds a decision
    at its Holm level would need."""
    tested = [v for v in verdicts if v.p is not None]
    ps = [v.p for v in tested]
    for v, p_holm, level in zip(tested, holm(ps), holm_levels(ps, alpha), strict=True):
        v.p_holm = p_holm
        v.adjusted = v.verdict if p_holm < alpha else INCONCLUSIVE
        if v.verdict != INCONCLUSIVE and v.adjusted == INCONCLUSIVE:
            v.sensitivity = sensitivity(v, level)
    return verdicts


def p_text(p: float | None) -> str:
    return "" if p is None else f"{p:.2g}"
