"""Box quality: IoU of predicted vs ground-truth boxes, and chance baselines."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (n, 4) x0,y0,x1,y1 boxes; 0 where either row is NaN."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return np.nan_to_num(iou, nan=0.0)


def random_boxes(n: int, width: float, height: float, seed: int = 0) -> np.ndarray:
    """n boxes with uniformly random corners inside a width x height image (the chance baseline)."""
    rng = np.random.default_rng(seed)
    xs = np.sort(rng.uniform(0, width, (n, 2)), axis=1)
    ys = np.sort(rng.uniform(0, height, (n, 2)), axis=1)
    return np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], axis=1)


def box_report(pred: np.ndarray, gt: np.ndarray, width: float, height: float, seed: int = 0) -> dict:
    """Mean IoU of `pred` vs `gt` (rows with a GT box only; a missing prediction counts 0), share with IoU >= 0.5,
    and the same mean IoU for random boxes and for the full image."""
    has_gt = ~np.isnan(gt).any(axis=1)
    pred, gt = pred[has_gt], gt[has_gt]
    if not len(gt):
        return {"images": 0}
    iou = box_iou(pred, gt)
    full = np.tile([0.0, 0.0, float(width), float(height)], (len(gt), 1))
    return {
        "images": int(len(gt)),
        "mean_iou": round(float(iou.mean()), 4),
        "iou_std": round(float(iou.std(ddof=1)) if len(iou) > 1 else 0.0, 4),
        "iou_at_least_0.5": round(float((iou >= 0.5).mean()), 4),
        "random_box_iou": round(float(box_iou(random_boxes(len(gt), width, height, seed), gt).mean()), 4),
        "full_image_iou": round(float(box_iou(full, gt).mean()), 4),
    }
