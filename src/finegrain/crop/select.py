"""Which box crops each image: detector boxes above a score threshold, GT boxes, or a counted fallback."""

from __future__ import annotations

import numpy as np


def select_boxes(boxes: np.ndarray, scores: np.ndarray, score_thr: float, fallback: str) -> tuple[np.ndarray, int]:
    """The crop box of each image and how many fell back.

    A box is used when its score reaches score_thr. Otherwise `fallback` decides: `full` gives a NaN row (the crop
    keeps the full image), `best` keeps the best box anyway (full image only when there is none). Returns
    ((n, 4) boxes with NaN rows for full-image crops, number of images below the threshold or without a box).
    """
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64)
    confident = ~np.isnan(scores) & (np.nan_to_num(scores, nan=-1.0) >= score_thr) & ~np.isnan(boxes).any(axis=1)
    if fallback == "full":
        boxes[~confident] = np.nan
    elif fallback != "best":
        raise ValueError(f"fallback: expected full or best (got {fallback!r})")
    return boxes, int((~confident).sum())


def prefer_gt(gt: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """GT boxes where an image has one, else the predicted (or NaN) row."""
    has_gt = ~np.isnan(gt).any(axis=1)
    return np.where(has_gt[:, None], gt, predicted)


def full_frame_boxes(n: int, width: int, height: int) -> np.ndarray:
    """n boxes covering the whole image (mode `none`)."""
    return np.tile(np.array([0.0, 0.0, float(width), float(height)]), (n, 1))
