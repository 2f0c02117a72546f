"""Deformable convs: zero offsets give a plain conv; each ResNet18 placement of report B builds and runs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.ops import DeformConv2d

from finegrain.models.deform import DeformBlock, ParallelDeform, add_deform


@pytest.mark.parametrize("stride", [1, 2])
def test_deform_conv_with_zero_offsets_is_a_plain_conv(stride):
    torch.manual_seed(0)
    deform, x = DeformConv2d(4, 6, 3, stride=stride, padding=1), torch.randn(2, 4, 9, 9)
    plain = F.conv2d(x, deform.weight, deform.bias, stride=stride, padding=1)
    offsets = torch.zeros(2, 2 * 3 * 3, *plain.shape[-2:])
    torch.testing.assert_close(deform(x, offsets), plain)


def test_deform_block_starts_as_a_plain_conv_and_learns_offsets():
    torch.manual_seed(0)
    block, x = DeformBlock(4), torch.randn(2, 4, 8, 8)
    out = block(x)
    torch.testing.assert_close(out, F.conv2d(x, block.conv.weight, block.conv.bias, padding=1))
    out.square().sum().backward()
    assert block.offset.weight.grad.abs().sum() > 0  # the offsets are trained
    with torch.no_grad():
        block.offset.bias.fill_(0.5)
        assert not torch.allclose(block(x), out)


def _resnet18() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=5).eval()


def _runs(net: nn.Module) -> None:
    with torch.no_grad():
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 5)


def test_deform_after_conv1():
    net = _resnet18()
    conv1 = net.conv1
    add_deform(net, "after_conv1")
    assert net.conv1[0] is conv1 and isinstance(net.conv1[1], DeformBlock)
    assert net.conv1[1].conv.in_channels == net.conv1[1].conv.out_channels == 64
    _runs(net)


def test_deform_parallel_to_conv1_sums_both():
    net = _resnet18()
    conv1 = net.conv1
    add_deform(net, "parallel_conv1")
    assert isinstance(net.conv1, ParallelDeform) and net.conv1.conv is conv1
    deform = net.conv1.deform.conv
    assert (deform.in_channels, deform.out_channels, deform.kernel_size, deform.stride, deform.padding) == (
        3,
        64,
        conv1.kernel_size,
        conv1.stride,
        conv1.padding,
    )
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net.conv1(x), conv1(x) + net.conv1.deform(x))
    _runs(net)


def test_deform_after_each_layer():
    net = _resnet18()
    add_deform(net, "after_layers")
    for layer, channels in zip((net.layer1, net.layer2, net.layer3, net.layer4), (64, 128, 256, 512), strict=True):
        assert len(layer) == 3 and isinstance(layer[-1], DeformBlock) and layer[-1].conv.out_channels == channels
    _runs(net)
    with pytest.raises(ValueError, match="placement"):
        add_deform(_resnet18(), "before_fc")
