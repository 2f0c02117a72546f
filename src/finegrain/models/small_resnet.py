"""Report E's hand-made ResNet for 32x32 images (CINIC-10), with the block-count x kernel-size grid in mind."""

from __future__ import annotations

import torch
from torch import nn


def same_conv(c_in: int, c_out: int, kernel_size: int) -> nn.Sequential:
    """Stride-1 conv with TensorFlow 'same' padding: k - 1 zeros in total, the odd one on the right/bottom."""
    before = (kernel_size - 1) // 2
    after = kernel_size - 1 - before
    return nn.Sequential(nn.ZeroPad2d((before, after, before, after)), nn.Conv2d(c_in, c_out, kernel_size, bias=False))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input (1x1 conv + BN when the width changes), then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            same_conv(c_in, c_out, kernel_size),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            same_conv(c_out, c_out, kernel_size),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = (
            nn.Identity()
            if c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem conv, `blocks` x (residual block, 2x2 max-pool, dropout), global average pool, linear classifier `fc`.

    Widths start at `width` and double per block up to 4x; with 32x32 input, up to 5 blocks fit (down to 1x1).
    """

    def __init__(self, num_classes: int, blocks: int, kernel_size: int, dropout: float, width: int = 32) -> None:
        super().__init__()
        if not 1 <= blocks <= 5 or kernel_size < 1:
            raise ValueError(f"SmallResNet: blocks must be 1-5 and kernel_size >= 1 (got {blocks}, {kernel_size})")
        widths = [width * min(2**i, 4) for i in range(blocks)]
        self.stem = nn.Sequential(same_conv(3, width, kernel_size), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(
            *[
                nn.Sequential(ResidualBlock(c_in, c_out, kernel_size), nn.MaxPool2d(2), nn.Dropout(dropout))
                for c_in, c_out in zip([width, *widths[:-1]], widths, strict=True)
            ]
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


def small_resnet(
    num_classes: int, dropout: float | None = None, *, blocks: int = 3, kernel_size: int = 3, width: int = 32
) -> SmallResNet:
    """Factory builder (`fn(num_classes, dropout)`); defaults are report E's first run: 3 blocks, 3x3, dropout 0.2."""
    return SmallResNet(num_classes, blocks, kernel_size, 0.2 if dropout is None else dropout, width)
