"""Acceptance tests of the synthetic dataset: determinism, no colour shortcut, and full-image vs crop difficulty.

The CNN tests reproduce how the pipeline uses the data: 128 px scenes, 100 training images per class, the full
scene downscaled to 64 px versus the ground-truth box crop resized to 64 px. Everything is seeded and runs on one
thread, so the measured accuracies are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from finegrain.data.synthetic import SYNTHETIC_CLASSES, SyntheticSample, iter_synthetic, render_scene

N_CLASSES = len(SYNTHETIC_CLASSES)
CHANCE = 1.0 / N_CLASSES
SIZE_PX = 128
INPUT_PX = 64
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 100
EPOCHS = 12
SEED = 0


@contextmanager
def _one_thread() -> Iterator[None]:
    """Single-threaded torch: deterministic numerics and polite on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _samples(split: str, per_class: int, size_px: int, seed: int = SEED) -> list[SyntheticSample]:
    return list(iter_synthetic(split, per_class, size_px=size_px, seed=seed))


# --- 1. determinism, shapes, boxes -----------------------------------------------------------------------------


def test_same_seed_is_identical_and_splits_differ() -> None:
    a = _samples("train", 3, 64)
    b = _samples("train", 3, 64)
    assert [s.label for s in a] == [s.label for s in b]
    assert [s.box for s in a] == [s.box for s in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    for other in (_samples("val", 3, 64), _samples("train", 3, 64, seed=1)):
        assert not any(np.array_equal(x.image, y.image) for x, y in zip(a, other, strict=True))


def test_shapes_dtypes_labels_and_boxes() -> None:
    size, per_class = 96, 20
    samples = _samples("test", per_class, size)
    assert len(samples) == per_class * N_CLASSES
    assert np.bincount([s.label for s in samples], minlength=N_CLASSES).tolist() == [per_class] * N_CLASSES
    labels = [s.label for s in samples]
    assert labels != sorted(labels)  # classes are interleaved
    for s in samples:
        assert s.image.shape == (size, size, 3) and s.image.dtype == np.uint8
        assert isinstance(s.label, int) and 0 <= s.label < N_CLASSES
        x0, y0, x1, y1 = s.box
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
        assert (x1 - x0) * (y1 - y0) <= 0.25 * size * size
        assert (x1 - x0) * (y1 - y0) >= 0.02 * size * size
        assert all(isinstance(v, float) for v in s.box)


def test_render_scene_validates_arguments() -> None:
    rng = np.random.default_rng(0)
    assert render_scene(rng, N_CLASSES - 1, 64).image.shape == (64, 64, 3)
    with pytest.raises(ValueError):
        render_scene(rng, N_CLASSES, 64)
    with pytest.raises(ValueError):
        iter_synthetic("train", -1)
    with pytest.raises(ValueError):
        iter_synthetic("train", 1, size_px=8)


# --- shared data and models for tests 2-4 ------------------------------------------------------------------------


@cache
def _split(split: str, per_class: int) -> dict[str, np.ndarray]:
    """Raw 128 px scenes, full scenes at 64 px, 64 px ground-truth crops and labels."""
    raw, full, crop, labels = [], [], [], []
    for s in iter_synthetic(split, per_class, size_px=SIZE_PX, seed=SEED):
        img = Image.fromarray(s.image)
        raw.append(s.image)
        full.append(np.asarray(img.resize((INPUT_PX, INPUT_PX), Image.Resampling.BILINEAR)))
        crop.append(np.asarray(img.crop(s.box).resize((INPUT_PX, INPUT_PX), Image.Resampling.BILINEAR)))
        labels.append(s.label)
    return {"raw": np.stack(raw), "full": np.stack(full), "crop": np.stack(crop), "label": np.asarray(labels)}


def _colour_histograms(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """Joint RGB histogram (bins^3) plus per-channel histograms, normalised per image."""
    q = images.astype(np.int64) * bins // 256
    joint = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    feats = []
    for idx, per in zip(joint, q, strict=True):
        channels = [np.bincount(per[..., c].ravel(), minlength=bins) for c in range(3)]
        feats.append(np.concatenate([np.bincount(idx.ravel(), minlength=bins**3), *channels]))
    feats = np.asarray(feats, dtype=np.float32)
    return feats / feats.sum(axis=1, keepdims=True)


def _linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Multinomial logistic regression (full batch, weight decay) on standardised features; test accuracy."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    xtr, xte = torch.from_numpy((x_train - mean) / std), torch.from_numpy((x_test - mean) / std)
    ytr = torch.from_numpy(y_train)
    with _one_thread():
        torch.manual_seed(SEED)
        model = nn.Linear(xtr.shape[1], N_CLASSES)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
        for _ in range(300):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr), ytr).backward()
            opt.step()
        with torch.no_grad():
            return float((model(xte).argmax(1).numpy() == y_test).mean())


def _small_cnn() -> nn.Module:
    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(3, 16),
        *block(16, 32),
        *block(32, 64),
        nn.Conv2d(64, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),  # the object is small: max pooling lets it win over the cluttered background
        nn.Flatten(),
        nn.Linear(64, N_CLASSES),
    )


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """NHWC uint8 -> NCHW float in channels-last memory (about 1.5x faster convolutions on CPU)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).sub(0.5).mul(4.0)
    return x.contiguous(memory_format=torch.channels_last)


def _dihedral(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips and transposes: the classes are textures, invariant to them."""
    for op in (lambda t: t.flip(3), lambda t: t.flip(2), lambda t: t.transpose(2, 3)):
        pick = (torch.rand(len(x), generator=gen) < 0.5)[:, None, None, None]
        x = torch.where(pick, op(x), x)
    return x.contiguous(memory_format=torch.channels_last)


@cache
def _cnn_accuracy(view: str) -> float:
    """Test accuracy of the small CNN trained on ``view`` ("full" or "crop") of the training split."""
    train, test = _split("train", TRAIN_PER_CLASS), _split("test", TEST_PER_CLASS)
    x, y = _to_tensor(train[view]), torch.from_numpy(train["label"])
    with _one_thread():
        torch.manual_seed(SEED)
        gen = torch.Generator().manual_seed(SEED)
        model = _small_cnn().to(memory_format=torch.channels_last)
        batch, lr = 32, 3e-3
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=EPOCHS * -(-len(x) // batch))
        for _ in range(EPOCHS):
            model.train()
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch):
                idx = order[i : i + batch]
                opt.zero_grad()
                nn.functional.cross_entropy(model(_dihedral(x[idx], gen)), y[idx]).backward()
                opt.step()
                sched.step()
        model.eval()
        with torch.no_grad():
            pred = model(_to_tensor(test[view])).argmax(1).numpy()
    return float((pred == test["label"]).mean())


# --- 2. no colour shortcut -------------------------------------------------------------------------------------


def test_colour_histogram_linear_probe_is_near_chance() -> None:
    train, test = _split("train", TRAIN_PER_CLASS), _split("test", TEST_PER_CLASS)
    x_train, x_test = _colour_histograms(train["raw"]), _colour_histograms(test["raw"])
    acc = _linear_probe(x_train, train["label"], x_test, test["label"])
    assert acc < CHANCE + 0.10, f"colour histograms predict the class: {acc:.3f}"


# --- 3. / 4. the full scene is learnable but hard; the object crop is much easier ---------------------------------


@pytest.mark.slow
def test_cnn_on_full_images_is_between_chance_and_perfect() -> None:
    acc = _cnn_accuracy("full")
    assert CHANCE + 0.20 < acc < 0.90, f"full-image CNN accuracy {acc:.3f}"


@pytest.mark.slow
def test_cnn_on_ground_truth_crops_beats_full_images() -> None:
    full, crop = _cnn_accuracy("full"), _cnn_accuracy("crop")
    assert crop > full + 0.15, f"crop {crop:.3f} vs full {full:.3f}"
