"""Cached frozen-backbone features: same training as running the backbone every epoch, cached once, K views."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain import paths
from finegrain.augment.recipes import create_transforms
from finegrain.data.transformed import Transformed
from finegrain.errors import ConfigError
from finegrain.models.factory import create_model
from finegrain.models.head_block import head_block_name
from finegrain.runtime import seed_everything
from finegrain.train import features as feats
from finegrain.train.compute import Compute
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit

SIZE = 32


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, 40, 40), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 3
    images[labels == 1, 0] //= 2  # a learnable signal: class 1 is less red
    return TensorDataset(images, labels)


def _cfg(**kw) -> TrainCfg:
    base = dict(
        data="prepared", init="none", model="tf_efficientnet_lite0", mode="frozen", epochs=3, batch_size=8, lr=0.05
    )
    return TrainCfg(**{**base, "augment": "none", "image_size_px": SIZE, "dropout": 0.3, **kw})


def _sets(cfg: TrainCfg):
    train, val = _data(40, 1), _data(16, 2)
    return (
        Transformed(train, create_transforms(cfg.augment, SIZE, train=True)),
        Transformed(val, create_transforms(cfg.augment, SIZE, train=False)),
    )


def _model(cfg: TrainCfg, seed: int = 0):
    seed_everything(seed)
    return create_model(cfg.model, 3, cfg.init, dropout=cfg.dropout)


@pytest.fixture(autouse=True)
def _feature_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FEATURES", tmp_path / "features")


@pytest.mark.parametrize("extra", [{}, {"ema": {"decay": 0.9}}], ids=["plain", "ema"])
def test_cached_head_training_equals_backbone_every_epoch(tmp_path, extra):
    """With EMA too: the head's EMA scored on cached features is the whole model's EMA (the backbone is frozen).
    Bit for bit on any machine: the features are extracted in the batches training and validation use (40 images:
    full batches), and a batch's per-image results do not depend on its order or on autograd."""
    cfg = _cfg(**extra)
    train_set, val_set = _sets(cfg)
    cpu = torch.device("cpu")

    standard = _model(cfg)
    hist_std, best_std = fit(standard, train_set, val_set, cfg, 0, cpu, tmp_path / "std.pt")

    cached_model = _model(cfg)
    assert feats.cache_plan(cfg, cached_model) == (True, True)
    assert head_block_name(cached_model) == "classifier"  # Dropout + Linear: the dropout trains with the head
    layout = Compute.of(cfg, cpu).memory_format  # the training's layout (auto: a probe under native numerics)
    cached = feats.cached_features(
        cached_model, cfg, train_set, val_set, 0, cpu, [], paths.FEATURES, memory_format=layout
    )
    assert cached.train.features.shape == (1, 40, 1280) and cached.val.features.shape == (1, 16, 1280)
    hist_c, best_c = fit(cached_model, train_set, val_set, cfg, 0, cpu, tmp_path / "cached.pt", features=cached)

    for row_std, row_c in zip(hist_std.rows, hist_c.rows, strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert row_c[key] == row_std[key], key  # exact: the same batches compute the same features
    head = "net.classifier.1.weight"
    assert not torch.allclose(best_std[head], _model(cfg).state_dict()[head])  # the head did train
    for key, value in standard.state_dict().items():
        assert torch.equal(cached_model.state_dict()[key], value), key
    assert hist_c.best_epoch == hist_std.best_epoch


def test_features_are_cached_once_and_loaded_weights_only(monkeypatch):
    cfg = _cfg(epochs=1)
    train_set, val_set = _sets(cfg)
    first = feats.cached_features(_model(cfg), cfg, train_set, val_set, 0, torch.device("cpu"), [], paths.FEATURES)
    files = sorted(paths.FEATURES.rglob("*.pt"))
    assert [f.name.split("-")[0] for f in files] == ["train", "val"]
    saved = torch.load(files[0], weights_only=True)
    assert set(saved) == {"features", "labels"}

    monkeypatch.setattr(feats, "extract", lambda *a, **k: pytest.fail("a cached split was recomputed"))
    again = feats.cached_features(
        _model(cfg, seed=5), cfg, train_set, val_set, 0, torch.device("cpu"), [], paths.FEATURES
    )
    assert torch.equal(again.train.features, first.train.features)


def test_cache_key_follows_weights_and_backbone(tmp_path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"a")
    key_a = feats.cache_dir(_cfg(), [weights], paths.FEATURES)
    assert (
        feats.cache_dir(_cfg(lr=0.5, dropout=None, epochs=9), [weights], paths.FEATURES) == key_a
    )  # head-only settings share it
    assert feats.cache_dir(_cfg(image_size_px=48), [weights], paths.FEATURES) != key_a
    assert feats.cache_dir(_cfg(model="efficientnet_lite0"), [weights], paths.FEATURES) != key_a
    weights.write_bytes(b"b")
    assert feats.cache_dir(_cfg(), [weights], paths.FEATURES) != key_a
    key_b = feats.cache_dir(_cfg(), [weights], paths.FEATURES, "contiguous 8/16 portable 2")
    assert feats.cache_dir(_cfg(), [weights], paths.FEATURES, "channels_last 8/16 native 2") != key_b  # other bits


def test_augmented_views_are_cached_and_drawn_per_epoch():
    cfg = _cfg(augment="flips", features={"cache": "on", "views": 3})
    train_set, val_set = _sets(cfg)
    model = _model(cfg)
    assert feats.cache_plan(cfg, model) == (True, True)
    cached = feats.cached_features(model, cfg, train_set, val_set, 7, torch.device("cpu"), [], paths.FEATURES)
    views = cached.train.features
    assert views.shape == (3, 40, 1280) and cached.val.features.shape[0] == 1
    assert not torch.allclose(views[0], views[1])  # different random flips per view
    flips = sum(not torch.allclose(views[0, i], views[1, i], atol=1e-5) for i in range(40))
    assert 0 < flips < 40
    epoch_a, epoch_b = cached.train.epoch_dataset(1).tensors[0], cached.train.epoch_dataset(2).tensors[0]
    assert torch.equal(epoch_a, cached.train.epoch_dataset(1).tensors[0])  # seeded
    assert not torch.equal(epoch_a, epoch_b)
    assert all(any(torch.equal(epoch_a[i], views[v, i]) for v in range(3)) for i in range(40))
    for path in paths.FEATURES.rglob("*.pt"):
        path.unlink()
    recomputed = feats.cached_features(_model(cfg), cfg, train_set, val_set, 7, torch.device("cpu"), [], paths.FEATURES)
    torch.testing.assert_close(recomputed.train.features, views)  # the views are seeded too


def test_auto_caches_val_always_and_augmented_views_by_default():
    assert feats.cache_plan(_cfg(augment="flips"), _model(_cfg())) == (True, True)  # augmented views
    assert feats.cache_plan(_cfg(mix={"mode": "cutmix"}), _model(_cfg())) == (False, True)  # pixel space: backbone
    assert feats.cache_plan(_cfg(mode="full"), _model(_cfg())) == (False, False)
    assert feats.cache_plan(_cfg(features={"cache": "off"}), _model(_cfg())) == (False, False)
    cnn = _cfg(model="small_cnn", dropout=0.2)
    assert feats.cache_plan(cnn, _model(cnn)) == (True, True)  # SmallCNN's dropout (before its head): eval mode
    cnn = _cfg(model="small_cnn", dropout=None)
    assert feats.cache_plan(cnn, _model(cnn)) == (True, True)


def test_cached_val_equals_the_backbone_every_epoch_whatever_the_training_augmentation(tmp_path):
    cfg = _cfg(model="small_cnn", dropout=0.2, augment="flips", features={"cache": "off"})  # train: backbone
    train_set, val_set = _sets(cfg)
    cpu = torch.device("cpu")
    standard = _model(cfg)
    hist_std, _ = fit(standard, train_set, val_set, cfg, 0, cpu, tmp_path / "std.pt")
    model = _model(cfg)
    cached = feats.cached_features(model, cfg, None, val_set, 0, cpu, [], paths.FEATURES)
    assert cached.train is None and cached.augmented_views == 0
    hist_c, _ = fit(model, train_set, val_set, cfg, 0, cpu, tmp_path / "cached.pt", features=cached)
    for row_std, row_c in zip(hist_std.rows, hist_c.rows, strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert row_c[key] == row_std[key], key  # exact: the same batches compute the same features


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mode": "full"}, "features.cache: 'on' needs mode: frozen (got 'full')"),
        ({"mix": {"mode": "mixup"}}, "features.cache: 'on' needs mix.mode none and adv.method none"),
        ({"nproc": 2}, "features.cache: 'on' trains in one process; set nproc: 1 (got 2)"),
    ],
)
def test_cache_on_rejects_what_it_cannot_reproduce(override, message):
    """(EMA and progressive resizing are not rejected: see the tests above and below.)"""
    from finegrain.train.config import resolve_variant

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        variant = {"data": "prepared", "init": "none", "mode": "frozen", "features": {"cache": "on"}, **override}
        resolve_variant("v", {}, variant)


@pytest.mark.parametrize("extra", [{}, {"ema": {"decay": 0.9}}], ids=["plain", "ema"])
def test_resume_state_on_cached_features_holds_only_the_head_and_resumes_exactly(tmp_path, monkeypatch, extra):
    from finegrain.engine import writer

    cfg = _cfg(epochs=3, **extra)
    train_set, val_set = _sets(cfg)
    cpu = torch.device("cpu")

    def run(state: str, interrupt_after: int | None = None):
        model = _model(cfg)
        cached = feats.cached_features(model, cfg, train_set, val_set, 0, cpu, [], paths.FEATURES, batch_size=16)
        return fit(model, train_set, val_set, cfg, 0, cpu, tmp_path / state, features=cached)

    hist_ref, best_ref = run("ref.pt")
    real_save, saves = writer.save_state, []

    def save_then_stop(path, state):  # the process dies right after epoch 1's state is on disk
        real_save(path, state)
        saves.append(path)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "save_state", save_then_stop)  # raised on the loop's thread at its next wait
    with pytest.raises(KeyboardInterrupt):
        run("resumed.pt")
    monkeypatch.setattr(writer, "save_state", real_save)  # not undo(): it would also undo the tmp feature dir
    saved = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["run"]["best"][0] == 1
    head = {"net.classifier.1.weight", "net.classifier.1.bias"}
    assert set(saved["run"]["model"]) == set(saved["run"].get("ema", saved["run"]["model"])) == head
    assert saved["run"]["best_model"] is None  # the best epoch is the saved one: its weights are `model`, not twice

    hist, best = run("resumed.pt")
    assert [r["val_loss"] for r in hist.rows] == pytest.approx([r["val_loss"] for r in hist_ref.rows], rel=1e-6)
    assert set(best) == set(best_ref)
    for key, value in best_ref.items():
        torch.testing.assert_close(best[key], value, msg=key)


def test_frozen_seeds_share_one_backbone_pass_with_the_same_logits():
    from finegrain.evaluate.metrics import predict
    from finegrain.evaluate.shared import SharedBackbone

    cfg = _cfg()
    _, val_set = _sets(cfg)
    cpu = torch.device("cpu")
    first, second = _model(cfg, 0), _model(cfg, 0)
    torch.nn.init.normal_(second.net.classifier[1].weight)  # another seed's head on the same backbone
    shared = SharedBackbone(val_set, cpu, 6)
    for model in (first, second):
        logits, labels, _ = shared.predict(model)
        expected, expected_labels, _ = predict(model, val_set, cpu, 6)
        assert torch.equal(logits, expected) and torch.equal(labels, expected_labels)
    features = shared.features
    shared.predict(second)
    assert shared.features is features  # not extracted again
    shared.predict(_model(cfg, 1))  # another backbone (another random init): extracted again
    assert shared.features is not features


def test_progressive_resizing_keeps_the_cache_and_says_it_does_not_apply(caplog):
    """A head-only sweep with the recipe's progressive resizing still costs one backbone pass per image and view."""
    cfg = _cfg(resize={"from_px": 24}, ema={"decay": 0.99}, augment="basic")
    with caplog.at_level("INFO", logger="finegrain.train.features"):
        assert feats.cache_plan(cfg, _model(cfg)) == (True, True)
    assert "progressive resizing does not apply: the head trains on features cached at 32 px" in caplog.text
