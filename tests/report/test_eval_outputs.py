"""The tiny pipeline's evaluate: robustness metrics and curves, heatmaps, and their DVC plot definitions."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from conftest import dvc

from finegrain import paths

pytestmark = pytest.mark.slow


def test_every_variant_has_robustness_metrics_curves_and_heatmaps(tiny_project):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    for name in params["variants"]:
        quality = json.loads((tiny_project / paths.variant_metrics(name)).read_text())
        robust = quality["robust"]
        assert robust["images"] == params["evaluate"]["robust"]["images"]
        for attack in ("fgsm", "pgd"):
            curve = [robust[attack][k] for k in ("eps_0", "eps_1_255", "eps_2_255", "eps_4_255", "eps_8_255")]
            assert curve == sorted(curve, reverse=True) and 0 <= curve[-1] <= curve[0] <= 1
            assert (tiny_project / "data" / "eval" / name / "robust" / f"{attack}.csv").is_file()
        assert robust["fgsm"]["eps_0"] == robust["pgd"]["eps_0"]
        explain = quality["explain"]
        assert explain["images"] == params["evaluate"]["explain"]["faithfulness_images"]
        assert {"cam_drop", "random_drop", "deletion_auc_cam", "deletion_auc_random"} <= set(explain)
        layers = explain["feature_sharpness"]  # per feature-map layer, shallowest first
        assert len(layers) >= 2 and all(v >= 0 for v in layers.values())
        first, *_, last = layers.values()
        assert (explain["feature_sharpness_first"], explain["feature_sharpness_last"]) == (first, last)
        depth = explain["feature_sharpness_depth"]  # the seeds' mean of log(last / first), so not log of the means
        assert math.isfinite(depth) and (quality["seeds"] > 1 or depth == pytest.approx(math.log(last / first), 1e-3))
        assert math.isfinite(explain["feature_sharpness_depth_untrained"])  # the control: the untrained architecture
        assert -1 <= quality["curve"]["train_val_gap"] <= 1
        epochs = params["variants"][name].get("epochs", params["train"]["epochs"])
        assert 1 <= quality["curve"]["epochs_to_95"] <= epochs
        for png in ("cam.png", "feature_maps.png"):
            assert (tiny_project / "data" / "eval" / name / "explain" / png).stat().st_size > 5000
        perf = json.loads((tiny_project / paths.variant_perf(name)).read_text())
        assert perf["robust_time_s"] > 0 and perf["explain_time_s"] > 0


def test_dvc_plots_show_renders_robustness_curves_and_heatmaps(tiny_project):
    plots = json.loads(dvc(tiny_project, "plots", "show", "--json").stdout)["data"]
    assert "data/eval/cnn/robust/fgsm.csv" in plots and "data/eval/cnn/robust/pgd.csv" in plots
    assert "data/eval/cnn/explain/cam.png" in plots
    spec = plots["data/eval/cnn/robust/pgd.csv"][0]["content"]
    assert spec["encoding"]["x"]["field"] == "eps_255" and spec["encoding"]["y"]["field"] == "accuracy"
