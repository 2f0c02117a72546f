"""Report C's 'converges faster' (epochs to 95% of the best val accuracy) and D's 'deeper layers are blurrier' (one
model's deepest vs shallowest feature-map layer: a claim whose sides compare two metrics) on known inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from finegrain.errors import ConfigError
from finegrain.evaluate.metrics import epochs_to_reach
from finegrain.params import Params, load_params
from finegrain.presets.apply import compose
from finegrain.report.claims import CONTRADICTED, REPRODUCED, judge
from finegrain.report.claims_report import claims_frame, claims_json, judge_claims
from finegrain.report.config import ClaimCfg
from finegrain.report.contrasts import Stat

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"

# val accuracy per epoch, report C tables 1-3 (ResNet18 bs32, ResNet18 bs64, ResNet34 bs32)
TABLE_1 = [0.844, 0.883, 0.881, 0.884, 0.914, 0.912, 0.895, 0.912, 0.914, 0.914,
           0.932, 0.895, 0.905, 0.909, 0.930, 0.907, 0.919, 0.921, 0.932, 0.911]  # fmt: skip
TABLE_2 = [0.805, 0.851, 0.870, 0.856, 0.858, 0.879, 0.893, 0.890, 0.891, 0.890,
           0.893, 0.904, 0.900, 0.888, 0.895, 0.893, 0.881, 0.898, 0.875, 0.895]  # fmt: skip
TABLE_3 = [0.865, 0.900, 0.879, 0.909, 0.923, 0.890, 0.911, 0.902, 0.893, 0.919,
           0.914, 0.916, 0.905, 0.905, 0.909, 0.925, 0.911, 0.914, 0.921, 0.916]  # fmt: skip


def test_epochs_to_95_of_hand_made_histories():
    assert epochs_to_reach([0.1, 0.5, 0.94, 0.95, 1.0], 0.95) == 4  # 0.95 of the best 1.0 first at epoch 4
    assert epochs_to_reach([0.9, 0.2, 0.3], 0.95) == 1  # the first epoch is the best
    assert epochs_to_reach([0.2, 0.4, 0.6, 0.8], 0.5) == 2  # half of 0.8 first reached by 0.4
    with pytest.raises(ValueError):
        epochs_to_reach([], 0.95)


def test_epochs_to_95_of_report_c_tables_match_preset_c():
    """The preset's report numbers are the tables' own: bs32 5, bs64 3, ResNet34 2 epochs."""
    assert [epochs_to_reach(t, 0.95) for t in (TABLE_1, TABLE_2, TABLE_3)] == [5, 3, 2]
    claims = {c["text"]: c for c in compose("C", "full", presets_dir=PRESETS_DIR)["report"]["claims"]}
    assert claims["batch 64 converges faster (fewer epochs to 95% of its best val accuracy) than batch 32"][
        "report"
    ] == {"a": 3, "b": 5}
    assert claims["ResNet34 converges faster (fewer epochs to 95% of its best val accuracy) than ResNet18"][
        "report"
    ] == {"a": 2, "b": 5}


def _write(root, name: str, seeds: int = 3, **groups: dict[str, list[float]]) -> None:
    """metrics/variants/<name>.json as evaluate writes it: per group, mean and std over the seeds' values."""
    quality = {"seeds": seeds, "test": {"top1": 0.8, "top1_std": 0.01, "majority_top1": 0.1}}
    for group, keys in groups.items():
        quality[group] = {}
        for key, values in keys.items():
            quality[group] |= {key: float(np.mean(values)), f"{key}_std": float(np.std(values, ddof=1))}
    (root / "metrics" / "variants").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "variants" / f"{name}.json").write_text(json.dumps(quality))


def _dirs(root):
    return root / "metrics" / "variants", root / "data" / "perf" / "variants", root / "data" / "models"


def _params(names: list[str], claims: list[dict]) -> Params:
    variants = {v: {"data": "prepared", "init": "none"} for v in names}
    return Params(train={"seeds": [0, 1, 2]}, variants=variants, report={"claims": claims})


def test_converges_faster_claim_on_epochs_to_95(tmp_path):
    _write(tmp_path, "bs64", curve={"epochs_to_95": [3, 2, 3]})
    _write(tmp_path, "bs32", curve={"epochs_to_95": [5, 6, 5]})
    claim = {"text": "bs64 converges faster", "a": "bs64", "b": "bs32", "expect": "less",
             "metric": "curve.epochs_to_95", "report": {"a": 3, "b": 5}, "report_source": "tables 1-2"}  # fmt: skip
    faster, slower = judge_claims(_params(["bs64", "bs32"], [claim, {**claim, "expect": "greater"}]), *_dirs(tmp_path))
    assert faster.verdict == REPRODUCED and slower.verdict == CONTRADICTED
    assert faster.intervals["a-b"].estimate == pytest.approx(8 / 3 - 16 / 3)
    assert faster.report_difference == -2 and faster.size  # the report's -2 epochs judged against our CI


def deeper_blurrier(**kw) -> dict:
    return {"text": "deeper layers are blurrier", "a": "m", "b": "m", "metric": "explain.feature_sharpness_last",
            "metric_b": "explain.feature_sharpness_first", "expect": "less", "note": "figure only", **kw}  # fmt: skip


def test_a_claim_comparing_two_metrics_of_one_variant(tmp_path):
    """Side a on the deepest layer's sharpness, side b on the shallowest's, of the same model's three seeds."""
    first, last = [0.020, 0.022, 0.019], [0.004, 0.005, 0.004]
    _write(tmp_path, "m", explain={"feature_sharpness_first": first, "feature_sharpness_last": last})
    blurrier, sharper = judge_claims(_params(["m"], [deeper_blurrier(), deeper_blurrier(expect="greater")]),
                                     *_dirs(tmp_path))  # fmt: skip
    assert blurrier.verdict == REPRODUCED and sharper.verdict == CONTRADICTED
    assert blurrier.intervals["a-b"].estimate == pytest.approx(np.mean(last) - np.mean(first))
    assert list(blurrier.sides) == ["m (explain.feature_sharpness_last)", "m (explain.feature_sharpness_first)"]
    row = claims_frame([blurrier]).iloc[0]
    assert row["metric"] == "a: explain.feature_sharpness_last; b: explain.feature_sharpness_first"
    assert claims_json([blurrier])[0]["metric_b"] == "explain.feature_sharpness_first"


def test_metric_b_needs_its_stats_and_is_for_pairwise_claims(tmp_path):
    claim = ClaimCfg(**deeper_blurrier())
    with pytest.raises(ValueError, match="side b is on explain.feature_sharpness_first"):
        judge(claim, {"m": Stat(0.004, 0.001, 3)})
    series = {"text": "s", "series": ["m", "n"], "x": [1, 2], "expect": "rising", "metric_b": "test.top1"}
    path = tmp_path / "params.yaml"
    path.write_text(json.dumps({"variants": {v: {"data": "prepared", "init": "none"} for v in "mn"},
                                "report": {"claims": [series]}}))  # fmt: skip
    with pytest.raises(ConfigError, match="metric_b: a series claim compares one metric"):
        load_params(path)
    with pytest.raises(ValueError, match="must both be timings or neither"):
        ClaimCfg(**deeper_blurrier(metric_b="perf.epoch_time_s"))
