"""Deformable convolution in ResNet18 (report B): after conv1, in parallel with conv1, or after each stage."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet
from torchvision.ops import DeformConv2d

from finegrain.models.attention import stage_channels

PLACEMENTS = ("after_conv1", "parallel_conv1", "after_layers")


class DeformBlock(nn.Module):
    """A DeformConv2d whose offsets come from a plain conv on the same input.

    The offset conv is zero-initialised, so the block starts as an ordinary convolution with the same weights.
    Defaults keep the shape: `channels` in and out, 3x3, stride 1, padding 1.
    """

    def __init__(
        self,
        channels: int,
        out_channels: int | None = None,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.offset = nn.Conv2d(channels, 2 * kernel_size * kernel_size, kernel_size, stride, padding)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(channels, out_channels or channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, self.offset(x))


class ParallelDeform(nn.Module):
    """conv(x) + deform(x): a conv and a deformable conv of the same geometry side by side, summed."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.deform = DeformBlock(
            conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.deform(x)


def add_deform(resnet: ResNet, where: str) -> ResNet:
    """Add deformable convolutions to a torchvision ResNet in place; `where` is one of PLACEMENTS.

    after_conv1: conv1 -> DeformBlock(64). parallel_conv1: conv1(x) + DeformBlock(x) with conv1's kernel, stride
    and padding. after_layers: a DeformBlock appended to each of layer1-4 (their parameter names are unchanged).
    """
    if where == "after_conv1":
        resnet.conv1 = nn.Sequential(resnet.conv1, DeformBlock(resnet.conv1.out_channels))
    elif where == "parallel_conv1":
        resnet.conv1 = ParallelDeform(resnet.conv1)
    elif where == "after_layers":
        for name in ("layer1", "layer2", "layer3", "layer4"):
            layer = getattr(resnet, name)
            layer.append(DeformBlock(stage_channels(layer)))
    else:
        raise ValueError(f"deform placement {where!r}; expected one of {', '.join(PLACEMENTS)}")
    return resnet
