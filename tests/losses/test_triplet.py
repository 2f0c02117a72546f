"""Triplet loss: zero when classes are separated by more than the margin, positive otherwise; hard >= semi-hard."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from finegrain.losses.triplet import MINING, TripletCELoss, triplet_loss
from finegrain.models.heads import EmbeddingHead

LABELS = torch.tensor([0, 0, 1, 1])
POINTS = torch.tensor([[0.0], [1.0], [1.5], [3.0]])  # 1D, so distances are easy to do by hand


@pytest.mark.parametrize("mining", MINING)
def test_zero_for_well_separated_classes(mining):
    torch.manual_seed(0)
    labels = torch.arange(3).repeat_interleave(4)
    embeddings = 10 * F.one_hot(labels, 3).float() + 0.01 * torch.randn(12, 3)
    assert triplet_loss(embeddings, labels, margin=1.0, mining=mining) == 0


@pytest.mark.parametrize("mining", MINING)
def test_positive_when_classes_overlap(mining):
    labels = torch.arange(3).repeat_interleave(4)
    embeddings = torch.ones(12, 3, requires_grad=True)  # collapsed: every d(a, p) = d(a, n) = 0
    loss = triplet_loss(embeddings, labels, margin=0.5, mining=mining)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()


def test_hard_and_semi_hard_by_hand():
    # hard: per anchor max d(a,p) - min d(a,n) + 1 -> 0.5, 1.5, 2, 0.5
    assert triplet_loss(POINTS, LABELS, 1.0, "hard").item() == pytest.approx(1.125, abs=1e-5)
    # semi-hard: per (a, p), the closest negative farther than p (else the farthest) -> 0.5, 0, 1, 0.5
    assert triplet_loss(POINTS, LABELS, 1.0, "semi-hard").item() == pytest.approx(0.5, abs=1e-5)


def test_hard_bounds_semi_hard_and_random():
    for seed in range(5):
        torch.manual_seed(seed)
        labels, embeddings = torch.arange(4).repeat_interleave(4), F.normalize(torch.randn(16, 8), dim=1)
        hard = triplet_loss(embeddings, labels, 0.5, "hard")
        assert hard >= triplet_loss(embeddings, labels, 0.5, "semi-hard") > 0
        assert hard >= triplet_loss(embeddings, labels, 0.5, "random")


@pytest.mark.parametrize("labels", [torch.zeros(4, dtype=torch.long), torch.arange(4)])
def test_zero_without_a_valid_triplet(labels):
    embeddings = torch.randn(4, 3, requires_grad=True)
    loss = triplet_loss(embeddings, labels, 1.0, "hard")
    assert loss == 0
    loss.backward()


def test_tcel_is_ce_plus_weighted_triplet_on_the_head_embedding():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), EmbeddingHead(6, 3, embedding_dim=4))
    x, y = torch.randn(8, 6), torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    logits = model(x)
    triplet = triplet_loss(model[1].embedding, y, 0.3, "hard")
    tcel = TripletCELoss(weight=0.5, margin=0.3, mining="hard")(logits, y, model)
    torch.testing.assert_close(tcel, F.cross_entropy(logits, y) + 0.5 * triplet)
    pure = TripletCELoss(weight=1.0, margin=0.3, mining="hard", ce_weight=0.0)(logits, y, model)
    torch.testing.assert_close(pure, triplet)
    with pytest.raises(ValueError, match="integer class labels"):
        TripletCELoss()(logits, F.one_hot(y, 3).float(), model)
    with pytest.raises(ValueError, match="EmbeddingHead"):
        TripletCELoss()(logits, y, nn.Linear(6, 3))


def test_tcel_on_vit_b_16_trains_the_embedding_head_and_the_encoder():
    """Report B's model: torchvision ViT-B/16 with mods.embedding_head; one TCEL step reaches the encoder."""
    from finegrain.models.factory import create_model

    torch.manual_seed(0)
    model = create_model("vit_b_16", 3, mods={"embedding_head": {"embedding_dim": 32}})
    assert isinstance(model.head, EmbeddingHead) and model.head.project.in_features == 768
    x, y = torch.rand(4, 3, 224, 224), torch.tensor([0, 0, 1, 2])
    loss = TripletCELoss(weight=1.0, margin=0.3, mining="semi-hard")(model(x), y, model)
    loss.backward()
    assert loss > 0 and model.head.embedding.shape == (4, 32)
    assert model.head.project.weight.grad.abs().sum() > 0
    assert model.net.encoder.layers[0].self_attention.in_proj_weight.grad.abs().sum() > 0
