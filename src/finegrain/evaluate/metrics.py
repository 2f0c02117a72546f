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
from finegrain.train.compute import FP32, Compute


def predict(
    model: torch.nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    compute: Compute = FP32,
    tta: str = "none",
    workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(logits, labels, images per second of the forward passes): the model in `compute`'s layout (then back to
    contiguous) and autocast, the next batches loaded in a background thread (evaluation transforms draw nothing;
    on CUDA by `workers` processes into pinned memory). The logits stay on the device until the end: no sync per
    batch. `tta` flip averages each image's logits with those of its horizontal mirror (the time counts both)."""
    model.eval().to(device)  # outside inference mode: the weights stay normal tensors
    logits, labels = [], []
    timer = ForwardTimer(device)
    batches = Ahead(DataLoader(dataset, batch_size=batch_size, **loader_options(device, workers)))
    batches.go()
    try:
        with compute.inference(model, device) as net, torch.inference_mode():
            total = math.ceil(len(dataset) / batch_size)
            for images, target in progress(batches, "predict", unit="batch", total=total):
                images = images.to(device, non_blocking=True)
                with timer:
                    out = net(images).float()
                    if tta == "flip":
                        out = (out + net(images.flip(-1)).float()) / 2
                logits.append(out)
                labels.append(target)
    finally:
        batches.close()
    logits_t, labels_t = torch.cat(logits).cpu(), torch.cat(labels)
    return logits_t, labels_t, len(labels_t) / max(timer.seconds(), 1e-9)


def loader_options(device: torch.device, workers: int) -> dict:
    """DataLoader options of an evaluation pass: on CUDA `workers` processes and pinned memory (the one device
    check), on the CPU the loading stays in the main process (the background thread of `Ahead` overlaps it)."""
    if device.type == "cuda":  # CUDA-only branch
        return {"num_workers": workers, "pin_memory": True, "persistent_workers": False}
    return {}


class ForwardTimer:
    """Seconds inside `with timer:` blocks. On CUDA timed by CUDA events, read once in `seconds()` (no sync per
    block: the one device check); elsewhere by the wall clock."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"  # CUDA-only branch
        self.events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self.total = 0.0

    def __enter__(self) -> ForwardTimer:
        if self.cuda:
            self.events.append((torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)))
            self.events[-1][0].record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.events[-1][1].record()
        else:
            self.total += time.perf_counter() - self.t0

    def seconds(self) -> float:
        if self.events:
            torch.cuda.synchronize()
            self.total += sum(start.elapsed_time(end) for start, end in self.events) / 1000
            self.events = []
        return self.total


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


def train_val_gap(train_acc, val_acc) -> float:
    """The last epoch's train minus val accuracy: how much a run overfits (lower = less)."""
    return float(np.asarray(train_acc, dtype=np.float64)[-1] - np.asarray(val_acc, dtype=np.float64)[-1])


def phase_boundary(val_acc, phase1_epochs: int) -> dict[str, float]:
    """A two-phase run's val accuracy at the last epoch of phase 1 and the first of phase 2 ({} when it has none)."""
    arr = np.asarray(val_acc, dtype=np.float64)
    if phase1_epochs < 1 or len(arr) <= phase1_epochs:
        return {}
    return {"phase1_last_val_acc": float(arr[phase1_epochs - 1]), "phase2_first_val_acc": float(arr[phase1_epochs])}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


@torch.inference_mode()
def embeddings(
    model: torch.nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    compute: Compute = FP32,
    workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2-normalised head embeddings, labels) of a model with an EmbeddingHead, in `compute`'s autocast; read
    back once, at the end."""
    from finegrain.losses.triplet import head_embedding

    model.eval().to(device)
    out, labels = [], []
    loader = DataLoader(dataset, batch_size=batch_size, **loader_options(device, workers))
    for images, target in progress(loader, "embed", unit="batch"):
        with compute.autocast_context(device):
            model(images.to(device, non_blocking=True))
        out.append(head_embedding(model).float())
        labels.append(target)
    return torch.cat(out).cpu(), torch.cat(labels)
