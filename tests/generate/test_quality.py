"""Quality metrics of generated images: torchmetrics FID/KID wiring with a custom extractor, the judge, the check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from finegrain.generate.quality import (
    DistributionDistances,
    Lite0Features,
    kid_subset_size,
    recognisability,
    train_reference_classifier,
)

torch.set_num_threads(1)


class _Flatten(torch.nn.Module):
    """A feature extractor for tests: (N, 1, 1, D) float 'images' -> (N, D) features."""

    num_features = 6

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).double()


def _gaussian(n: int, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.normal(shift, 1.0, size=(n, 1, 1, 6)))


def test_fid_matches_the_matrix_square_root_formula_and_is_zero_for_identical_sets():
    ref, other = _gaussian(60), _gaussian(60, 0.5, seed=1) * 2.0
    d = DistributionDistances(_Flatten(), ref, kid_subsets=20)
    a, b = ref.flatten(1).numpy(), other.flatten(1).numpy()
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert d(other)["fid"] == pytest.approx(expected, rel=1e-3)
    assert d(ref)["fid"] == pytest.approx(0.0, abs=1e-3)


def test_kid_is_zero_within_its_std_for_the_same_distribution_and_larger_for_another():
    ref = _gaussian(200)
    d = DistributionDistances(_Flatten(), ref, kid_subsets=50)
    assert d.subset_size == 100
    same = d(_gaussian(200, seed=1))  # disjoint draw from the same distribution
    shifted = d(_gaussian(200, 1.0, seed=2))
    assert same["kid_std"] > 0 and abs(same["kid"]) < 3 * same["kid_std"]
    assert shifted["kid"] > same["kid"] + 3 * shifted["kid_std"]
    assert d(_gaussian(200, seed=1), seed=3) != same  # other subsets, other estimate ...
    assert d(_gaussian(200, seed=1)) == same  # ... and the same seed the same one
    with pytest.raises(ValueError, match="reference's size"):
        d(_gaussian(100))


def test_kid_subset_size_is_half_the_images_at_most_1000():
    assert kid_subset_size(150) == 75 and kid_subset_size(5000) == 1000
    with pytest.raises(ValueError, match="at least 4"):
        kid_subset_size(3)


def test_lite0_features_take_uint8_or_float_images_and_stay_frozen():
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    extractor = Lite0Features(net, 32)
    images = torch.randint(0, 256, (2, 3, 40, 40), dtype=torch.uint8)
    with torch.no_grad():
        a, b = extractor(images), extractor(images.float() / 255)
    assert a.shape == (2, extractor.num_features) and torch.allclose(a, b, atol=1e-5)
    assert not extractor.train().training  # torchmetrics may call .train(): BatchNorm statistics stay fixed


def _bars(n: int, vertical: bool, seed: int) -> torch.Tensor:
    """uint8 images of random-coloured bars of random phase, vertical or horizontal."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.randint(0, 4, (n, 1, 1, 1), generator=g)
    pos = torch.arange(16).view((1, 1, 1, 16) if vertical else (1, 1, 16, 1))
    on = ((pos + phase) // 2) % 2 == 0
    a, b = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    return (torch.where(on, a, b).expand(n, 3, 16, 16) * 255).round().to(torch.uint8)


def test_judge_learns_real_classes_and_recognises_only_images_of_them():
    images = torch.cat([_bars(48, False, 0), _bars(48, True, 1)])
    labels = torch.tensor([0] * 48 + [1] * 48)
    judge = train_reference_classifier(images, labels, 2, 16, epochs=8, seed=0)
    val = torch.cat([_bars(20, False, 2), _bars(20, True, 3)])
    val_labels = torch.tensor([0] * 20 + [1] * 20)
    result = recognisability(judge, val, val_labels, ["h", "v"], 16)
    assert result["mean"] >= 0.9 and set(result["per_class"]) == {"h", "v"}
    flat = torch.full((40, 3, 16, 16), 128, dtype=torch.uint8)  # no class at all: at most one class "recognised"
    assert recognisability(judge, flat, val_labels, ["h", "v"], 16)["mean"] <= 0.5
