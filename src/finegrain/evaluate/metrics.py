"""Metrics of a trained classifier: test top-1/top-5, macro-F1, per-class accuracy, confusion; curve roughness."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_confusion_matrix,
    multiclass_f1_score,
)

from finegrain.engine.progress import progress


@torch.inference_mode()
def predict(
    model: torch.nn.Module, dataset: Dataset, device: torch.device, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(logits, labels, images per second of the forward passes)."""
    model.eval().to(device)
    logits, labels, seconds = [], [], 0.0
    for images, target in progress(DataLoader(dataset, batch_size=batch_size), "predict", unit="batch"):
        t0 = time.perf_counter()
        out = model(images.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        logits.append(out.float().cpu())
        labels.append(target)
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


def knn_predict(
    query: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    k: int = 5,
    temperature: float | None = None,
    num_classes: int | None = None,
) -> torch.Tensor:
    """(N,) labels by a vote of each query's k most cosine-similar bank items (embeddings L2-normalised).

    Each neighbour votes for its label with weight exp(similarity / temperature) (Wu et al. 2018, as
    lightly.utils.benchmarking.knn_predict, not imported because that package pulls in pytorch_lightning), or with
    temperature None with its similarity (ties go to the nearest neighbour's class). `num_classes` defaults to the
    bank's largest label + 1.
    """
    sim, idx = (query @ bank.T).topk(min(k, len(bank)), dim=1)
    if temperature:
        weights = (sim / temperature).exp()
    else:
        weights = sim + 1e-6 * torch.linspace(1, 0, sim.shape[1], device=sim.device)
    votes = torch.zeros(len(query), num_classes or int(bank_labels.max()) + 1, device=query.device)
    votes.scatter_add_(1, bank_labels[idx], weights)
    return votes.argmax(1)


def knn_accuracy(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 5,
    temperature: float | None = None,
    num_classes: int | None = None,
) -> float:
    """Top-1 accuracy of `knn_predict` for the query embeddings against the bank (both L2-normalised here)."""
    bank, query = torch.nn.functional.normalize(bank, dim=1), torch.nn.functional.normalize(query, dim=1)
    pred = knn_predict(query, bank, bank_labels, k, temperature, num_classes)
    return float((pred == query_labels).float().mean())
