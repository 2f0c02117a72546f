"""Score threshold and fallback counting, GT preference for train crops, and the IoU metrics."""

from __future__ import annotations

import numpy as np
import pytest

from finegrain.crop.crops import crop_dataset
from finegrain.crop.select import full_frame_boxes, prefer_gt, select_boxes
from finegrain.data.shards import ShardWriter, box_columns, open_split, write_dataset
from finegrain.detect.metrics import box_iou, box_report, random_boxes

NAN4 = [np.nan] * 4
BOXES = np.array([[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 6.0, 6.0], NAN4, [0.0, 0.0, 3.0, 3.0]])
SCORES = np.array([0.9, 0.1, np.nan, 0.3])


def test_full_fallback_counts_and_blanks_unsure_boxes():
    chosen, fallbacks = select_boxes(BOXES, SCORES, 0.3, "full")
    assert fallbacks == 2  # one below the threshold, one without any box; 0.3 itself reaches it
    assert np.isnan(chosen[[1, 2]]).all() and np.array_equal(chosen[[0, 3]], BOXES[[0, 3]])


def test_best_fallback_keeps_low_score_boxes_but_counts_them():
    chosen, fallbacks = select_boxes(BOXES, SCORES, 0.3, "best")
    assert fallbacks == 2
    assert np.array_equal(chosen[1], BOXES[1]) and np.isnan(chosen[2]).all()


def test_unknown_fallback_is_an_error():
    with pytest.raises(ValueError, match="fallback"):
        select_boxes(BOXES, SCORES, 0.3, "skip")


def test_prefer_gt_and_full_frame():
    gt = np.array([[0.0, 0.0, 1.0, 1.0], NAN4])
    pred = np.array([[5.0, 5.0, 6.0, 6.0], [7.0, 7.0, 8.0, 8.0]])
    assert np.array_equal(prefer_gt(gt, pred), [[0, 0, 1, 1], [7, 7, 8, 8]])
    assert np.array_equal(full_frame_boxes(2, 30, 20), [[0, 0, 30, 20]] * 2)


def test_crop_dataset_counts_fallbacks_and_keeps_full_frame(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    writer = ShardWriter(tmp_path, "test", 32, 8)
    for i, image in enumerate(images):
        row = {"id": f"i{i}", "label": 0, "class_name": "a", "orig_w": 32, "orig_h": 32, "generated": False}
        writer.add(image, {**row, **box_columns((4.0, 4.0, 20.0, 20.0))})
    writer.flush()
    write_dataset(tmp_path, writer.rows, {"dataset": "t", "class_names": ["a"], "size_px": 32})
    chosen, fallbacks = select_boxes(BOXES[:3], SCORES[:3], 0.5, "full")
    counts = crop_dataset(tmp_path, tmp_path / "out", "square", 0.1, 32, {"test": chosen})
    assert fallbacks == 2 and counts == {"cropped": 1, "fallback": 2}
    out = open_split(tmp_path / "out", "test")
    np.testing.assert_array_equal(out.image(2), images[2])  # full frame at the same size: unchanged pixels


def test_box_iou_and_report():
    a = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0], NAN4])
    b = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 1.0, 1.0]])
    assert box_iou(a, b) == pytest.approx([1.0, 1 / 3, 0.0])
    report = box_report(a, b, 20, 20)
    assert report["images"] == 3 and report["mean_iou"] == pytest.approx((1 + 1 / 3) / 3, abs=1e-4)
    assert report["iou_at_least_0.5"] == pytest.approx(1 / 3, abs=1e-4)
    r = random_boxes(1000, 20, 10, seed=1)
    assert (r[:, 0] <= r[:, 2]).all() and r[:, 2].max() <= 20 and r[:, 3].max() <= 10
