"""Report A's "modified model": ResNet34's layer4 replaced by a ResNet50-style bottleneck stage."""

from __future__ import annotations

from torch import nn
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock, Bottleneck


def transplant_bottleneck(resnet: ResNet, blocks: int = 3) -> ResNet:
    """Replace layer4 of a BasicBlock ResNet (18/34) by `blocks` ResNet50 layer4 bottlenecks (512 wide, 2048 out).

    As in report A, the first conv of the new stage is ResNet34's own layer4 conv (3x3, 256 -> 512, stride 2; its
    weights are kept) instead of ResNet50's 1x1 1024 -> 512; the stride therefore sits in that conv and the next 3x3
    has stride 1. Everything else is freshly initialised. The stage outputs 2048 channels, so the final nn.Linear
    after it is replaced by a fresh 2048-input one with the same number of classes (its weights are lost).
    """
    first = resnet.layer4[0]
    if not isinstance(first, BasicBlock):
        raise ValueError(f"layer4 starts with {type(first).__name__}; transplant_bottleneck needs a BasicBlock ResNet")
    conv = first.conv1
    width, out = conv.out_channels, conv.out_channels * Bottleneck.expansion
    downsample = nn.Sequential(nn.Conv2d(conv.in_channels, out, 1, stride=conv.stride, bias=False), nn.BatchNorm2d(out))
    block = Bottleneck(conv.in_channels, width, stride=1, downsample=downsample)
    block.conv1 = conv
    resnet.layer4 = nn.Sequential(block, *[Bottleneck(out, width) for _ in range(blocks - 1)])
    _replace_last_linear(resnet, out)
    return resnet


def _replace_last_linear(net: nn.Module, in_features: int) -> None:
    """Swap the net's last nn.Linear (plain `fc` or inside a Dropout + Linear head) for a fresh `in_features` one."""
    name = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
    parent_name, _, attr = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, attr, nn.Linear(in_features, net.get_submodule(name).out_features))
