"""Square boxes at image borders, exact pixels of a known crop, and the GT box carried into the crop's index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from finegrain.crop.crops import CROP_SOURCE, crop_dataset, crop_image
from finegrain.crop.geometry import pixel_box, square_box
from finegrain.data.shards import ShardWriter, box_columns, open_split, write_dataset


@pytest.mark.parametrize(
    ("box", "margin", "size", "expected"),
    [
        ((40, 40, 60, 50), 0.0, (100, 100), (40, 35, 60, 55)),  # inside: centred square of the long side
        ((0, 40, 20, 60), 0.5, (100, 100), (0, 35, 30, 65)),  # left border: shifted right, still square
        ((90, 90, 100, 100), 1.0, (100, 100), (80, 80, 100, 100)),  # bottom-right corner: shifted up-left
        ((2, 3, 12, 8), 0.0, (100, 100), (2, 0.5, 12, 10.5)),  # top border: pushed down into the image
        ((0, 0, 50, 40), 0.5, (60, 40), (0, 0, 60, 40)),  # larger than the image: clipped to it
    ],
)
def test_square_box_at_borders(box, margin, size, expected):
    out = square_box(box, margin, *size)
    assert out == pytest.approx(expected)
    assert 0 <= out[0] < out[2] <= size[0] and 0 <= out[1] < out[3] <= size[1]


def test_pixel_box_covers_fractional_box_inside_image():
    assert pixel_box((-3.2, 0.5, 10.1, 200.0), 50, 40) == (0, 0, 11, 40)
    assert pixel_box((5.0, 5.0, 5.0, 5.0), 50, 40) == (5, 5, 6, 6)  # at least one pixel


def test_crop_of_known_box_gives_exact_pixels():
    image = np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_image(image, (10, 20, 42, 52), 32), image[20:52, 10:42])


def _dataset(root, images, boxes):
    writer = ShardWriter(root, "train", images.shape[1], 16)
    for i, (image, box) in enumerate(zip(images, boxes, strict=True)):
        row = {"id": f"i{i}", "label": 0, "class_name": "a", "orig_w": 48, "orig_h": 48, "generated": False}
        writer.add(image, {**row, **box_columns(box)})
    writer.flush()
    write_dataset(root, writer.rows, {"dataset": "t", "class_names": ["a"], "size_px": images.shape[1]})


def test_crop_dataset_writes_exact_pixels_and_maps_gt_box(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (2, 48, 48, 3), dtype=np.uint8)
    (tmp_path / "src").mkdir()
    _dataset(tmp_path / "src", images, [(8.0, 4.0, 24.0, 20.0), None])
    counts = crop_dataset(tmp_path / "src", tmp_path / "box", "box", 0.0, 16)
    assert counts == {"cropped": 1, "fallback": 1}
    out = open_split(tmp_path / "box", "train")
    np.testing.assert_array_equal(out.image(0), images[0, 4:20, 8:24])
    assert out.boxes()[0] == pytest.approx([0, 0, 16, 16]) and np.isnan(out.boxes()[1]).all()
    # a predicted box overrides the crop; the index keeps the GT box, mapped into the crop
    pred = {"train": np.array([[0.0, 0.0, 32.0, 32.0], [np.nan] * 4])}
    crop_dataset(tmp_path / "src", tmp_path / "pred", "box", 0.0, 16, pred)
    out = open_split(tmp_path / "pred", "train")
    assert out.boxes()[0] == pytest.approx([4, 2, 12, 10])


def test_crops_record_the_boxes_resolution_so_a_variant_above_it_is_said_to_upsample(tmp_path):
    """48 px stored images of 24 px originals (source_short_side_px 24): 16 px boxes hold 8 source pixels a side,
    so crops stored at 16 px are upsampled 2x, and a variant at 12 px reads above the crops' 8."""
    from finegrain.data.resolution import upsampling

    images = np.zeros((3, 48, 48, 3), dtype=np.uint8)
    (tmp_path / "src").mkdir()
    _dataset(tmp_path / "src", images, [(8.0, 4.0, 24.0, 20.0), (0.0, 0.0, 16.0, 40.0), (0.0, 0.0, 32.0, 48.0)])
    meta = json.loads((tmp_path / "src" / "meta.json").read_text())
    (tmp_path / "src" / "meta.json").write_text(json.dumps({**meta, "source_short_side_px": 24}))
    crop_dataset(tmp_path / "src", tmp_path / "box", "box", 0.0, 16)
    assert json.loads((tmp_path / "box" / "meta.json").read_text())["source_short_side_px"] == 8  # median of 8, 8, 16
    found = upsampling(tmp_path / "box", 12, "variants.v.image_size_px", "crop.size_px")
    assert found is not None and (found.stored_px, found.stored_key) == (8, CROP_SOURCE)
    assert found.message("train@v trains").endswith("lower variants.v.image_size_px unless that is the intent")
    assert upsampling(tmp_path / "box", 8, "variants.v.image_size_px", "crop.size_px") is None
