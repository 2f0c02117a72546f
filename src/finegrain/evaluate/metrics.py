"""Metrics of a trained classifier: test top-1/top-5, macro-F1, per-class accuracy, confusion; curve roughness and
convergence speed."""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from finegrain.data.prefetch import Ahead
from finegrain.engine.progress import progress


def predict(
    model: torch.nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    layout: torch.memory_format = torch.contiguous_format,
    tta: str = "none",
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(logits, labels, images per second of the forward passes), the model in `layout` for the pass (then back to
    contiguous) and the next batches loaded in a background thread (evaluation transforms draw nothing). `tta` flip
    averages each image's logits with those of its horizontal mirror (the time counts both passes)."""
    model.eval().to(device, memory_format=layout)  # outside inference mode: the weights stay normal tensors
    logits, labels, seconds = [], [], 0.0
    batches = Ahead(DataLoader(dataset, batch_size=batch_size))
    batches.go()
    try:
        with torch.inference_mode():
            total = math.ceil(len(dataset) / batch_size)
            for images, target in progress(batches, "predict", unit="batch", total=total):
                t0 = time.perf_counter()
                images = images.to(device).contiguous(memory_format=layout)
                out = model(images)
                if tta == "flip":
                    out = (out + model(images.flip(-1))) / 2
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds += time.perf_counter() - t0
                logits.append(out.float().cpu())
                labels.append(target)
    finally:
        batches.close()
        model.to(memory_format=torch.contiguous_format)
    logits_t, labels_t = torch.cat(logits), torch.cat(labels)
    return logits_t, labels_t, len(labels_t) / max(seconds, 1e-9)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Quality metrics (fractions in [0, 1]) plus the confusion matrix (rows = true class).

    A class with no test image has no accuracy: NaN in per_class_acc (torchmetrics would report 0.0).
    """
    top_k = min(5, num_classes)
    per_class = multiclass_accuracy(logits, labels, num_classes, average=None)
    per_class[torch.bincount(labels, minlength=num_classes) == 0] = float("nan")
    return {
        "top1": float(multiclass_accuracy(logits, labels, num_classes, average="micro")),
        f"top{top_k}": float(multiclass_accuracy(logits, labels, num_classes, average="micro", top_k=top_k)),
        "macro_f1": float(multiclass_f1_score(logits, labels, num_classes, average="macro")),
        "per_class_acc": per_class.tolist(),
        "confusion": multiclass_confusion_matrix(logits, labels, num_classes).numpy(),
    }


def majority_share(labels: np.ndarray, num_classes: int) -> float:
    """Accuracy of always predicting the most frequent class: the floor a model must beat to have learned anything."""
    return float(np.bincount(np.asarray(labels), minlength=num_classes).max() / max(len(labels), 1))


def curve_roughness(values) -> float:
    """Jaggedness of a per-epoch curve: mean over t of |v[t+1] - 2 v[t] + v[t-1]| (0 for a line or < 3 points)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(np.abs(np.diff(arr, n=2)).mean()) if len(arr) >= 3 else 0.0


def epochs_to_reach(values, fraction: float = 0.95) -> int:
    """Epochs trained until a per-epoch accuracy curve first reaches `fraction` of its own best (1 = the first
    epoch): how fast a run converges, on its own scale (lower = faster), e.g. epochs to 95% of the best val accuracy."""
    arr = np.asarray(values, dtype=np.float64)
    if not len(arr):
        raise ValueError("epochs_to_reach: an empty curve")
    return int(np.flatnonzero(arr >= fraction * arr.max())[0]) + 1


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


@torch.inference_mode()
def embeddings(
    model: torch.nn.Module, dataset: Dataset, device: torch.device, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalised head embeddings, labels) of a model with an EmbeddingHead."""
    from finegrain.losses.triplet import head_embedding

    model.eval().to(device)
    out, labels = [], []
    for images, target in progress(DataLoader(dataset, batch_size=batch_size), "embed", unit="batch"):
        model(images.to(device))
        out.append(head_embedding(model).float().cpu())
        labels.append(target)
    return torch.cat(out), torch.cat(labels)
