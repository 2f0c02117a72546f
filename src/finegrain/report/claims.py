"""A report's claims as data, judged on Welch contrasts over seeds (finegrain.report.contrasts; no IO here).

Every claim is a linear contrast of group means: pairwise `a - b` (or, with `compare: ratio`, log(mean_a / mean_b) by
the delta method); a series' rise `last - first` and its concavity (slope over the first half of x minus slope over
the second half). A group is one variant or several pooled (their seeds are the samples).

Direction (raw): the 95% CI excludes 0 in the expected direction -> reproduced; in the other -> contradicted; else
inconclusive. `equal` claims (equivalence within `margin`, on the log ratio for ratio claims): by TOST, the 90% CI
inside (-margin, margin) -> reproduced; the 95% CI wholly outside -> contradicted.
Each claim has one p-value that is < 0.05 exactly when its raw verdict is decided: the Welch t test (two-sided); for
equal claims the TOST p (or, when the estimate lies beyond the margin, the p of lying beyond it); for a series the
largest of its checks' p (all must hold), or the smallest of those pointing the wrong way. `adjust` applies Holm over
the preset's whole family (every claim of every dataset's run, `family_size`; claims without a test count with p 1):
a raw verdict stands when its Holm-adjusted p is < 0.05, else it is inconclusive.
Size, against the report's effect r (its difference; rise for a series; log ratio for ratios) ± a margin m
(`size_margin`): our 90% CI inside (r - m, r + m) -> same size (TOST, α 0.05); our 95% CI wholly outside
[r - m, r + m] -> ours larger / smaller (along the claim's direction); else size undecided. One combined verdict:
"reproduced in sign and size" only when the Holm-adjusted direction is reproduced and the size is the same.
Every inconclusive verdict says the smallest effect these runs could detect and the seeds a decision would need; every
claim with the report's values says the seeds per side that detect the report's effect at its Holm level.
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
SAME_SIZE, OURS_LARGER, OURS_SMALLER, SIZE_UNDECIDED = "same size", "ours larger", "ours smaller", "size undecided"

SIZE_FRACTION = 0.25
"""Default size margin: a quarter of the report's effect (ratio claims: of its log ratio)."""
SIZE_FLOOR = 0.02
"""...but never below 2 accuracy points on accuracy metrics: the report's number is one run."""
RATIO_FLOOR = math.log(1.1)
"""...and never below ×1.1 on ratio claims (timings): the report's ratio is one run on other hardware."""
ACCURACY_METRICS = ("test.", "val.", "curve.train_val_gap", "curve.phase1_last_val_acc", "curve.phase2_first_val_acc")
"""Metrics in accuracy units (the curve ones are val accuracies or a train - val accuracy gap)."""


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
    coeffs: tuple[float, ...] = ()

    @property
    def right_way(self) -> bool:
        return self.ci.estimate > 0 if self.expect == "greater" else self.ci.estimate < 0


def check(name: str, groups: list[Stat], coeffs: list[float], expect: str, margin: float = 0.0) -> Check | None:
    """The contrast of `groups` by `coeffs` tested as `expect` (greater / less / equal within margin)."""
    ci = welch_contrast(groups, coeffs)
    if ci is None:
        return None
    design, kept = Design.of(groups, coeffs), tuple(coeffs)
    if expect == "equal":
        p = p_tost(ci, margin) if abs(ci.estimate) < margin else p_beyond(ci, margin)
        return Check(name, expect, ci, equivalence(ci, margin), p, design, margin, kept)
    return Check(name, expect, ci, direction(ci, expect), p_two_sided(ci), design, coeffs=kept)


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
    family: int = 0
    level: float | None = None
    size: str = ""
    size_text: str = ""
    size_p: float | None = None
    report_difference: float | None = None
    means: tuple[float, float] | None = None
    sensitivity: dict[str, dict] = field(default_factory=dict)
    report_power: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.adjusted = self.adjusted or self.verdict

    @property
    def verdict_text(self) -> str:
        """The raw verdict, with why when it was forced inconclusive."""
        return self.verdict + (f" ({self.reason})" if self.reason else "")

    @property
    def adjusted_text(self) -> str:
        """'reproduced (Holm p 0.012 of 19)', 'inconclusive (no test; counted in Holm's 19)', or '' without Holm."""
        if self.p_holm is None:
            return f"{self.adjusted} (no test; counted in Holm's {self.family})" if self.family else ""
        return f"{self.adjusted} (Holm p {p_text(self.p_holm)} of {self.family})"

    @property
    def combined(self) -> str:
        """One verdict: the Holm-adjusted direction, and when it is reproduced, the size against the report's."""
        if self.adjusted != REPRODUCED:
            return self.adjusted
        what = "reproduced as equal" if self.claim.expect == "equal" else "reproduced in sign"
        if self.size == SAME_SIZE:
            return f"{what} and size"
        if self.size in (OURS_LARGER, OURS_SMALLER):
            return f"{what}, size different ({self.size} than the report's)"
        return f"{what}, {self.size}" if self.size else f"{what} (the report prints no size)"

    @property
    def report_text(self) -> str:
        """The report's own values and effect, '' when it prints none."""
        return report_text(self.claim)

    @property
    def ours_text(self) -> str:
        """Our side means (a series: first → last point) and our effect (a series: its rise) with its 95% CI."""
        if self.means is None:
            return self.difference
        a, b = self.means
        sides = f"{a:.4g} → {b:.4g}: rise " if self.claim.series else f"{a:.4g} vs {b:.4g}: "
        if not self.checks:
            return sides + ("no ratio" if self.difference == "no ratio" else "no CI (fewer than 2 runs)")
        ci, show = self.checks[0].ci, lambda x: effect_text(self.claim, x)
        return f"{sides}{show(ci.estimate)} [{show(ci.lo)}, {show(ci.hi)}]{target_text(self.claim)}"

    @property
    def sensitivity_text(self) -> str:
        return "; ".join(s["text"] for s in [*self.sensitivity.values(), *self.report_power.values()])


def report_text(claim: ClaimCfg) -> str:
    """'0.879 vs 0.836: +0.043' (ratio: ': ×1.05'; a series: its first and last points and the rise)."""
    if not claim.report:
        return ""
    if claim.series:
        first, last = claim.report[claim.series[0]], claim.report[claim.series[-1]]
        return f"{first:.4g} → {last:.4g}: rise {last - first:+.4g}"
    a, b = claim.report["a"], claim.report["b"]
    return f"{a:.4g} vs {b:.4g}: {effect_text(claim, report_effect(claim))}{target_text(claim)}"


def target_text(claim: ClaimCfg) -> str:
    """' (a vs b ×0.49)': an equal claim's `target`, which its effects (ours and the report's) are relative to."""
    if claim.target is None:
        return ""
    return f" (a vs b {_ratio(math.log(claim.target)) if claim.compare == 'ratio' else f'{claim.target:+.4g}'})"


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


def size_margin(claim: ClaimCfg, reported: float) -> float:
    """The claim's `size_margin`, else SIZE_FRACTION of the report's effect (ratio claims: of its log ratio), at
    least SIZE_FLOOR on accuracy metrics and RATIO_FLOOR on ratios; an `equal` claim's at least its own `margin` (the
    band the report's 'about' / 'similar' allows around its value)."""
    if claim.size_margin is not None:
        return claim.size_margin
    if claim.compare == "ratio":
        floor = RATIO_FLOOR
    else:
        floor = SIZE_FLOOR if claim.metric.startswith(ACCURACY_METRICS) else 0.0
    if claim.expect == "equal":
        floor = max(floor, claim.margin)
    return max(SIZE_FRACTION * abs(reported), floor)


def _size_sign(claim: ClaimCfg, reported: float) -> float:
    """+1 when 'larger' is upward: along the claim's direction; an `equal` claim's along the report's own sign."""
    if claim.expect == "less" or (claim.expect == "equal" and reported < 0):
        return -1.0
    return 1.0


def size_verdict(claim: ClaimCfg, ci: Interval, reported: float, margin: float) -> tuple[str, str, float]:
    """Our effect against the report's `reported` ± `margin`: same size when our 90% CI lies inside the band (TOST
    at α 0.05), ours larger / smaller when our 95% CI lies wholly outside it, else undecided: (label, text, TOST p)."""
    lo, hi = reported - margin, reported + margin
    ci90, ci95 = ci.at(0.90), ci.at(0.95)
    show = lambda x: effect_text(claim, x)  # noqa: E731
    band = f"the report's {show(reported)} ± margin [{show(lo)}, {show(hi)}]"
    shifted = Interval(ci.estimate - reported, ci.lo - reported, ci.hi - reported, ci.df, ci.se, ci.level)
    p_same = p_tost(shifted, margin) if margin > 0 else 1.0
    if lo < ci90.lo and ci90.hi < hi:
        return SAME_SIZE, f"{SAME_SIZE}: our 90% CI [{show(ci90.lo)}, {show(ci90.hi)}] inside {band}", p_same
    if ci95.lo > hi or ci95.hi < lo:
        label = OURS_LARGER if _size_sign(claim, reported) * (ci.estimate - reported) > 0 else OURS_SMALLER
        return label, f"{label}: our 95% CI [{show(ci95.lo)}, {show(ci95.hi)}] outside {band}", p_same
    text = f"our 90% CI [{show(ci90.lo)}, {show(ci90.hi)}] not inside {band}, our 95% CI not outside it"
    return SIZE_UNDECIDED, f"{SIZE_UNDECIDED}: {text}", p_same


def report_points(claim: ClaimCfg) -> list[float]:
    """The report's values in the order of the claim's groups (log values for ratio claims), [] without them."""
    if not claim.report:
        return []
    if claim.series:
        return [claim.report[v] for v in claim.series]
    points = [claim.report["a"], _at_target(claim, Stat(claim.report["b"], 0.0, 1), "")[0].mean]  # as side b
    return [math.log(x) for x in points] if claim.compare == "ratio" else points


def report_effect(claim: ClaimCfg) -> float | None:
    """The report's headline effect: a - b (log ratio for ratio claims), or a series' rise; None without values."""
    points = report_points(claim)
    if not points:
        return None
    return points[-1] - points[0] if claim.series else points[0] - points[1]


def report_contrast(claim: ClaimCfg, c: Check) -> float | None:
    """The report's value of check `c` (its difference, rise or concavity), None without the report's values."""
    points = report_points(claim)
    return sum(k * x for k, x in zip(c.coeffs, points, strict=True)) if points and c.coeffs else None


def _set_size(verdict: Verdict) -> None:
    """The size verdict of the claim's first check (a difference, log ratio, or a series' rise) against the report."""
    reported = verdict.report_difference = report_effect(verdict.claim)
    if reported is None:
        return
    if not verdict.checks:
        verdict.size, verdict.size_text = SIZE_UNDECIDED, f"{SIZE_UNDECIDED}: not judged ({verdict.reason})"
        return
    first = verdict.checks[0]
    margin = size_margin(verdict.claim, reported)
    verdict.size, verdict.size_text, verdict.size_p = size_verdict(verdict.claim, first.ci, reported, margin)


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


def _judged(verdict: Verdict, means: tuple[float, float]) -> Verdict:
    """The verdict with our side means and its size against the report's effect."""
    verdict.means = means
    _set_size(verdict)
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
    means = (a.mean, b.mean)  # ours as measured (an equal claim's target moves side b below)
    b, label_b = _at_target(claim, b, label_b)
    sides = {label_a: str(a), label_b: str(b)}
    name, groups = "a-b", [a, b]
    if claim.compare == "ratio":
        name, groups = "log(a/b)", [log_stat(a), log_stat(b)]
        if None in groups:
            return _judged(Verdict(claim, INCONCLUSIVE, sides, "no ratio", "a ratio needs positive means"), means)
    found = check(name, groups, [1.0, -1.0], claim.expect, claim.margin)
    if found is None:
        reason = "fewer than 2 runs on a side"
        return _judged(Verdict(claim, INCONCLUSIVE, sides, _fmt(claim, None), reason), means)
    return _judged(_finish(Verdict(claim, found.verdict, sides, _fmt(claim, found.ci)), [found]), means)


def judge_series(claim: ClaimCfg, points: list[Stat]) -> Verdict:
    """Rise (last - first > 0) and, for rising_diminishing, concavity: the slope over the first half of x exceeds the
    slope over the second half (the split is the middle point), or with `concavity: gain` the first half's gain
    exceeds the second half's. Both must hold for reproduced; either reversed with a CI excluding 0 contradicts."""
    x, k = claim.x, len(points)
    rise = check("rise", points, [-1.0] + [0.0] * (k - 2) + [1.0], "greater")
    sides = {f"{v} (x={xv:g})": str(p) for v, xv, p in zip(claim.series, x, points, strict=True)}
    means = (points[0].mean, points[-1].mean)
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
        return _judged(Verdict(claim, INCONCLUSIVE, sides, text, "fewer than 2 runs at a point"), means)
    verdicts = {c.verdict for c in checks}
    raw = CONTRADICTED if CONTRADICTED in verdicts else REPRODUCED if verdicts == {REPRODUCED} else INCONCLUSIVE
    return _judged(_finish(Verdict(claim, raw, sides, text), checks), means)


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


def adjust(verdicts: list[Verdict], alpha: float = ALPHA, family: int = 0) -> list[Verdict]:
    """Holm over a family of max(family, len(verdicts)) claims: the preset's claims on every dataset, of which these
    are one run's; a claim without a test here (forced inconclusive, or judged in another dataset's run) counts with
    p 1. Each claim's adjusted verdict is its raw one when the Holm-adjusted p is < alpha, else inconclusive (with
    the seeds a decision at its Holm level would need); each gets the seeds that detect the report's effect at that
    level."""
    m = max(family, len(verdicts))
    ps = [1.0 if v.p is None else v.p for v in verdicts] + [1.0] * (m - len(verdicts))
    for v, p_holm, level in zip(verdicts, holm(ps), holm_levels(ps, alpha), strict=False):
        v.family, v.level = m, level
        if v.p is None:
            continue
        v.p_holm = p_holm
        v.adjusted = v.verdict if p_holm < alpha else INCONCLUSIVE
        if v.verdict != INCONCLUSIVE and v.adjusted == INCONCLUSIVE:
            v.sensitivity = sensitivity(v, level)
        v.report_power = report_power(v, level)
    return verdicts


def report_power(verdict: Verdict, alpha: float) -> dict[str, dict]:
    """Per check with the report's value: the seeds per side (per point for a series) that detect the report's
    effect with 80% power at `alpha` (equal claims: that show equivalence when the truth is the report's), from our
    runs' pooled std, and these runs' power for it."""
    out = {}
    for c in verdict.checks:
        reported = report_contrast(verdict.claim, c)
        if reported is None or c.design is None or c.design.se == 0:
            continue
        if c.expect == "equal":
            reach = lambda d, r=reported, m=c.margin: tost_power(r, m, d, alpha)  # noqa: E731
        else:
            reach = lambda d, r=reported: power(r, d, alpha)  # noqa: E731
        hopeless = reported == 0 or (c.expect == "equal" and abs(reported) >= c.margin)
        seeds = None if hopeless else seeds_needed(lambda n, f=reach, d=c.design: f(d.with_seeds(n)) >= POWER)
        now = reach(c.design)
        text = _report_power_text(verdict.claim, c, reported, seeds, alpha, now)
        out[c.name] = {"report_effect": reported, "seeds_needed": seeds, "alpha": alpha, "power": now, "text": text}
    return out


def _report_power_text(claim: ClaimCfg, c: Check, reported: float, seeds: int | None, alpha: float, now: float) -> str:
    theirs = f"the report's {effect_text(claim, reported)}" + (" per x unit" if c.name == "concavity" else "")
    if c.expect == "equal" and abs(reported) >= c.margin:
        return f"{c.name}: {theirs} lies outside the margin: no number of seeds shows equivalence there"
    if reported == 0:
        return f"{c.name}: {theirs} is 0: no number of seeds detects it"
    goal = f"equivalence if the truth is {theirs}" if c.expect == "equal" else f"detecting {theirs}"
    needs = f"more than {MAX_SEEDS} seeds" if seeds is None else f"{seeds} seeds"
    per = "per point" if claim.series else "per side"
    return f"{c.name}: {goal} needs {needs} {per} (80% power, α {alpha:.3g} Holm); these runs' power {now:.0%}"


def p_text(p: float | None) -> str:
    return "" if p is None else f"{p:.2g}"
