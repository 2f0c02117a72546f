"""The claims engine on synthetic runs with known effects: Welch CIs, verdicts, series, timing and scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from finegrain.errors import ConfigError
from finegrain.evaluate.metrics import curve_roughness, majority_share
from finegrain.params import Params, load_params
from finegrain.report.claims import (
    CONTRADICTED,
    INCONCLUSIVE,
    OURS_LARGER,
    OURS_SMALLER,
    REPRODUCED,
    SAME_SIZE,
    SIZE_UNDECIDED,
    adjust,
    judge,
    judge_series,
    size_margin,
)
from finegrain.report.claims_report import claims_frame, claims_json, claims_markdown, judge_claims
from finegrain.report.config import ClaimCfg, ReportCfg, family_size
from finegrain.report.contrasts import Design, Stat, holm_levels, pool, power, tost_power, welch_contrast
from finegrain.report.summary import verdict_rows


def stat(values) -> Stat:
    values = np.asarray(values, dtype=float)
    return Stat(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values))


def runs(rng, mean: float, sd: float, n: int = 4) -> np.ndarray:
    return rng.normal(mean, sd, n)


def pair(expect: str, **kw) -> ClaimCfg:
    return ClaimCfg(text="t", a="a", b="b", expect=expect, **kw)


def test_welch_interval_matches_scipy_welch_t_test():
    rng = np.random.default_rng(0)
    a, b = runs(rng, 0.8, 0.02, 5), runs(rng, 0.7, 0.05, 3)
    ci = welch_contrast([stat(a), stat(b)], [1.0, -1.0])
    ref = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert ci.estimate == pytest.approx(a.mean() - b.mean())
    assert (ci.lo, ci.hi) == pytest.approx((ref.low, ref.high))


def test_pooled_stat_equals_stat_of_all_runs():
    rng = np.random.default_rng(1)
    parts = [runs(rng, m, 0.03, n) for m, n in ((0.5, 2), (0.6, 3), (0.7, 1))]
    pooled = pool([stat(p) for p in parts])
    whole = stat(np.concatenate(parts))
    assert (pooled.mean, pooled.std, pooled.n) == pytest.approx((whole.mean, whole.std, whole.n))


@pytest.mark.parametrize(
    ("effect", "expect", "verdict"),
    [
        (0.1, "greater", REPRODUCED),
        (-0.1, "greater", CONTRADICTED),
        (-0.1, "less", REPRODUCED),
        (0.1, "less", CONTRADICTED),
        (0.0, "greater", INCONCLUSIVE),
    ],
)
def test_pairwise_verdict_follows_the_effect(effect, expect, verdict):
    rng = np.random.default_rng(2)
    a, b = runs(rng, 0.7 + effect, 0.01), runs(rng, 0.7, 0.01)
    a = a - a.mean() + 0.7 + effect  # exact means: the zero effect stays zero
    b = b - b.mean() + 0.7
    assert judge(pair(expect), {"a": stat(a), "b": stat(b)}).verdict == verdict


def test_noise_alone_is_rarely_judged_either_way():
    """Same distribution on both sides: the 95% CI excludes 0 in about 5% of experiments."""
    rng = np.random.default_rng(3)
    decided = sum(
        judge(pair("greater"), {"a": stat(runs(rng, 0.7, 0.05, 3)), "b": stat(runs(rng, 0.7, 0.05, 3))}).verdict
        != INCONCLUSIVE
        for _ in range(600)
    )
    assert 0.02 < decided / 600 < 0.09


def test_one_run_per_side_has_no_interval():
    verdict = judge(pair("greater"), {"a": Stat(0.9, 0.0, 1), "b": Stat(0.1, 0.0, 1)})
    assert verdict.verdict == INCONCLUSIVE and "fewer than 2 runs" in verdict.reason


def test_equivalence_within_margin():
    rng = np.random.default_rng(4)
    base = runs(rng, 0.8, 0.005, 5)
    close, far = base + 0.002, base - 0.1
    claim = pair("equal", margin=0.02)
    assert judge(claim, {"a": stat(close), "b": stat(base)}).verdict == REPRODUCED
    assert judge(claim, {"a": stat(far), "b": stat(base)}).verdict == CONTRADICTED
    noisy = runs(rng, 0.8, 0.05, 2)
    assert judge(claim, {"a": stat(noisy), "b": stat(base)}).verdict == INCONCLUSIVE


X = [20, 50, 100, 200, 500, 1020]


def series(curve, rng, sd=0.005, n=3) -> list[Stat]:
    return [stat(runs(rng, curve(x), sd, n)) for x in X]


def series_claim(expect="rising_diminishing") -> ClaimCfg:
    return ClaimCfg(text="s", series=[f"n{x}" for x in X], x=X, expect=expect)


@pytest.mark.parametrize(
    ("curve", "verdict"),
    [
        (lambda x: 0.9 - 0.6 * np.exp(-x / 250), REPRODUCED),  # saturating: rising, shrinking increments
        (lambda x: 0.3 + 0.5 * (x / 1020) ** 2, CONTRADICTED),  # accelerating: increments grow
        (lambda x: 0.9 - 0.0004 * x, CONTRADICTED),  # falling
        (lambda x: 0.5 + 0.0 * x, INCONCLUSIVE),  # flat, with noise
    ],
)
def test_series_diminishing_returns(curve, verdict):
    rng = np.random.default_rng(5)
    assert judge_series(series_claim(), series(curve, rng, sd=0.01)).verdict == verdict


def test_linear_growth_is_rising_but_not_diminishing():
    rng = np.random.default_rng(6)
    points = series(lambda x: 0.3 + 0.0005 * x, rng, sd=0.003)
    assert judge_series(series_claim("rising"), points).verdict == REPRODUCED
    diminishing = judge_series(series_claim(), points)
    assert diminishing.verdict == INCONCLUSIVE
    assert diminishing.intervals["concavity"].lo < 0 < diminishing.intervals["concavity"].hi


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ({"text": "t", "a": "a", "expect": "greater"}, "b: 'greater' claims need variants a and b"),
        ({"text": "t", "a": "a", "b": "b", "expect": "equal"}, "margin: 'equal' claims need margin > 0"),
        ({"text": "t", "series": ["a", "b"], "x": [1], "expect": "rising"}, "x: a series claim needs"),
        ({"text": "t", "series": ["a", "b"], "x": [2, 1], "expect": "rising"}, "x: must increase"),
        ({"text": "t", "a": "a", "b": "zz", "expect": "less"}, "report: claims[0] ('t') names no variant 'zz'"),
        ({"text": "t", "a": "a", "b": "b", "expect": "less", "metric": "loss"}, "report.claims.0.metric"),
    ],
)
def test_bad_claims_fail_in_one_line(tmp_path, claim, message):
    params = {"variants": {v: {"data": "prepared", "init": "none"} for v in "ab"}, "report": {"claims": [claim]}}
    path = tmp_path / "params.yaml"
    path.write_text(json.dumps(params))
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def _write_metrics(
    root, name, top1, machine="m1", seeds=3, epoch_s=1.0, roughness=(0.1, 0.1, 0.1), majority=None, f1=None
):
    quality = {"test": {"top1": float(np.mean(top1)), "top1_std": float(np.std(top1, ddof=1))}, "seeds": seeds}
    if majority is not None:
        quality["test"]["majority_top1"] = majority
    if f1 is not None:
        quality["test"] |= {"macro_f1": float(np.mean(f1)), "macro_f1_std": float(np.std(f1, ddof=1))}
    quality["curve"] = {  # as evaluate writes it: mean and std over the seeds' curves
        "val_loss_roughness": float(np.mean(roughness)),
        "val_loss_roughness_std": float(np.std(roughness, ddof=1)),
    }
    perf = {"epoch_time_s": epoch_s, "epoch_time_s_std": 0.01, "device": "cpu", "machine": machine}
    metrics_dir, perf_dir, _ = _dirs(root)
    for folder, record in ((metrics_dir, quality), (perf_dir, perf)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.json").write_text(json.dumps(record))


def _dirs(root):
    """(metrics/variants, data/perf/variants, data/models) under root: a variant's quality, timings, train summary."""
    return root / "metrics" / "variants", root / "data" / "perf" / "variants", root / "data" / "models"


def test_judge_claims_reads_metrics_states_scale_and_refuses_cross_machine_timings(tmp_path):
    _write_metrics(tmp_path, "se", [0.80, 0.81, 0.79], machine="m1", epoch_s=1.0)
    _write_metrics(tmp_path, "base", [0.70, 0.71, 0.69], machine="m2", epoch_s=2.0)
    seeds = {"seeds": [0, 1, 2], "epochs": 5, "image_size_px": 64}
    params = Params(
        train=seeds,
        variants={v: {"data": "prepared", "init": "none"} for v in ("se", "base")},
        report={
            "scale": "cpu",
            "claims": [
                {"text": "SE is more accurate", "a": "se", "b": "base", "expect": "greater"},
                {"text": "SE trains faster", "a": "se", "b": "base", "expect": "less", "metric": "perf.epoch_time_s"},
                {"text": "GPU only", "a": "se", "b": "base", "expect": "greater", "scales": ["full"]},
            ],
        },
    )
    accuracy, timing = judge_claims(params, *_dirs(tmp_path))  # the full-scale claim is skipped
    assert accuracy.verdict == REPRODUCED
    assert accuracy.scale == "cpu, 5 epochs, 64 px, 3 seeds, synthetic"
    assert timing.verdict == INCONCLUSIVE and "not from one machine" in timing.reason
    _write_metrics(tmp_path, "base", [0.70, 0.71, 0.69], machine="m1", epoch_s=2.0)
    assert judge_claims(params, *_dirs(tmp_path))[1].verdict == REPRODUCED


def test_val_loss_roughness_of_hand_made_curves():
    assert curve_roughness([1.0, 0.9, 0.8, 0.7, 0.6]) == pytest.approx(0.0)  # a straight line: no jaggedness
    assert curve_roughness([0.5] * 6) == 0.0
    assert curve_roughness([1.0, 0.4]) == 0.0  # fewer than 3 epochs: no second difference
    zigzag = [1.0, 0.8, 0.9, 0.6, 0.7]  # second differences +0.3, -0.4, +0.4
    assert curve_roughness(zigzag) == pytest.approx(1.1 / 3)
    assert curve_roughness(np.array(zigzag) + 5.0) == pytest.approx(1.1 / 3)  # the level does not count
    smooth = np.exp(-np.arange(8) / 3)
    assert 0 < curve_roughness(smooth) < curve_roughness(smooth + [0, 0.05, 0, 0.05, 0, 0.05, 0, 0.05])


def test_judge_claims_on_val_loss_roughness(tmp_path):
    """bs64's seeds have smoother val-loss curves than bs32's: `less` on curve.val_loss_roughness is reproduced."""
    smooth = [1.0, 0.7, 0.55, 0.47, 0.43, 0.41]
    jagged = [1.0, 0.6, 0.75, 0.45, 0.55, 0.4]
    rough64 = [curve_roughness(np.array(smooth) + d) for d in (0.0, 0.01, -0.01)]
    rough32 = [curve_roughness(np.array(jagged) * s) for s in (1.0, 1.1, 0.9)]
    _write_metrics(tmp_path, "bs64", [0.70, 0.71, 0.69], roughness=rough64)
    _write_metrics(tmp_path, "bs32", [0.72, 0.73, 0.71], roughness=rough32)
    claim = {"text": "bs64 smoother", "a": "bs64", "b": "bs32", "expect": "less", "metric": "curve.val_loss_roughness"}
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants={v: {"data": "prepared", "init": "none"} for v in ("bs64", "bs32")},
        report={"claims": [claim, {**claim, "expect": "greater"}]},
    )
    less, greater = judge_claims(params, *_dirs(tmp_path))
    assert less.verdict == REPRODUCED and greater.verdict == CONTRADICTED
    assert less.intervals["a-b"].estimate == pytest.approx(np.mean(rough64) - np.mean(rough32))
    assert less.sides["bs64"].endswith("(n=3)")


def test_majority_share_is_the_accuracy_of_always_guessing_the_most_frequent_class():
    labels = np.array([2, 0, 2, 1, 2, 2, 0, 1])
    assert majority_share(labels, 4) == 0.5  # class 2 is 4 of 8; class 3 never occurs
    assert majority_share(np.arange(6), 6) == pytest.approx(1 / 6)


def test_claims_between_models_that_learned_nothing_are_inconclusive(tmp_path):
    """Preset B's ECA = SE came out 'reproduced' with both models at the majority class (24.5%): now inconclusive."""
    _write_metrics(tmp_path, "eca", [0.245, 0.245, 0.245], majority=0.245, f1=[0.079, 0.079, 0.078])
    _write_metrics(tmp_path, "se", [0.245, 0.245, 0.250], majority=0.245, f1=[0.079, 0.079, 0.080])
    _write_metrics(tmp_path, "cnn", [0.60, 0.62, 0.61], majority=0.245, f1=[0.55, 0.57, 0.56], epoch_s=0.5)
    equal = {"text": "ECA as accurate as SE", "a": "eca", "b": "se", "expect": "equal", "margin": 0.02}
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants={v: {"data": "prepared", "init": "none"} for v in ("eca", "se", "cnn")},
        report={
            "claims": [
                equal,
                {**equal, "text": "same macro-F1", "metric": "test.macro_f1"},
                {"text": "faster", "a": "cnn", "b": "se", "expect": "less", "metric": "perf.epoch_time_s"},
                {"text": "cnn beats the idle model", "a": "cnn", "b": "se", "expect": "greater"},
            ]
        },
    )
    top1, f1, timing, learned = judge_claims(params, *_dirs(tmp_path))
    for v in (top1, f1):
        assert v.verdict == INCONCLUSIVE and "majority-class baseline (test top-1 <= 0.245" in v.reason
    assert timing.verdict == REPRODUCED  # timings do not depend on what was learned
    assert learned.verdict == REPRODUCED  # one side learned: the comparison means something
    for name in ("eca", "se"):  # the same accuracies, 4.5 points above a balanced test split's floor
        _write_metrics(tmp_path, name, [0.245, 0.245, 0.247], majority=0.20, f1=[0.2, 0.2, 0.2])
    assert judge_claims(params, *_dirs(tmp_path))[0].verdict == REPRODUCED


def _write_checks(root, name, **works):
    """data/models/<name>/summary.json with the technique checks train copies from the variant's data and init."""
    checks = {t: {"technique": t, "works": ok, "figure": f"{t} figure"} for t, ok in works.items()}
    (root / "data" / "models" / name).mkdir(parents=True, exist_ok=True)
    (root / "data" / "models" / name / "summary.json").write_text(json.dumps({"checks": checks}))


def test_claims_resting_on_a_technique_that_did_not_work_say_so(tmp_path):
    """SimCLR init vs scratch, with SimCLR below its random init, is not a comparison of SimCLR: inconclusive."""
    for name, top1 in (("simclr", [0.70, 0.71, 0.72]), ("crop", [0.60, 0.61, 0.62]), ("full", [0.40, 0.41, 0.42])):
        _write_metrics(tmp_path, name, top1, majority=0.2)
    _write_checks(tmp_path, "simclr", detector=True, simclr=False)
    _write_checks(tmp_path, "crop", detector=True)
    _write_checks(tmp_path, "full")
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants={v: {"data": "prepared", "init": "none"} for v in ("simclr", "crop", "full")},
        report={
            "claims": [
                {"text": "SimCLR init beats scratch", "a": "simclr", "b": "crop", "expect": "greater"},
                {"text": "crops beat full frames", "a": "crop", "b": "full", "expect": "greater"},
            ]
        },
    )
    ssl, crops = judge_claims(params, *_dirs(tmp_path))
    assert ssl.verdict == INCONCLUSIVE and ssl.reason == "rests on what did not work here: simclr: simclr figure"
    assert crops.verdict == REPRODUCED  # rests on the detector, which worked (both sides share nothing else)
    _write_checks(tmp_path, "crop", detector=False)
    _write_checks(tmp_path, "simclr", detector=False, simclr=True)  # shared by both sides: not what is compared
    ssl, crops = judge_claims(params, *_dirs(tmp_path))
    assert ssl.verdict == REPRODUCED
    assert crops.verdict == INCONCLUSIVE and "detector: detector figure" in crops.reason


def fixed(mean: float, sd: float, n: int = 3) -> Stat:
    return Stat(mean, sd, n)


@pytest.mark.parametrize(
    ("expect", "ours", "report", "size"),
    [
        ("greater", (0.80, 0.70), {"a": 0.81, "b": 0.71}, SAME_SIZE),  # 90% CI ~[+0.091, +0.109] in +0.10 ± 0.025
        ("greater", (0.80, 0.70), {"a": 0.90, "b": 0.70}, OURS_SMALLER),  # band [+0.15, +0.25]
        ("greater", (0.80, 0.70), {"a": 0.75, "b": 0.70}, OURS_LARGER),  # band [+0.03, +0.07] (2-point floor)
        ("greater", (0.80, 0.70), {"a": 0.70, "b": 0.72}, OURS_LARGER),  # the report's own sign reversed
        ("less", (0.70, 0.80), {"a": 0.60, "b": 0.80}, OURS_SMALLER),  # -0.20 ± 0.05: further along "less"
        ("less", (0.70, 0.80), {"a": 0.78, "b": 0.80}, OURS_LARGER),  # -0.02 ± 0.02
        ("equal", (0.80, 0.80), {"a": 0.8352, "b": 0.8329}, SAME_SIZE),  # +0.0023 ± 0.02
        ("equal", (0.80, 0.80), {"a": 0.9070, "b": 0.9239}, SIZE_UNDECIDED),  # band [-0.037, +0.003] cuts our CI
    ],
)
def test_size_by_equivalence_to_the_reports_effect(expect, ours, report, size):
    claim = pair(expect, margin=0.02, report=report)
    v = judge(claim, {"a": fixed(ours[0], 0.005), "b": fixed(ours[1], 0.005)})
    assert v.size == size and v.size_text.startswith(size)
    assert v.report_difference == pytest.approx(report["a"] - report["b"])
    assert (v.size_p < 0.05) == (size == SAME_SIZE)  # the TOST p against the band agrees with the label


def test_a_wide_interval_leaves_the_size_undecided():
    """3 noisy seeds a side: the report's +0.12 lies inside our 95% CI (the old rule: 'same size'), but the 90% CI is
    far wider than the band +0.12 ± 0.03, so the size is undecided; tight seeds at the same means decide it."""
    claim = pair("greater", report={"a": 0.82, "b": 0.70})
    wide = judge(claim, {"a": fixed(0.80, 0.05), "b": fixed(0.70, 0.05)})
    ci = wide.intervals["a-b"]
    assert ci.lo < 0.12 < ci.hi
    assert wide.size == SIZE_UNDECIDED
    tight = judge(claim, {"a": fixed(0.80, 0.004, 10), "b": fixed(0.70, 0.004, 10)})
    assert tight.size == SAME_SIZE


def test_size_margin_per_claim():
    """A claim's own size_margin replaces the default: the same runs are the same size within ±0.025, undecided
    within ±0.005 (our 90% CI is ±~0.009), and can never be the same size with margin 0."""
    ours = {"a": fixed(0.80, 0.005), "b": fixed(0.70, 0.005)}
    report = {"a": 0.80, "b": 0.70}
    assert judge(pair("greater", report=report), ours).size == SAME_SIZE
    assert judge(pair("greater", report=report, size_margin=0.005), ours).size == SIZE_UNDECIDED
    exact = {"a": Stat(0.8, 0.0, 3), "b": Stat(0.7, 0.0, 3)}
    assert judge(pair("greater", report=report, size_margin=0.0), exact).size == SIZE_UNDECIDED
    with pytest.raises(ValueError, match="size_margin"):
        pair("greater", report=report, size_margin=-0.1)


def test_a_small_reported_ratio_is_not_the_same_size_as_a_large_one():
    """A's bottleneck time ×1.019 (9.459 vs 9.279 s): ours ×1.20 with tight seeds is 'ours larger' (a margin of a
    quarter of the log ratio, at least ×1.1; a flat ×1.25 band would have called it the same size), ours ×1.03 is the
    same size."""
    claim = pair("greater", metric="perf.epoch_time_s", compare="ratio", report={"a": 9.459, "b": 9.279})
    assert size_margin(claim, math.log(9.459 / 9.279)) == pytest.approx(math.log(1.1))
    b = fixed(10.0, 0.05, 5)
    assert judge(claim, {"a": fixed(12.0, 0.06, 5), "b": b}).size == OURS_LARGER
    assert judge(claim, {"a": fixed(10.3, 0.05, 5), "b": b}).size == SAME_SIZE
    big = claim.model_copy(update={"report": {"a": 20.0, "b": 10.0}})  # ×2: a quarter of log 2 is above ×1.1
    assert size_margin(big, math.log(2.0)) == pytest.approx(0.25 * math.log(2.0))


def test_an_equal_claims_size_margin_is_at_least_its_own_margin():
    """'About half the time' (B's frozen EfficientNet, target ×0.5 within ×0.8-×1.25): the report's value is the
    target, and its size band is the claim's own (ours ×0.58 of b is the same size, as it is equal)."""
    claim = pair("equal", metric="perf.epoch_time_s", compare="ratio", target=0.5, margin=0.223,
                 report={"a": 0.5, "b": 1.0})  # fmt: skip
    assert size_margin(claim, 0.0) == pytest.approx(0.223)
    v = judge(claim, {"a": fixed(5.8, 0.03, 5), "b": fixed(10.0, 0.05, 5)})
    assert v.verdict == REPRODUCED and v.size == SAME_SIZE
    jump = pair("equal", metric="curve.phase2_first_val_acc", metric_b="curve.phase1_last_val_acc", target=0.15,
                margin=0.05, report={"a": 0.15, "b": 0.0})  # fmt: skip
    assert size_margin(jump, 0.0) == pytest.approx(0.05)  # a val accuracy: the 2-point floor, below its margin
    gap = pair("less", metric="curve.train_val_gap", report={"a": 0.10, "b": 0.11})
    assert size_margin(gap, -0.01) == pytest.approx(0.02)  # the gap is in accuracy points: the floor applies


def test_no_size_verdict_without_report_values():
    v = judge(pair("greater"), {"a": fixed(0.8, 0.005), "b": fixed(0.7, 0.005)})
    assert v.size == "" and v.report_difference is None and v.report_text == ""
    adjust([v])
    assert v.combined == "reproduced in sign (the report prints no size)"


def test_series_size_is_the_reports_rise():
    rng = np.random.default_rng(9)
    curve = lambda x: 0.9 - 0.6 * np.exp(-x / 250)  # noqa: E731
    points = series(curve, rng, sd=0.005)
    rise = curve(X[-1]) - curve(X[0])  # about +0.54: margin a quarter of it
    for report_rise, size in ((rise, SAME_SIZE), (rise + 0.3, OURS_SMALLER), (rise - 0.3, OURS_LARGER)):
        report = {f"n{x}": 0.3 for x in X} | {f"n{X[-1]}": 0.3 + report_rise}
        claim = ClaimCfg(text="s", series=[f"n{x}" for x in X], x=X, expect="rising_diminishing", report=report)
        v = judge_series(claim, points)
        assert v.size == size and v.report_difference == pytest.approx(report_rise)
        assert v.report_text == f"0.3 → {0.3 + report_rise:.4g}: rise {report_rise:+.4g}"


@pytest.mark.parametrize(
    ("ours", "size", "combined"),
    [
        ((0.80, 0.005), SAME_SIZE, "reproduced in sign and size"),
        ((0.80, 0.05), SIZE_UNDECIDED, "reproduced in sign, size undecided"),
        ((0.95, 0.005), OURS_LARGER, "reproduced in sign, size different (ours larger than the report's)"),
        ((0.60, 0.005), CONTRADICTED, "contradicted"),
        ((0.72, 0.05), INCONCLUSIVE, "inconclusive"),
    ],
)
def test_one_combined_verdict_per_claim(ours, size, combined):
    """The report's +0.10 (0.80 vs 0.70): sign and size are both needed for 'reproduced in sign and size'."""
    claim = pair("greater", report={"a": 0.80, "b": 0.70})
    b = fixed(0.70, ours[1], 6) if ours[1] > 0.01 else fixed(0.70, 0.005)
    (v,) = adjust([judge(claim, {"a": fixed(ours[0], ours[1], b.n), "b": b})])
    assert v.combined == combined
    if size not in (CONTRADICTED, INCONCLUSIVE):
        assert v.size == size


def test_a_combined_verdict_follows_the_holm_adjusted_direction():
    """Raw reproduced (p ~0.001) and same size, but Holm over a family of 100 makes the direction inconclusive: so
    is the combined verdict; in a family of 10 it stands."""
    claim = pair("greater", report={"a": 0.75, "b": 0.70})
    v = judge(claim, {"a": fixed(0.75, 0.012, 4), "b": fixed(0.70, 0.012, 4)})
    assert v.verdict == REPRODUCED and v.size == SAME_SIZE
    adjust([v], family=100)
    assert (v.adjusted, v.combined, v.family) == (INCONCLUSIVE, INCONCLUSIVE, 100)
    assert v.p_holm == pytest.approx(100 * v.p)
    adjust([v], family=10)
    assert v.combined == "reproduced in sign and size"


def test_the_reports_values_are_shown_for_a_one_run_claim():
    s1 = Stat(0.8, 0.0, 1)
    claim = pair("greater", report={"a": 0.879, "b": 0.836}, report_source="table 1")
    (v,) = adjust([judge(claim, {"a": Stat(0.85, 0.0, 1), "b": Stat(0.80, 0.0, 1)})])
    assert v.verdict == INCONCLUSIVE and v.report_text == "0.879 vs 0.836: +0.043"
    assert v.report_difference == pytest.approx(0.043)
    assert v.size == SIZE_UNDECIDED and "not judged (fewer than 2 runs" in v.size_text
    assert v.ours_text == "0.85 vs 0.8: no CI (fewer than 2 runs)"
    row = verdict_rows([v])[0]
    assert row["report: a vs b: effect"] == "0.879 vs 0.836: +0.043" and row["verdict"] == INCONCLUSIVE
    assert list(row)[0] == "verdict" and list(row)[-1] == "claim"  # the long text last: verdicts stay in view
    on_val = verdict_rows(adjust([judge(pair("greater", split="val", metric="val.top1"), {"a": s1, "b": s1})]))[0]
    assert on_val["claim"] == "t (val split)"  # the first screen names the report's split too
    frame = claims_frame([v]).iloc[0]
    assert frame["report: a vs b: effect"] == "0.879 vs 0.836: +0.043" and frame["size vs report"] == v.size_text
    record = claims_json([v])[0]
    assert record["report"] == {"a": 0.879, "b": 0.836} and record["report_difference"] == pytest.approx(0.043)


def ratio(expect="greater", **kw) -> ClaimCfg:
    return pair(expect, compare="ratio", metric="perf.epoch_time_s", **kw)


def test_ratio_claims_are_judged_on_the_log_ratio_of_means():
    """'about double': ResNet34 2.0 s vs ResNet18 1.0 s an epoch."""
    a, b = fixed(2.0, 0.05, 4), fixed(1.0, 0.03, 4)
    v = judge(ratio(report={"a": 40.0, "b": 20.5}), {"a": a, "b": b})
    ci = v.intervals["log(a/b)"]
    assert v.verdict == REPRODUCED and ci.estimate == pytest.approx(math.log(2.0))
    assert ci.lo < math.log(2.0) < ci.hi and v.size == SAME_SIZE
    assert v.difference.startswith("×2 [×1.9")
    assert v.report_text == "40 vs 20.5: ×1.95" and v.report_difference == pytest.approx(math.log(40 / 20.5))
    assert judge(ratio(report={"a": 3.0, "b": 1.0}), {"a": a, "b": b}).size == OURS_SMALLER  # ×2 vs ×3 ± a quarter
    assert judge(ratio(report={"a": 1.2, "b": 1.0}), {"a": a, "b": b}).size == OURS_LARGER
    # the band is a quarter of the log ratio: our ×2 [90% CI ×1.93-×2.08] is inside ×1.85's (×1.59-×2.15), cut by
    # ×1.75's (×1.52-×2.01), wholly above ×1.5's (×1.36-×1.66)
    assert judge(ratio(report={"a": 1.85, "b": 1.0}), {"a": a, "b": b}).size == SAME_SIZE
    assert judge(ratio(report={"a": 1.75, "b": 1.0}), {"a": a, "b": b}).size == SIZE_UNDECIDED
    assert judge(ratio(report={"a": 1.5, "b": 1.0}), {"a": a, "b": b}).size == OURS_LARGER
    noisy = judge(ratio(report={"a": 2.0, "b": 1.0}), {"a": fixed(2.0, 0.8, 3), "b": fixed(1.0, 0.4, 3)})
    assert noisy.verdict == INCONCLUSIVE and noisy.size == SIZE_UNDECIDED  # ×2 exactly, but nothing decided
    assert judge(ratio("less"), {"a": a, "b": b}).verdict == CONTRADICTED
    same = ratio("equal", margin=math.log(1.1))  # within ±10%
    assert judge(same, {"a": fixed(1.02, 0.01, 4), "b": b}).verdict == REPRODUCED
    assert judge(same, {"a": a, "b": b}).verdict == CONTRADICTED
    assert judge(ratio(), {"a": fixed(0.0, 0.0, 3), "b": b}).reason == "a ratio needs positive means"


def test_equivalence_uses_the_90_percent_interval():
    """TOST: this difference's 90% CI lies inside ±0.02 while its 95% CI does not — reproduced now (inconclusive
    with the old 95% rule)."""
    a, b = fixed(0.805, 0.0075, 3), fixed(0.80, 0.0075, 3)
    v = judge(pair("equal", margin=0.02), {"a": a, "b": b})
    ci = v.intervals["a-b"]
    assert ci.hi > 0.02 > ci.at(0.90).hi and ci.at(0.90).lo > -0.02
    assert v.verdict == REPRODUCED and v.p < 0.05 and "(90%: [" in v.difference


def test_inconclusive_verdicts_say_what_these_runs_detect_and_the_seeds_a_decision_needs():
    a, b = fixed(0.71, 0.02, 3), fixed(0.70, 0.02, 3)
    v = judge(pair("greater"), {"a": a, "b": b})
    assert v.verdict == INCONCLUSIVE
    found = v.sensitivity["a-b"]
    design = Design.of([a, b], [1.0, -1.0])
    assert power(found["mde"], design) == pytest.approx(0.8, abs=1e-6)
    assert 0.05 < found["mde"] < 0.07  # (t_.975,4 + t_.8,4) * 0.02 * sqrt(2/3) is about 0.064
    n = found["seeds_needed"]
    assert power(0.01, design.with_seeds(n)) >= 0.8 > power(0.01, design.with_seeds(n - 1))
    assert f"needs {n} seeds per side" in v.sensitivity_text
    decided = judge(pair("greater"), {"a": fixed(0.8, 0.01), "b": b})
    assert decided.verdict == REPRODUCED and decided.sensitivity == {}
    equal = judge(pair("equal", margin=0.01), {"a": a, "b": b})
    assert equal.verdict == INCONCLUSIVE and "show equivalence within ±" in equal.sensitivity_text


def test_holm_turns_a_marginal_reproduced_claim_inconclusive(tmp_path):
    """Three claims of one run: a clear one, a marginal one (raw p ~0.04, Holm p ~0.08) and a null one."""
    _write_metrics(tmp_path, "big", [0.90, 0.91, 0.89])
    _write_metrics(tmp_path, "mid", [0.75, 0.77, 0.73])  # vs base: +0.05, t ~3.06, df 4, p ~0.037
    _write_metrics(tmp_path, "base", [0.70, 0.72, 0.68])
    _write_metrics(tmp_path, "same", [0.70, 0.73, 0.67])
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants={v: {"data": "prepared", "init": "none"} for v in ("big", "mid", "base", "same")},
        report={
            "claims": [
                {"text": "big beats base", "a": "big", "b": "base", "expect": "greater"},
                {"text": "mid beats base", "a": "mid", "b": "base", "expect": "greater"},
                {"text": "same beats base", "a": "same", "b": "base", "expect": "greater"},
            ]
        },
    )
    big, mid, same = judge_claims(params, *_dirs(tmp_path))
    ref = sps.ttest_ind([0.75, 0.77, 0.73], [0.70, 0.72, 0.68], equal_var=False).pvalue
    assert mid.p == pytest.approx(ref) and 0.025 < ref < 0.05
    assert (big.verdict, big.adjusted) == (REPRODUCED, REPRODUCED)
    assert (mid.verdict, mid.adjusted) == (REPRODUCED, INCONCLUSIVE)
    assert mid.p_holm == pytest.approx(2 * ref)  # second smallest of three: times 2
    assert mid.sensitivity["a-b"]["alpha"] == pytest.approx(0.05 / 2)  # seeds needed at its Holm level
    assert (same.verdict, same.adjusted) == (INCONCLUSIVE, INCONCLUSIVE)
    record = claims_json([big, mid, same])[1]
    assert (record["verdict"], record["verdict_holm"]) == (REPRODUCED, INCONCLUSIVE)
    assert record["p_holm"] == pytest.approx(2 * ref) and record["to_decide"]["a-b"]["seeds_needed"] > 3
    md = claims_markdown(claims_frame([big, mid, same]))
    assert "| reproduced | inconclusive (Holm p 0.075 of 3) |" in md
    assert md.splitlines()[2].startswith("| verdict | claim | report: a vs b: effect | ours: a vs b: effect")
    assert verdict_rows([mid])[0]["Holm p"] == "0.075 of 3"


def test_claims_forced_inconclusive_count_in_the_holm_family_with_p_1(tmp_path):
    _write_metrics(tmp_path, "a", [0.245, 0.245, 0.245], majority=0.245)
    _write_metrics(tmp_path, "b", [0.245, 0.245, 0.25], majority=0.245)
    _write_metrics(tmp_path, "c", [0.60, 0.62, 0.61], majority=0.245)
    params = Params(
        train={"seeds": [0, 1, 2]},
        variants={v: {"data": "prepared", "init": "none"} for v in "abc"},
        report={
            "claims": [
                {"text": "idle", "a": "a", "b": "b", "expect": "less", "report": {"a": 0.5, "b": 0.6}},
                {"text": "learned", "a": "c", "b": "b", "expect": "greater"},
            ]
        },
    )
    idle, learned = judge_claims(params, *_dirs(tmp_path))
    assert idle.p is None and idle.p_holm is None and idle.sensitivity == {} and idle.report_power == {}
    assert learned.p_holm == pytest.approx(2 * learned.p)  # a family of two: the forced claim counts with p 1
    assert (idle.family, learned.family) == (2, 2)
    assert idle.adjusted_text == "inconclusive (no test; counted in Holm's 2)"
    assert idle.report_text == "0.5 vs 0.6: -0.1" and idle.size == SIZE_UNDECIDED  # the report's values stay
    assert "not judged (every variant is at the majority-class baseline" in idle.size_text
    assert claims_frame([idle]).iloc[0]["report: a vs b: effect"] == "0.5 vs 0.6: -0.1"


def _d_like(scale: str = "cpu", datasets: tuple[str, ...] = ("cub200", "stanford_dogs")) -> ReportCfg:
    claim = {"a": "x", "b": "y", "expect": "greater"}
    return ReportCfg(
        scale=scale,
        datasets=list(datasets),
        claims=[
            {**claim, "text": "cub", "datasets": ["cub200"]},
            {**claim, "text": "dogs", "datasets": ["stanford_dogs"]},
            {**claim, "text": "both, gpu", "datasets": ["cub200", "stanford_dogs"], "scales": ["full"]},
            {**claim, "text": "any dataset"},
        ],
    )


def test_holm_family_spans_every_dataset_of_the_preset():
    """D's runs are one per dataset: each run's family holds the other dataset's claims too (a claim about every
    dataset counts once per dataset); a scale's claims count only at that scale."""
    assert family_size(_d_like(), "cub200") == family_size(_d_like(), "stanford_dogs") == 4  # cub, dogs, any x2
    assert family_size(_d_like("full"), "cub200") == 6
    assert family_size(_d_like(datasets=()), "cub200") == 2  # one dataset: this run's claims
    assert family_size(_d_like(), "oxford_pets") == 5  # a stand-in dataset adds its own run


def test_judge_claims_uses_the_presets_whole_family(tmp_path):
    """A run on cub200 of a preset with two datasets: two claims judged here, four in the family."""
    _write_metrics(tmp_path, "x", [0.75, 0.77, 0.73])
    _write_metrics(tmp_path, "y", [0.70, 0.72, 0.68])
    report = _d_like().model_dump()
    params = Params(
        train={"seeds": [0, 1, 2]},
        data={"dataset": "cub200", "source": "local", "root": str(tmp_path)},
        variants={v: {"data": "prepared", "init": "none"} for v in "xy"},
        report=report,
    )
    cub, anywhere = judge_claims(params, *_dirs(tmp_path))
    assert (cub.claim.text, anywhere.claim.text) == ("cub", "any dataset")
    assert cub.family == 4 and cub.p_holm == pytest.approx(min(1.0, 4 * cub.p))  # tied p: both ranked first
    assert cub.level == pytest.approx(0.05 / 4)


def test_power_line_is_for_the_reports_effect_at_the_holm_level():
    """Seeds per side that detect the report's +0.05 with 80% power at the claim's Holm level (not the observed
    +0.01's), from our runs' pooled std; equal claims: the seeds that show equivalence when the truth is the
    report's."""
    a, b = fixed(0.71, 0.02, 3), fixed(0.70, 0.02, 3)
    strong = judge(pair("greater"), {"a": fixed(0.90, 0.01), "b": b})
    claim = pair("greater", report={"a": 0.75, "b": 0.70})
    v = judge(claim, {"a": a, "b": b})
    adjust([strong, v], family=3)
    level = holm_levels([strong.p, v.p, 1.0])[1]
    assert v.level == pytest.approx(level) and level == pytest.approx(0.05 / 2)
    found = v.report_power["a-b"]
    design = Design.of([a, b], [1.0, -1.0])
    n = found["seeds_needed"]
    assert power(0.05, design.with_seeds(n), level) >= 0.8 > power(0.05, design.with_seeds(n - 1), level)
    assert n != v.sensitivity["a-b"]["seeds_needed"]  # the observed +0.01 needs far more
    assert found["power"] == pytest.approx(power(0.05, design, level))
    assert f"a-b: detecting the report's +0.05 needs {n} seeds per side (80% power, α 0.025 Holm)" in v.sensitivity_text
    equal = pair("equal", margin=0.03, report={"a": 0.71, "b": 0.70})
    (e,) = adjust([judge(equal, {"a": a, "b": b})])
    k = e.report_power["a-b"]["seeds_needed"]
    assert f"equivalence if the truth is the report's +0.01 needs {k} seeds per side" in e.sensitivity_text
    assert tost_power(0.01, 0.03, design.with_seeds(k), 0.05) >= 0.8 > tost_power(0.01, 0.03, design.with_seeds(k - 1))
    beyond = pair("equal", margin=0.03, report={"a": 0.75, "b": 0.70})
    (far,) = adjust([judge(beyond, {"a": a, "b": b})])
    assert far.report_power["a-b"]["seeds_needed"] is None
    assert "the report's +0.05 lies outside the margin: no number of seeds" in far.sensitivity_text


def test_a_claim_says_which_upstream_artefact_its_interval_leaves_out():
    from finegrain.report.claims_report import replication_note

    variants = {
        "full": {"data": "prepared", "init": "none"},
        "crop": {"data": "cropped", "init": "none"},
        "gen": {"data": "augmented", "init": "none"},
        "ssl": {"data": "prepared", "init": "simclr"},
    }
    params = Params(variants=variants, generate={"augment": {"method": "ddpm"}})
    assert replication_note(params, ["ssl", "full"]) == ""  # one SimCLR backbone per seed: inside the interval
    assert replication_note(params, ["crop", "full"]) == "; trained once, so outside the interval: one detector"
    assert replication_note(params, ["gen", "crop"]).endswith("one detector, one DDPM run")
    no_detector = Params(variants=variants, crop={"mode": "gt"})
    assert replication_note(no_detector, ["crop", "full"]) == ""
