"""create_loss: every loss is called as loss(logits, targets, model), with int or soft targets for CE."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from finegrain.losses.factory import LOSSES, create_loss
from finegrain.losses.triplet import triplet_loss
from finegrain.models.heads import EmbeddingHead


def test_ce_takes_int_and_soft_targets():
    torch.manual_seed(0)
    logits, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    ce = create_loss("ce", label_smoothing=0.1)
    torch.testing.assert_close(ce(logits, y, None), F.cross_entropy(logits, y, label_smoothing=0.1))
    soft = create_loss("soft_ce")
    torch.testing.assert_close(soft(logits, F.one_hot(y, 4).float(), None), F.cross_entropy(logits, y))
    mixed = 0.7 * F.one_hot(y, 4).float() + 0.3 * F.one_hot(y.roll(1), 4).float()
    expected = -(mixed * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(soft(logits, mixed, None), expected)


def test_triplet_ignores_the_logits():
    torch.manual_seed(0)
    model = EmbeddingHead(6, 3, embedding_dim=4)
    y = torch.tensor([0, 0, 1, 1])
    logits = model(torch.randn(4, 6))
    loss = create_loss("triplet", margin=0.2, mining="semi-hard")(logits, y, model)
    torch.testing.assert_close(loss, triplet_loss(model.embedding, y, 0.2, "semi-hard"))


def test_unknown_names_and_options():
    assert set(LOSSES) == {"ce", "soft_ce", "tcel", "triplet"}
    with pytest.raises(ValueError, match="'focal'"):
        create_loss("focal")
    with pytest.raises(ValueError, match="unknown option 'smoothing'"):
        create_loss("ce", smoothing=0.1)
    with pytest.raises(ValueError, match="mining"):
        create_loss("tcel", mining="easy")
