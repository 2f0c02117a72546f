"""Feature-map sharpness (variance of the Laplacian): blurred and coarse maps score lower, on maps of known blur."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from finegrain.explain.layers import feature_layers
from finegrain.explain.sharpness import (
    depth_log_ratio,
    depth_metrics,
    feature_sharpness,
    laplacian_variance,
    layer_sharpness,
    sharpness_metrics,
)
from finegrain.models.factory import Classifier


def noise(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size))


def test_a_blurred_map_is_less_sharp_and_more_blur_is_less_still():
    sharp = noise(56)
    maps = torch.tensor(np.stack([sharp, *(ndimage.gaussian_filter(sharp, s) for s in (1.0, 2.0, 4.0))]))
    scores = laplacian_variance(maps, 56)
    assert scores[0] > 0 and all(a > b for a, b in zip(scores, scores[1:], strict=False))


def test_a_coarse_map_shown_at_the_image_size_is_blurrier_than_a_fine_one():
    fine, coarse = torch.tensor(noise(56))[None], torch.tensor(noise(7, seed=1))[None]
    assert laplacian_variance(coarse, 56)[0] < laplacian_variance(fine, 56)[0] / 5


def test_scale_of_the_activations_does_not_count_and_a_flat_map_scores_zero():
    m = torch.tensor(noise(28))[None]
    assert laplacian_variance(3.0 * m + 7.0, 28)[0] == pytest.approx(laplacian_variance(m, 28)[0])
    assert laplacian_variance(torch.full((1, 28, 28), 0.3), 28)[0] == 0.0


def test_layer_sharpness_scores_the_most_active_channels_only():
    blurry = torch.tensor(ndimage.gaussian_filter(noise(32), 3.0)) + 5.0  # the most active channel
    sharp = torch.tensor(noise(32, seed=2))
    maps = torch.stack([sharp, blurry])[None]  # (1 image, 2 channels, 32, 32)
    assert layer_sharpness(maps, 1, 32) == pytest.approx(float(laplacian_variance(blurry[None], 32)[0]))
    both = laplacian_variance(torch.stack([sharp, blurry]), 32).mean()
    assert layer_sharpness(maps, 2, 32) == pytest.approx(float(both))


def pooled_net() -> Classifier:
    """A full-resolution conv, then a conv on a 4x average-pooled map: the deeper layer's maps are 4x coarser."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 1), nn.ReLU(), nn.AvgPool2d(4), nn.Conv2d(4, 4, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )  # fmt: skip
    return Classifier(net, head="7").eval()


def test_feature_sharpness_finds_the_deeper_coarser_layer_blurrier():
    model = pooled_net()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    scores = feature_sharpness(model, images, channels=2)
    assert list(scores) == feature_layers(model.net, 32) == ["0", "3"]  # shallowest first
    assert scores["3"] < scores["0"] / 5


def test_sharpness_metrics_mean_per_layer_and_first_last_with_std():
    per_seed = [{"s1": 0.04, "s2": 0.02, "s3": 0.010}, {"s1": 0.06, "s2": 0.02, "s3": 0.012}]
    out = sharpness_metrics(per_seed)
    assert out["feature_sharpness"] == {"s1": 0.05, "s2": 0.02, "s3": 0.011}
    assert (out["feature_sharpness_first"], out["feature_sharpness_last"]) == (0.05, 0.011)
    assert out["feature_sharpness_first_std"] == pytest.approx(np.std([0.04, 0.06], ddof=1), abs=1e-6)
    assert "feature_sharpness_last_std" in out and "feature_sharpness_first_std" not in sharpness_metrics(per_seed[:1])
    assert sharpness_metrics([]) == {}


def test_depth_metrics_log_ratio_of_deepest_to_shallowest_trained_and_control():
    trained = [{"s1": 0.04, "s3": 0.01}, {"s1": 0.05, "s3": 0.01}]
    untrained = [{"s1": 0.04, "s3": 0.02}, {"s1": 0.04, "s3": 0.02}]
    assert depth_log_ratio(trained[0]) == pytest.approx(np.log(0.25))
    out = depth_metrics(trained, untrained)
    assert out["feature_sharpness_depth"] == pytest.approx(np.mean(np.log([0.25, 0.2])), abs=1e-6)
    assert out["feature_sharpness_depth_untrained"] == pytest.approx(np.log(0.5), abs=1e-6)
    assert out["feature_sharpness_depth_untrained_std"] == 0.0 and "feature_sharpness_depth_std" in out
    assert np.isfinite(depth_log_ratio({"a": 0.0, "b": 0.0}))  # flat maps: floored, not -inf
    assert depth_metrics([], []) == {}


def test_the_untrained_control_has_the_trained_architecture_fresh_weights_and_keeps_the_rng(tmp_path):
    """load_untrained: the same model, initialised by its seed (two calls agree), not the trained weights."""
    from finegrain.models.factory import create_model
    from finegrain.models.trained import load_trained, load_untrained, save_seed

    torch.manual_seed(5)
    model = create_model("small_cnn", 3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # "trained": far from any fresh initialisation
    meta = {"model": "small_cnn", "num_classes": 3, "dropout": None, "model_args": {}, "mods": {}}
    save_seed(tmp_path / "seed0", meta, model.state_dict(), model, [{"epoch": 1}])
    state = torch.get_rng_state()
    control, again = load_untrained(tmp_path, 0), load_untrained(tmp_path, 0)
    assert torch.equal(torch.get_rng_state(), state)
    trained = dict(load_trained(tmp_path, 0).named_parameters())
    fresh = dict(again.named_parameters())
    for name, c in control.named_parameters():
        assert c.shape == trained[name].shape and torch.equal(c, fresh[name]), name
        assert not torch.equal(c, trained[name]), name
