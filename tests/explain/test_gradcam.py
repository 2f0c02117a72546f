"""Heatmaps point where the logit looks: Grad-CAM (and ++, Score-CAM) peak in the one region a model sees."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from finegrain.explain.cam import compute_cams
from finegrain.explain.layers import cam_layer, capture, feature_layers
from finegrain.models.factory import Classifier

SIZE, REGION = 32, (slice(18, 30), slice(4, 16))  # rows 18..29, columns 4..15: a 12x12 patch, lower left


class SeeOnlyRegion(nn.Module):
    """Zeroes everything outside REGION: the logits depend on that region alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.zeros_like(x[:, :1])
        mask[:, :, REGION[0], REGION[1]] = 1.0
        return x * mask


def region_model(seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    net = nn.Sequential(
        SeeOnlyRegion(),
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    with torch.no_grad():
        net[7].weight[0].abs_()  # class 0 grows with every channel
    return Classifier(net, head="7").eval()


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_cam_peaks_in_the_region_the_logit_depends_on(method):
    model = region_model()
    images = torch.rand(6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    cams = compute_cams(model, images, [0] * len(images), method)
    assert cams.shape == (6, SIZE, SIZE) and np.isfinite(cams).all()
    inside = np.zeros((SIZE, SIZE), dtype=bool)
    inside[REGION[0], REGION[1]] = True
    for cam in cams:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        assert inside[row, col], (method, row, col)
        assert cam[inside].mean() > 5 * cam[~inside].mean()


def test_auto_layer_is_the_last_conv_of_a_cnn():
    assert cam_layer(region_model().net, SIZE) == ("3", None)


def test_vit_heatmaps_and_feature_maps_use_the_patch_grid():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    net = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=SIZE, patch_size=8, depth=2, num_classes=3
    )
    model = Classifier(net, head="head").eval()
    name, reshape = cam_layer(net, SIZE)
    assert name == "blocks.1.norm1" and reshape is not None
    images = torch.rand(3, 3, SIZE, SIZE)
    cams = compute_cams(model, images, [0, 1, 2], "gradcam")
    assert cams.shape == (3, SIZE, SIZE) and np.isfinite(cams).all() and cams.max() > 0
    layers = feature_layers(net, SIZE, count=2)
    maps = capture(model, net, layers, images[:1])
    assert layers == ["blocks.0", "blocks.1"] and all(m.shape == (1, 192, 4, 4) for m in maps.values())
