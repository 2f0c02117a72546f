"""A detector trained 2 iterations, saved as a plain dict, reloads with init_detector and predicts the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from detect_fixtures import synthetic_prepared

from finegrain.crop.config import DetectorCfg
from finegrain.data.shards import open_split
from finegrain.detect.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_detector
from finegrain.detect.infer import class_ids, top_boxes
from finegrain.detect.run import fit_detector

pytestmark = pytest.mark.slow

ANY_SCORE = {"model.test_cfg.score_thr": 0.0}
"""After 2 iterations every score is still near RetinaNet's 0.01 prior, below the default 0.05 cut."""


def test_save_reload_same_predictions(tmp_path):
    prepared = synthetic_prepared(tmp_path / "prepared", 2, 1, 1, 64)
    train = open_split(prepared, "train")
    det = DetectorCfg(iters=2, max_time_s=0, batch_size=4, warmup_iters=1, labels="per_class", cfg_options=ANY_SCORE)
    model, stats = fit_detector(det, train, np.arange(len(train)), 64, "cpu", tmp_path / "det")
    assert stats["iters"] == 2 and not stats["time_bound"]
    saved = torch.load(tmp_path / "det" / WEIGHTS_FILE, weights_only=True)  # tensors and plain types only
    assert saved["meta"]["dataset_meta"]["classes"] == tuple(train.class_names)

    reloaded = load_detector(tmp_path / "det" / CONFIG_FILE, str(tmp_path / "det" / WEIGHTS_FILE))
    assert tuple(reloaded.dataset_meta["classes"]) == tuple(train.class_names)
    assert class_ids(reloaded, ["dots"]) == [train.class_names.index("dots")]
    with pytest.raises(ValueError, match="no class 'bird'"):
        class_ids(reloaded, ["bird"])
    test = open_split(prepared, "test")
    indices = np.arange(len(test))
    before, before_scores, _ = top_boxes(model, test.image, indices, batch_size=4)
    after, after_scores, _ = top_boxes(reloaded, test.image, indices, batch_size=3)
    assert not np.isnan(before_scores).all()
    np.testing.assert_allclose(after, before, atol=1e-4)
    np.testing.assert_allclose(after_scores, before_scores, atol=1e-5)


def test_given_config_and_checkpoint_crop_with_target_classes(tmp_path):
    """Option (a): an existing detector (config + checkpoint, as a COCO one would be) keeps only the named classes."""
    from finegrain.crop.config import CropCfg
    from finegrain.crop.run import run_crop
    from finegrain.errors import ConfigError

    prepared = synthetic_prepared(tmp_path / "prepared", 2, 1, 1, 64)
    train = open_split(prepared, "train")
    det = DetectorCfg(iters=2, max_time_s=0, batch_size=4, warmup_iters=1, labels="per_class", cfg_options=ANY_SCORE)
    fit_detector(det, train, np.arange(len(train)), 64, "cpu", tmp_path / "det")
    given = {"train": False, "config": str(tmp_path / "det" / CONFIG_FILE)}
    given["checkpoint"] = str(tmp_path / "det" / WEIGHTS_FILE)
    cfg = CropCfg(mode="mmdet", size_px=32, score_thr=0.0, detector={**given, "classes": ["dots", "rings"]})
    report = run_crop(cfg, prepared, tmp_path / "box", tmp_path / "square", tmp_path / "used")
    assert report["detector"]["checkpoint"] == given["checkpoint"]
    assert report["detector_eval"]["test"]["images"] == 6 and report["box"]["cropped"] + report["box"]["fallback"] == 24
    with pytest.raises(ConfigError, match=r"^params.yaml: crop.detector.classes: detector has no class 'bird'"):
        run_crop(
            cfg.model_copy(update={"detector": DetectorCfg(**given, classes=["bird"])}),
            prepared,
            *(tmp_path / n for n in "xyz"),
        )
