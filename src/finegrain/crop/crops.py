"""Crop every image of a shard dataset to its box (ground truth here; detector boxes plug in the same way)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from finegrain.atomic import atomic_dir
from finegrain.crop.geometry import pixel_box, square_box
from finegrain.data.catalog import SPLITS
from finegrain.data.shards import ShardWriter, box_columns, open_split, read_meta, write_dataset

log = logging.getLogger(__name__)


def crop_image(image: np.ndarray, box: tuple[float, float, float, float], size_px: int) -> np.ndarray:
    """Crop `box` (pixels) out of an HxWx3 uint8 image and resize it to size_px x size_px."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = pixel_box(box, w, h)
    patch = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    return np.asarray(patch.resize((size_px, size_px), Image.BILINEAR), dtype=np.uint8)


CROP_SOURCE = "the crop boxes' median short side"
"""What a crop's `source_short_side_px` measures (finegrain.data.resolution): the boxes in the original images'
pixels, so a crop.size_px above it stores upsampled crops."""


def crop_dataset(
    src: Path,
    dst: Path,
    shape: str,
    margin: float,
    size_px: int,
    boxes: dict[str, np.ndarray] | None = None,
    checks: dict[str, dict] | None = None,
) -> dict:
    """Write a cropped copy of `src` to `dst` (same format); images without a box keep the full frame.

    shape: `box` (the box itself) or `square` (see geometry.square_box). `boxes` overrides the index boxes
    per split (e.g. detector predictions; NaN rows keep the full frame). The index keeps each image's GT box, mapped
    into the crop (clipped; none when it lies outside). `checks` (finegrain.checks) go to meta.json with the crops.
    Returns counts of cropped images and full-frame fallbacks.
    """
    meta = read_meta(src)
    counts = {"cropped": 0, "fallback": 0}
    pixel = min(1.0, meta.get("source_short_side_px", meta["size_px"]) / meta["size_px"])  # source px per stored px
    short_sides = []
    index = pd.read_parquet(src / "index.parquet")
    with atomic_dir(dst) as tmp:
        rows = []
        for split in SPLITS:
            if not (index["split"] == split).any():
                continue
            part = open_split(src, split)
            gt_boxes = part.boxes()
            split_boxes = boxes[split] if boxes and split in boxes else gt_boxes
            writer = ShardWriter(tmp, split, size_px, 4096)
            for i in range(len(part)):
                image, box, gt = part.image(i), split_boxes[i], gt_boxes[i]
                h, w = image.shape[:2]
                if np.isnan(box).any():
                    counts["fallback"] += 1
                    crop_box = (0.0, 0.0, float(w), float(h))
                else:
                    counts["cropped"] += 1
                    crop_box = tuple(float(v) for v in box)
                    if shape == "square":
                        crop_box = square_box(crop_box, margin, w, h)
                short_sides.append(pixel * min(crop_box[2] - crop_box[0], crop_box[3] - crop_box[1]))
                kept = _box_in_crop(tuple(float(v) for v in gt), crop_box, size_px) if not np.isnan(gt).any() else None
                row = part.index.iloc[i]
                writer.add(
                    crop_image(image, crop_box, size_px),
                    {
                        "id": row["id"],
                        "label": int(row["label"]),
                        "class_name": row["class_name"],
                        "orig_w": int(row["orig_w"]),
                        "orig_h": int(row["orig_h"]),
                        "generated": bool(row["generated"]),
                        **box_columns(kept),
                    },
                )
            writer.flush()
            rows.extend(writer.rows)
        write_dataset(
            tmp,
            rows,
            {
                **{k: meta[k] for k in ("dataset", "class_names")},
                "size_px": size_px,
                "source_short_side_px": max(1, round(float(np.median(short_sides)))) if short_sides else size_px,
                "source_what": CROP_SOURCE,
                "crop": {"shape": shape, "margin": margin, **counts},
                "checks": {**meta.get("checks", {}), **(checks or {})},
            },
        )
    if counts["fallback"]:
        log.warning("%d image(s) had no box and were kept whole", counts["fallback"])
    source_px = read_meta(dst)["source_short_side_px"]
    if source_px < size_px:  # said, not warned (as prepare): a variant trained above source_px warns
        log.info(
            "crop.size_px (%d) is above %s (%d px): %s holds crops upsampled %.3gx per side; a variant whose "
            "image_size_px is above %d trains on upsampled pixels (it warns)",
            size_px, CROP_SOURCE, source_px, dst, size_px / source_px, source_px,
        )  # fmt: skip
    return counts


def _box_in_crop(box, crop_box, size_px):
    """The object's box in the resized crop's coordinates, clipped; None when it lies outside the crop."""
    cx0, cy0, cx1, cy1 = crop_box
    sx, sy = size_px / (cx1 - cx0), size_px / (cy1 - cy0)
    out = (
        max(0.0, (box[0] - cx0) * sx),
        max(0.0, (box[1] - cy0) * sy),
        min(float(size_px), (box[2] - cx0) * sx),
        min(float(size_px), (box[3] - cy0) * sy),
    )
    return out if out[2] > out[0] and out[3] > out[1] else None
