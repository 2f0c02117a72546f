"""The crop stage: choose a box per image (none | gt | mmdet), write box and square crops, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from finegrain import checks
from finegrain.atomic import atomic_dir, write_json
from finegrain.crop.config import CropCfg
from finegrain.crop.crops import crop_dataset
from finegrain.crop.select import full_frame_boxes
from finegrain.data.shards import read_meta


def choose_boxes(cfg: CropCfg, src: Path, detector_dir: Path) -> tuple[dict[str, np.ndarray] | None, dict]:
    """Per-split crop boxes for cfg.mode (None = the GT boxes of the index) and the report's extra entries.

    detector_dir always ends up existing (a DVC output): the trained detector in mmdet mode, else a note.
    """
    if cfg.mode == "mmdet":
        from finegrain.detect.run import detect_boxes  # imports mmdet: only in this mode

        return detect_boxes(cfg, src, detector_dir)
    with atomic_dir(detector_dir) as tmp:
        write_json(tmp / "detector.json", {"config": None, "trained": False, "mode": cfg.mode})
    if cfg.mode == "gt":
        return None, {}
    size = int(read_meta(src)["size_px"])
    index = pd.read_parquet(src / "index.parquet", columns=["split"])
    return {s: full_frame_boxes(int(n), size, size) for s, n in index["split"].value_counts().items()}, {}


def run_crop(cfg: CropCfg, src: Path, box_dir: Path, square_dir: Path, detector_dir: Path) -> dict:
    """Write box crops to box_dir and square crops to square_dir; return the stage's metrics."""
    boxes, extra = choose_boxes(cfg, src, detector_dir)
    report: dict = {"mode": cfg.mode, **extra}
    found = box_check(cfg.mode, extra)
    checks = {found.technique: found.to_dict()} if found else {}
    for shape, out in (("box", box_dir), ("square", square_dir)):
        report[shape] = crop_dataset(src, out, shape, cfg.margin, cfg.size_px, boxes, checks)
    if found:
        report["check"] = found.to_dict()
    return report


def box_check(mode: str, report: dict) -> checks.Check | None:
    """Whether the crops' boxes find the object: the detector's test IoU (mmdet), or given (gt); none: no boxes."""
    if mode == "gt":
        return checks.Check("detector", True, "ground-truth boxes")
    test = report.get("detector_eval", {}).get("test", {})
    if mode != "mmdet" or not test.get("images"):
        return None  # no boxes, or no test boxes to judge them by
    return checks.detector(test["mean_iou"], test.get("iou_std", 0.0), test["images"], test["full_image_iou"])
