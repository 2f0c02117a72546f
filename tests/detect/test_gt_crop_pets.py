"""GT mode end to end on an oxford_pets-format fixture: official layout -> reader -> prepare -> crop stage code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
from dataset_fixtures import build, extract_layout  # noqa: E402

from finegrain.crop.config import CropCfg  # noqa: E402
from finegrain.crop.crops import crop_image  # noqa: E402
from finegrain.crop.geometry import square_box  # noqa: E402
from finegrain.crop.run import run_crop  # noqa: E402
from finegrain.data.official import oxford_pets  # noqa: E402
from finegrain.data.prepare import prepare_dataset  # noqa: E402
from finegrain.data.shards import open_split  # noqa: E402


@pytest.fixture
def pets_prepared(tmp_path) -> Path:
    root = extract_layout(build("oxford_pets"), tmp_path / "layout")
    raw = oxford_pets.read_layout(root, seed=0, val_fraction=0.25)
    prepare_dataset(raw, tmp_path / "prepared", size_px=20, max_bad_fraction=0.0, workers=1)
    return tmp_path / "prepared"


def test_gt_mode_crops_boxed_pets_and_counts_the_rest(pets_prepared, tmp_path):
    cfg = CropCfg(mode="gt", margin=0.2, size_px=16)
    report = run_crop(cfg, pets_prepared, tmp_path / "box", tmp_path / "square", tmp_path / "detector")
    # 3 breeds x 6 images: head boxes for images 1-3 (trainval) only; 4 (trainval) and 5-6 (test) have none
    assert report["box"] == {"cropped": 9, "fallback": 9} and report["square"] == report["box"]
    assert json.loads((tmp_path / "detector" / "detector.json").read_text())["mode"] == "gt"
    for split in ("train", "val", "test"):
        src, box_out, square_out = (
            open_split(d, split) for d in (pets_prepared, tmp_path / "box", tmp_path / "square")
        )
        assert list(box_out.index["id"]) == list(src.index["id"]) and list(box_out.labels) == list(src.labels)
        for i, gt in enumerate(src.boxes()):
            if np.isnan(gt).any():
                np.testing.assert_array_equal(box_out.image(i), crop_image(src.image(i), (0, 0, 20, 20), 16))
                assert np.isnan(box_out.boxes()[i]).all()
                continue
            np.testing.assert_array_equal(box_out.image(i), crop_image(src.image(i), tuple(gt), 16))
            assert box_out.boxes()[i] == pytest.approx([0, 0, 16, 16])
            square = square_box(tuple(gt), 0.2, 20, 20)
            np.testing.assert_array_equal(square_out.image(i), crop_image(src.image(i), square, 16))


def test_none_mode_keeps_every_full_frame(pets_prepared, tmp_path):
    report = run_crop(CropCfg(mode="none", size_px=20), pets_prepared, tmp_path / "b", tmp_path / "s", tmp_path / "d")
    assert report["box"] == {"cropped": 18, "fallback": 0}
    src, out = open_split(pets_prepared, "test"), open_split(tmp_path / "b", "test")
    np.testing.assert_array_equal(out.image(0), src.image(0))
