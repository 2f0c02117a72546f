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


def test_ce_with_an_embedding_head_trains_on_the_heads_classifier():
    """TCEL's cross-entropy arm: the same embedding head, logits from its classifier, only the loss differs."""
    from torch.utils.data import TensorDataset

    from finegrain.models.factory import create_model
    from finegrain.train.config import TrainCfg
    from finegrain.train.distributed import SINGLE
    from finegrain.train.loop import _create_loss, _train_loader, epoch_totals

    head = {"embedding_head": {"embedding_dim": 8}}
    ce_cfg = TrainCfg(data="prepared", init="none", mods=head, batch_size=8, sampler="pk", pk_k=2)
    tcel_cfg = TrainCfg(data="prepared", init="none", mods=head, batch_size=8, loss="tcel", pk_k=2)
    assert ce_cfg.model_dump(exclude={"loss", "sampler"}) == tcel_cfg.model_dump(exclude={"loss", "sampler"})
    assert ce_cfg.batch_sampler == tcel_cfg.batch_sampler == "pk"
    torch.manual_seed(0)
    model = create_model("small_cnn", 4, mods=head)
    twin = create_model("small_cnn", 4, mods=head)
    assert isinstance(model.head, EmbeddingHead)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in twin.state_dict().items()}

    y = torch.arange(4).repeat_interleave(8)
    x = torch.rand(32, 3, 16, 16) * 0.2 + (y.float() / 4)[:, None, None, None]  # class = brightness
    loss_fn = _create_loss(ce_cfg)
    logits = model(x[:8])
    torch.testing.assert_close(logits, model.head.fc(model.head.embedding))
    torch.testing.assert_close(loss_fn(logits, y[:8], model), F.cross_entropy(logits, y[:8]))

    data = TensorDataset(x, y)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    first = None
    for epoch in range(15):
        total, correct, seen = epoch_totals(
            model, _train_loader(data, ce_cfg, epoch, SINGLE), torch.device("cpu"), loss_fn, optimizer
        )
        first = total / seen if first is None else first
    assert total / seen < first / 2 and correct / seen > 0.9
    assert model.head.project.weight.grad.abs().sum() > 0 and model.head.fc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_label_smoothing_reaches_tcel_as_it_reaches_ce(smoothing):
    """train.label_smoothing reaches TCEL's CE term too: TCEL minus its triplet term is exactly the CE arm's loss."""
    from finegrain.train.config import TrainCfg
    from finegrain.train.loop import _create_loss

    head = {"embedding_head": {"embedding_dim": 4}}
    common = dict(data="prepared", init="none", mods=head, batch_size=8, pk_k=2, label_smoothing=smoothing)
    ce_cfg, tcel_cfg = TrainCfg(**common, sampler="pk"), TrainCfg(**common, loss="tcel")
    torch.manual_seed(0)
    model = EmbeddingHead(6, 3, embedding_dim=4)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    logits = model(torch.randn(6, 6))
    triplet = triplet_loss(model.embedding, y, tcel_cfg.triplet.margin, "hard")
    tcel = _create_loss(tcel_cfg.model_copy(update={"triplet": tcel_cfg.triplet.model_copy(update={"mining": "hard"})}))
    ce = _create_loss(ce_cfg)
    torch.testing.assert_close(tcel(logits, y, model) - tcel_cfg.triplet.weight * triplet, ce(logits, y, model))
    torch.testing.assert_close(ce(logits, y, model), F.cross_entropy(logits, y, label_smoothing=smoothing))
