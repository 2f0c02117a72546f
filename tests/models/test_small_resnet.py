"""Report E's hand-made ResNet: every grid point (blocks x kernel) runs on 32x32 images, even kernels included."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from finegrain.models.small_resnet import ResidualBlock, SmallResNet, same_conv, small_resnet


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5])
@pytest.mark.parametrize("blocks", [1, 3, 5])
def test_grid_shapes(blocks, kernel_size):
    torch.manual_seed(0)
    net = SmallResNet(10, blocks, kernel_size, dropout=0.3, width=8).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == blocks
    for stage in net.blocks:  # residual block, pool, then dropout
        assert isinstance(stage[0], ResidualBlock) and isinstance(stage[-1], nn.Dropout) and stage[-1].p == 0.3


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5])
def test_same_padding_keeps_size(kernel_size):
    assert same_conv(3, 4, kernel_size)(torch.rand(1, 3, 7, 9)).shape == (1, 4, 7, 9)


def test_even_kernel_pads_right_and_bottom_like_tensorflow():
    conv = same_conv(1, 1, 2)
    nn.init.ones_(conv[1].weight)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    with torch.no_grad():
        out = conv(x)[0, 0]
    assert out[0, 0] == x[0, 0, :2, :2].sum()  # window (i, i+1) x (j, j+1)
    assert out[3, 3] == x[0, 0, 3, 3]  # only zeros beyond the bottom-right corner


def test_builder_defaults_to_report_e_first_run():
    net = small_resnet(10)
    assert len(net.blocks) == 3 and net.blocks[0][-1].p == 0.2 and net.fc.out_features == 10
    assert net.blocks[0][0].body[0][1].kernel_size == (3, 3)
