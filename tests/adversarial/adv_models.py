"""Tiny classifiers for attack tests: normalisation inside the model, as in finegrain's Classifier."""

from __future__ import annotations

import torch
from torch import nn

from finegrain.models.factory import Classifier


def tiny_classifier(num_classes: int = 4, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 16, num_classes),
    )
    return Classifier(net, head="5").eval()


def self_labelled(model: nn.Module, n: int = 48, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] labelled with the model's own predictions (clean accuracy 1)."""
    images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return images, model(images).argmax(1)
