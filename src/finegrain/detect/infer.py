"""Batched inference: the highest-scoring box per image, with mmdet's own test pipeline and test_step."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.utils import get_test_pipeline_cfg
from mmengine.dataset import pseudo_collate


def test_pipeline_for_arrays(model: torch.nn.Module) -> Compose:
    """The model config's test pipeline, loading in-memory arrays (as inference_detector does for ndarrays)."""
    steps = copy.deepcopy(get_test_pipeline_cfg(model.cfg))
    steps[0] = dict(type="mmdet.LoadImageFromNDArray")
    return Compose(steps)


def class_ids(model: torch.nn.Module, names: Sequence[str]) -> list[int] | None:
    """Detector class ids of `names` (e.g. COCO 'bird'); None = every class. Unknown names raise ValueError."""
    if not names:
        return None
    classes = list(model.dataset_meta["classes"])
    missing = [n for n in names if n not in classes]
    if missing:
        raise ValueError(f"detector has no class {missing[0]!r}; it has {', '.join(classes[:12])}, ...")
    return [classes.index(n) for n in names]


@torch.no_grad()
def top_boxes(
    model: torch.nn.Module,
    image: Callable[[int], np.ndarray],
    indices: Sequence[int],
    batch_size: int = 16,
    keep_classes: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Best box of the RGB images `image(i)` for i in indices: ((n, 4) boxes, (n,) scores, seconds per image).

    Rows are NaN where the detector returned no box of `keep_classes` (None = any class) above its own test_cfg
    score threshold. Boxes are in the input image's pixel coordinates. Each batch of `batch_size` images is one
    test_step (as mmdet's inference_detector with a list), its best boxes chosen on the device and read back once.
    """
    pipeline = test_pipeline_for_arrays(model)
    n = len(indices)
    boxes = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    model.eval()
    start = time.perf_counter()
    for lo in range(0, n, batch_size):
        items = [
            pipeline(dict(img=np.ascontiguousarray(image(int(i))[:, :, ::-1]), img_id=int(i)))  # RGB -> BGR as loaded
            for i in indices[lo : lo + batch_size]
        ]
        rows = torch.stack([best_row(r.pred_instances, keep_classes) for r in model.test_step(pseudo_collate(items))])
        rows = rows.cpu().numpy()  # the batch's one read back
        scores[lo : lo + len(rows)], boxes[lo : lo + len(rows)] = rows[:, 0], rows[:, 1:]
    return boxes, scores, (time.perf_counter() - start) / max(n, 1)


def best_row(pred, keep_classes: list[int] | None) -> torch.Tensor:
    """(5,) float64 [score, x1, y1, x2, y2] of the highest-scoring box of `keep_classes` (None = any), NaN when there
    is none; computed on the device, without reading anything back."""
    scores, bboxes = pred.scores.double(), pred.bboxes.double()
    if len(scores) == 0:  # a shape: known without a sync
        return torch.full((5,), float("nan"), dtype=torch.float64, device=scores.device)
    if keep_classes is not None:
        keep = torch.isin(pred.labels, torch.tensor(keep_classes, device=pred.labels.device))
        scores = torch.where(keep, scores, torch.full_like(scores, -1.0))
    best = torch.argmax(scores)
    row = torch.cat([scores[best].reshape(1), bboxes[best]])
    return torch.where(scores[best] >= 0, row, torch.full_like(row, float("nan")))
