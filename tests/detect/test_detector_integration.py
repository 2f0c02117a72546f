"""The tiny mmdet detector trained on synthetic scenes for a short schedule crops far better than random boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from detect_fixtures import synthetic_prepared

from finegrain.crop.config import CropCfg
from finegrain.crop.run import run_crop
from finegrain.data.shards import open_split
from finegrain.detect.checkpoint import CONFIG_FILE, WEIGHTS_FILE

pytestmark = pytest.mark.slow

SCHEDULE = {
    "iters": 150,
    "max_time_s": 0,  # iteration-bound: the same detector however busy the machine is
    "batch_size": 8,
    "warmup_iters": 20,
    # 64 px scenes hold 14-32 px objects: anchors of 16-25 px at stride 8 instead of 32-50
    "cfg_options": {"model.bbox_head.anchor_generator.octave_base_scale": 2},
}
MIN_MEAN_IOU = 0.55
"""Measured 0.68 / 0.66 / 0.69 with detector seeds 0 / 1 / 2 (random boxes 0.08-0.13, full image 0.14)."""


def test_tiny_detector_crops_far_better_than_random(tmp_path):
    prepared = synthetic_prepared(tmp_path / "prepared", train=30, val=2, test=10, size_px=64)
    cfg = CropCfg(mode="mmdet", size_px=32, detector=SCHEDULE)
    report = run_crop(cfg, prepared, tmp_path / "box", tmp_path / "square", tmp_path / "det")
    print(json.dumps(report, indent=1))
    test = report["detector_eval"]["test"]
    assert test["images"] == 60 and report["detector"]["iters"] == 150
    assert test["mean_iou"] >= MIN_MEAN_IOU
    assert test["mean_iou"] >= test["random_box_iou"] + 0.35 and test["mean_iou"] > test["full_image_iou"] + 0.3
    assert sum(report["fallback"].values()) == report["box"]["fallback"] == report["square"]["fallback"]
    assert report["fallback"]["train"] == 0  # train crops use the GT boxes
    assert (tmp_path / "det" / CONFIG_FILE).is_file() and (tmp_path / "det" / WEIGHTS_FILE).is_file()
    # the box crops of the test split keep the GT box mapped into the crop: mostly covering it
    crops = open_split(tmp_path / "box", "test").boxes()
    covered = (crops[:, 2] - crops[:, 0]) * (crops[:, 3] - crops[:, 1]) / 32**2
    assert np.nanmedian(covered) > 0.5
