"""kNN monitor for self-supervised training: classify val embeddings by their nearest training embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def embed(backbone: nn.Module, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """L2-normalised (N, D) embeddings of float images (N, 3, H, W); the backbone is put in eval mode and back."""
    was_training = backbone.training
    backbone.eval()
    out = torch.cat([backbone(images[i : i + batch]) for i in range(0, len(images), batch)])
    backbone.train(was_training)
    return F.normalize(out.flatten(1), dim=1)


def knn_predict(
    query: torch.Tensor, bank: torch.Tensor, bank_labels: torch.Tensor, num_classes: int, k: int, temperature: float
) -> torch.Tensor:
    """(N,) labels by weighted kNN (Wu et al. 2018, as lightly.utils.benchmarking.knn_predict, which is not imported
    because that package pulls in pytorch_lightning): each of the k most cosine-similar bank items votes for its label
    with weight exp(similarity / temperature). Embeddings must be L2-normalised."""
    sim, idx = (query @ bank.T).topk(min(k, len(bank)), dim=1)
    votes = torch.zeros(len(query), num_classes, device=query.device)
    votes.scatter_add_(1, bank_labels[idx], (sim / temperature).exp())
    return votes.argmax(1)


def knn_accuracy(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.1,
) -> float:
    """Top-1 accuracy of `knn_predict` for the query embeddings against the bank."""
    pred = knn_predict(query, bank, bank_labels, num_classes, k, temperature)
    return float((pred == query_labels).float().mean())
