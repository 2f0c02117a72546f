"""Batches loaded in a background thread: the same batches, the same random draws, the same training."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain.augment.recipes import create_transforms
from finegrain.data import prefetch
from finegrain.data.prefetch import Ahead
from finegrain.data.transformed import Transformed
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit


def test_ahead_yields_every_batch_in_order_and_raises_the_loaders_error():
    batches = Ahead(range(10))
    assert next(batches) == 0
    batches.go()
    assert list(batches) == list(range(1, 10))

    def broken():
        yield 1
        raise ValueError("bad image")

    batches = Ahead(broken())
    batches.go()
    assert next(batches) == 1
    with pytest.raises(ValueError, match="bad image"):
        next(batches)
    early = Ahead(range(1000), depth=1)
    early.go()
    assert next(early) == 0
    early.close()  # a consumer that stops early ends the thread


def _history(tmp_path, monkeypatch, prefetched: bool, **kw):
    calls = []
    go = Ahead.go

    def spy(self):
        calls.append(1)
        if prefetched:
            go(self)

    monkeypatch.setattr(prefetch.Ahead, "go", spy)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (48, 3, 40, 40), dtype=torch.uint8, generator=g)
    labels = torch.arange(48) % 3
    cfg = TrainCfg(data="prepared", init="none", epochs=2, batch_size=8, augment="basic", image_size_px=32, **kw)
    train = Transformed(TensorDataset(images[:32], labels[:32]), create_transforms("basic", 32, train=True))
    val = Transformed(TensorDataset(images[32:], labels[32:]), create_transforms("basic", 32, train=False))
    seed_everything(0)
    model = create_model("small_cnn", 3, dropout=kw.get("dropout"))
    history, _ = fit(model, train, val, cfg, 0, torch.device("cpu"), tmp_path / f"{prefetched}{kw}.pt")
    return [{k: v for k, v in r.items() if "time" not in k} for r in history.rows], len(calls)


@pytest.mark.parametrize("dropout", [None, 0.3])
def test_prefetching_changes_no_number(tmp_path, monkeypatch, dropout):
    kw = {"memory_format": "contiguous", "precision": "fp32", "dropout": dropout}
    plain, _ = _history(tmp_path, monkeypatch, False, **kw)
    ahead, calls = _history(tmp_path, monkeypatch, True, **kw)
    assert ahead == plain  # bit for bit
    train_passes = 2
    # validation always prefetches; training only when the step draws no random numbers (dropout draws)
    assert calls == (2 * train_passes if dropout is None else train_passes)
