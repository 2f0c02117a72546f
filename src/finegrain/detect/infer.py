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
    score threshold. Boxes are in the input image's pixel coordinates.
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
        for i, result in enumerate(model.test_step(pseudo_collate(items)), start=lo):
            pred = result.pred_instances
            keep = torch.ones_like(pred.scores, dtype=torch.bool)
            if keep_classes is not None:
                keep = torch.isin(pred.labels, torch.tensor(keep_classes, device=pred.labels.device))
            if keep.any():
                best = int(torch.argmax(torch.where(keep, pred.scores, -1.0)))
                boxes[i] = pred.bboxes[best].cpu().numpy()
                scores[i] = float(pred.scores[best])
    return boxes, scores, (time.perf_counter() - start) / max(n, 1)
