"""Report A's transplant: ResNet34's layer4 becomes a ResNet50-style bottleneck stage led by its own 3x3 conv."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

from finegrain.models.bottleneck import transplant_bottleneck


def test_bottleneck_stage_starts_with_resnet34_layer4_conv():
    torch.manual_seed(0)
    net = torchvision.models.resnet34(num_classes=7)
    conv, weight = net.layer4[0].conv1, net.layer4[0].conv1.weight.detach().clone()
    layer3 = {k: v.clone() for k, v in net.layer3.state_dict().items()}
    transplant_bottleneck(net)
    first = net.layer4[0]
    assert len(net.layer4) == 3 and all(isinstance(b, Bottleneck) for b in net.layer4)
    assert first.conv1 is conv and torch.equal(first.conv1.weight, weight)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (256, 512, (3, 3), (2, 2))
    assert first.conv2.stride == (1, 1)  # the transplanted conv already halves the resolution
    assert first.conv3.out_channels == 2048 and first.downsample[0].stride == (2, 2)
    assert (net.fc.in_features, net.fc.out_features) == (2048, 7)
    assert all(torch.equal(v, net.layer3.state_dict()[k]) for k, v in layer3.items())
    with torch.no_grad():
        assert net.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 7)
        assert net.layer4(torch.rand(1, 256, 4, 4)).shape == (1, 2048, 2, 2)


def test_bottleneck_keeps_a_dropout_head():
    net = torchvision.models.resnet18()
    net.fc = nn.Sequential(nn.Dropout(0.2), nn.Linear(512, 4))  # the factory's head with dropout
    transplant_bottleneck(net)
    assert isinstance(net.fc[0], nn.Dropout) and (net.fc[1].in_features, net.fc[1].out_features) == (2048, 4)


def test_bottleneck_needs_a_basicblock_resnet():
    with pytest.raises(ValueError, match="BasicBlock"):
        transplant_bottleneck(torchvision.models.resnet50())
