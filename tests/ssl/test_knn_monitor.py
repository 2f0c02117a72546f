"""The kNN accuracy (SimCLR monitor and evaluate's embedding quality) on toy embeddings; `embed` keeps train mode."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from finegrain.evaluate.knn import knn_accuracy, knn_predict
from finegrain.ssl.simclr import embed


def _clusters(n_per: int, centres: torch.Tensor, noise: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centres)).repeat_interleave(n_per)
    points = centres[labels] + noise * torch.randn(len(labels), centres.shape[1], generator=g)
    return F.normalize(points, dim=1), labels


def test_knn_is_perfect_on_separable_embeddings():
    centres = torch.eye(4) * 5
    bank, bank_y = _clusters(10, centres, 0.1, 0)
    query, query_y = _clusters(5, centres, 0.1, 1)
    assert knn_accuracy(bank, bank_y, query, query_y, k=5, temperature=0.1, num_classes=4) == 1.0
    assert knn_accuracy(bank, bank_y, query, query_y, k=5) == 1.0


def test_knn_is_at_chance_without_structure_and_k_is_capped():
    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    query = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    acc = knn_accuracy(
        bank, torch.randint(0, 2, (200,), generator=g), query, torch.randint(0, 2, (200,), generator=g), 20, 0.1, 2
    )
    assert 0.3 < acc < 0.7
    tiny_bank, tiny_y = _clusters(1, torch.eye(3), 0.0, 0)
    assert (
        knn_accuracy(tiny_bank, tiny_y, tiny_bank, tiny_y, k=200, temperature=0.1, num_classes=3) == 1.0
    )  # k > bank size


def test_embed_restores_train_mode():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.BatchNorm1d(5))
    net.train()
    out = embed(net, torch.rand(7, 3, 2, 2), batch=3)
    assert out.shape == (7, 5) and net.training


def test_knn_predict_matches_lightly():
    from lightly.utils.benchmarking.knn import knn_predict as lightly_knn

    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(50, 8, generator=g), dim=1)
    labels = torch.randint(0, 3, (50,), generator=g)
    query = F.normalize(torch.randn(20, 8, generator=g), dim=1)
    ours = knn_predict(query, bank, labels, k=7, temperature=0.1, num_classes=3)
    assert torch.equal(ours, lightly_knn(query, bank.T.contiguous(), labels, 3, knn_k=7, knn_t=0.1)[:, 0])
