"""k-nearest-neighbour accuracy of embeddings: SimCLR's kNN monitor and evaluate's embedding quality."""

from __future__ import annotations

import torch


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
