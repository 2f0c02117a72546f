"""The statistics behind the claims against scipy (and statsmodels when installed): Welch p-values, TOST, the
delta-method log ratio, Holm, power and seeds needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from finegrain.report.contrasts import (
    Design,
    Stat,
    holm,
    holm_levels,
    log_stat,
    min_detectable,
    min_margin,
    p_beyond,
    p_tost,
    p_two_sided,
    power,
    seeds_needed,
    tost_power,
    welch_contrast,
)


def stat(values) -> Stat:
    values = np.asarray(values, dtype=float)
    return Stat(float(values.mean()), float(values.std(ddof=1)), len(values))


def diff(a, b):
    return welch_contrast([stat(a), stat(b)], [1.0, -1.0])


SAMPLES = [(0.80, 0.02, 5, 0.70, 0.05, 3), (0.71, 0.01, 3, 0.70, 0.012, 4), (0.5, 0.1, 6, 0.52, 0.03, 2)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("ma", "sa", "na", "mb", "sb", "nb"), SAMPLES)
def test_welch_p_value_is_scipys(seed, ma, sa, na, mb, sb, nb):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(ma, sa, na), rng.normal(mb, sb, nb)
    assert p_two_sided(diff(a, b)) == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("margin", [0.005, 0.02, 0.05])
def test_tost_is_two_one_sided_welch_tests_and_the_90_percent_interval(seed, margin):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.8 + 0.01 * seed, 0.01, 4), rng.normal(0.8, 0.015, 3)
    lower = sps.ttest_ind(a + margin, b, equal_var=False, alternative="greater").pvalue  # H0: a - b <= -margin
    upper = sps.ttest_ind(a - margin, b, equal_var=False, alternative="less").pvalue  # H0: a - b >= margin
    ci = diff(a, b)
    assert p_tost(ci, margin) == pytest.approx(max(lower, upper), rel=1e-9)
    ci90 = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.90)
    assert (ci.at(0.90).lo, ci.at(0.90).hi) == pytest.approx((ci90.low, ci90.high))
    assert (p_tost(ci, margin) < 0.05) == (-margin < ci90.low and ci90.high < margin)
    beyond_above = sps.ttest_ind(a - margin, b, equal_var=False, alternative="greater").pvalue
    beyond_below = sps.ttest_ind(a + margin, b, equal_var=False, alternative="less").pvalue
    assert p_beyond(ci, margin) == pytest.approx(min(1.0, 2 * min(beyond_above, beyond_below)), rel=1e-9)
    assert (p_beyond(ci, margin) < 0.05) == (ci.lo >= margin or ci.hi <= -margin)


def test_log_ratio_is_a_welch_interval_on_the_delta_method_scale():
    """var(log mean) ~ s^2 / (n mean^2): the same Welch interval as the runs divided by their own mean."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(2.0, 0.1, 4), rng.normal(1.0, 0.08, 5)
    ci = welch_contrast([log_stat(stat(a)), log_stat(stat(b))], [1.0, -1.0])
    assert ci.estimate == pytest.approx(math.log(a.mean() / b.mean()))
    ref = sps.ttest_ind(a / a.mean(), b / b.mean(), equal_var=False).confidence_interval(0.95)
    assert ci.hi - ci.estimate == pytest.approx((ref.high - ref.low) / 2)
    assert log_stat(Stat(0.0, 0.1, 3)) is None


def test_log_ratio_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(8)
    a, b = rng.normal(2.0, 0.2, (2000, 5)), rng.normal(1.0, 0.1, (2000, 4))
    covered = 0
    for ra, rb in zip(a, b, strict=True):
        ci = welch_contrast([log_stat(stat(ra)), log_stat(stat(rb))], [1.0, -1.0])
        covered += ci.lo < math.log(2.0) < ci.hi
    assert 0.93 < covered / 2000 < 0.97


def _holm_by_hand(ps: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure as stated: reject the i-th smallest while p_(i) <= alpha / (m - i + 1)."""
    order = np.argsort(ps)
    reject = [False] * len(ps)
    for i, k in enumerate(order, start=1):
        if ps[k] > alpha / (len(ps) - i + 1):
            break
        reject[k] = True
    return reject


def test_holm_on_a_hand_worked_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_levels([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    assert holm([]) == []


@pytest.mark.parametrize("seed", range(5))
def test_holm_rejects_what_the_step_down_procedure_rejects(seed):
    rng = np.random.default_rng(seed)
    ps = [
        sps.ttest_ind(rng.normal(d, 0.02, 3), rng.normal(0, 0.02, 3), equal_var=False).pvalue
        for d in rng.uniform(0, 0.08, 8)
    ]
    adjusted = holm(ps)
    for alpha in (0.01, 0.05, 0.1):
        assert [p < alpha for p in adjusted] == _holm_by_hand(ps, alpha - 1e-15)
    assert all(adj >= p for adj, p in zip(adjusted, ps, strict=True))


def test_holm_matches_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    rng = np.random.default_rng(11)
    ps = list(rng.uniform(0, 0.1, 10))
    assert holm(ps) == pytest.approx(multitest.multipletests(ps, method="holm")[1])


def _rejection_rate(effect, n, sims=4000, seed=0) -> float:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(effect, 1.0, (sims, n)), rng.normal(0.0, 1.0, (sims, n))
    return float(np.mean(sps.ttest_ind(a, b, axis=1).pvalue < 0.05))


@pytest.mark.parametrize("n", [3, 5])
def test_minimum_detectable_effect_is_detected_80_percent_of_the_time(n):
    design = Design.of([Stat(0.0, 1.0, n), Stat(0.0, 1.0, n)], [1.0, -1.0])
    mde = min_detectable(design)
    assert power(mde, design) == pytest.approx(0.8, abs=1e-6)
    assert _rejection_rate(mde, n) == pytest.approx(0.8, abs=0.025)


def test_seeds_needed_is_the_fewest_runs_reaching_80_percent_power():
    design = Design.of([Stat(0.7, 0.02, 3), Stat(0.69, 0.02, 3)], [1.0, -1.0])
    n = seeds_needed(lambda k: power(0.01, design.with_seeds(k)) >= 0.8)
    assert power(0.01, design.with_seeds(n)) >= 0.8 > power(0.01, design.with_seeds(n - 1))
    assert 60 < n < 70  # normal approximation: 2 (1.96 + 0.84)^2 (0.02 / 0.01)^2 ~ 63
    assert seeds_needed(lambda k: power(1e-9, design.with_seeds(k)) >= 0.8) is None


def test_tost_power_and_narrowest_margin():
    design = Design.of([Stat(0.0, 1.0, 6), Stat(0.0, 1.0, 6)], [1.0, -1.0])
    margin = min_margin(design)
    assert tost_power(0.0, margin, design) == pytest.approx(0.8, abs=1e-6)
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.0, 1.0, (3000, 6)), rng.normal(0.0, 1.0, (3000, 6))
    lower = sps.ttest_ind(a + margin, b, axis=1, alternative="greater").pvalue
    upper = sps.ttest_ind(a - margin, b, axis=1, alternative="less").pvalue
    assert np.mean(np.maximum(lower, upper) < 0.05) == pytest.approx(0.8, abs=0.03)
