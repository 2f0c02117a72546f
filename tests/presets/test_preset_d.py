"""Preset D: both datasets' claims and table rows, and its `full` detector (MMDetection, COCO-pretrained) offline."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from test_presets import PRESETS_DIR

from finegrain.params import load_params
from finegrain.presets.apply import compose, load_preset, next_command
from finegrain.report.config import family_size


@pytest.mark.parametrize("scale", ["full", "cpu"])
def test_d_judges_each_dataset_from_one_params(tmp_path, scale):
    """The params hold both datasets' claims; each run judges those of its data.dataset (one queue, two runs)."""
    preset = load_preset("D", PRESETS_DIR)
    assert preset["datasets"] == ["cub200", "stanford_dogs"]
    assert "data.dataset=cub200,stanford_dogs" in next_command(preset)
    for dataset in preset["datasets"]:
        path = tmp_path / f"{dataset}.yaml"
        path.write_text(yaml.safe_dump(compose("D", scale, [f"data.dataset={dataset}"], presets_dir=PRESETS_DIR)))
        params = load_params(path)
        judged = [c for c in params.report.claims if c.applies(scale, params.data.dataset)]
        assert all(c.report or c.note for c in judged)
        assert any("square crops" in c.text for c in judged)
        assert all(dataset in c.datasets for c in judged if c.report)  # report numbers are per dataset
        rows = [r for t in params.report.tables for r in t.rows if r.dataset == dataset]
        assert {r.label for r in rows} >= {"with Crop (" + ("bird)" if dataset == "cub200" else "dog)")}


@pytest.mark.parametrize("scale", ["full", "cpu"])
def test_d_holm_family_is_both_datasets_claims(tmp_path, scale):
    """Each dataset's run sees its own results only; Holm's family is the claims of both runs."""
    judged = []
    for dataset in ("cub200", "stanford_dogs"):
        path = tmp_path / f"{dataset}.yaml"
        path.write_text(yaml.safe_dump(compose("D", scale, [f"data.dataset={dataset}"], presets_dir=PRESETS_DIR)))
        params = load_params(path)
        assert params.report.datasets == ["cub200", "stanford_dogs"]
        judged.append(sum(c.applies(scale, dataset) for c in params.report.claims))
        family = family_size(params.report, dataset)
    assert family == sum(judged) > max(judged)


def test_d_crop_claims_follow_the_table():
    claims = {c["text"]: c for c in compose("D", "cpu", presets_dir=PRESETS_DIR)["report"]["claims"]}
    cub = claims["box crops change accuracy by less than 1 point (CUB)"]
    dogs = claims["box crops lower accuracy (Dogs)"]
    assert (cub["report"], dogs["report"]) == ({"a": 0.8352, "b": 0.8329}, {"a": 0.9070, "b": 0.9239})
    assert "slight decrease" in cub["note"]


@pytest.mark.slow
def test_d_full_detector_config_builds_and_detects_with_random_weights():
    """D's full-scale mmdet config (COCO Faster R-CNN) builds offline without its checkpoint, at a tiny input size."""
    from finegrain.detect.checkpoint import new_detector
    from finegrain.detect.infer import top_boxes
    from finegrain.detect.mmdet_config import build_config

    detector = compose("D", "full", presets_dir=PRESETS_DIR)["crop"]["detector"]
    assert detector["checkpoint"].startswith("https://download.openmmlab.com/") and detector["train"]
    cfg = build_config(detector["config"], ["object"], 64, detector["cfg_options"], train=True)
    model = new_detector(cfg, ["object"], "cpu")  # random weights: the checkpoint needs internet
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 80, 3), dtype=np.uint8) for _ in range(2)]
    boxes, scores, _ = top_boxes(model, images.__getitem__, [0, 1], batch_size=2)
    assert boxes.shape == (2, 4) and scores.shape == (2,)
