"""Channel attention: Squeeze-and-Excitation for ResNets (report A) and ECA in place of EfficientNet's SE (report B)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models import ResNet
from torchvision.ops.misc import SqueezeExcitation as TorchvisionSE


class SqueezeExcitation(nn.Module):
    """SE block (Hu et al. 2018): global average pool, 1x1 conv C -> C/r, ReLU, 1x1 conv C/r -> C, sigmoid gates."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)  # 1x1 convs, not nn.Linear: the factory's head is the last Linear
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel weights in [0, 1], shape (N, C, 1, 1)."""
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


def stage_channels(stage: nn.Module) -> int:
    """Output channels of a conv stage: the size of its last BatchNorm2d."""
    norms = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        raise ValueError(f"{type(stage).__name__} has no BatchNorm2d to read its channel count from")
    return norms[-1].num_features


def insert_se(resnet: ResNet, stages: list[str], reduction: int = 16) -> ResNet:
    """Append an SE block to the end of each named stage (e.g. ["layer1", "layer4"]), in place.

    The block is appended to the stage's nn.Sequential, so the existing parameter names (and pretrained weights)
    are unchanged.
    """
    for stage in stages:
        layer = getattr(resnet, stage, None)
        if not isinstance(layer, nn.Sequential):
            raise ValueError(f"{type(resnet).__name__} has no stage {stage!r}")
        layer.append(SqueezeExcitation(stage_channels(layer), reduction))
    return resnet


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net's adaptive kernel size: int(|log2(C)/gamma + b/gamma|), plus one if even (as the ECA-Net code)."""
    t = int(abs(math.log2(channels) / gamma + b / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """Efficient Channel Attention (Wang et al. 2020): global average pool, 1D conv across channels, sigmoid."""

    def __init__(self, channels: int, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        k = eca_kernel_size(channels, gamma, b)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel weights in [0, 1], shape (N, C, 1, 1)."""
        pooled = x.mean((2, 3)).unsqueeze(1)  # (N, 1, C)
        return torch.sigmoid(self.conv(pooled)).transpose(1, 2).unsqueeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gates(x)


def replace_se_with_eca(model: nn.Module) -> int:
    """Replace every torchvision SqueezeExcitation (EfficientNet's MBConv blocks) by an ECA; return how many."""
    targets = [name for name, m in model.named_modules() if isinstance(m, TorchvisionSE)]
    for name in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, ECA(model.get_submodule(name).fc1.in_channels))
    return len(targets)
