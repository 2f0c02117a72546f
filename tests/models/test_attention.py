"""SE multiplies its input by per-channel gates in [0, 1]; ECA does the same with a 1D conv and far fewer weights."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.ops.misc import SqueezeExcitation as TorchvisionSE

from finegrain.models.attention import ECA, SqueezeExcitation, eca_kernel_size, insert_se, replace_se_with_eca


def test_se_scales_each_channel_by_a_gate_from_its_mean():
    torch.manual_seed(0)
    se, x = SqueezeExcitation(8, reduction=4), torch.randn(2, 8, 5, 5)
    gates = se.gates(x)
    assert gates.shape == (2, 8, 1, 1) and gates.min() >= 0 and gates.max() <= 1
    torch.testing.assert_close(se(x), x * gates)
    mean = x.mean((2, 3))  # squeeze, then excite by hand: sigmoid(W2 relu(W1 mean + b1) + b2)
    hidden = torch.relu(mean @ se.fc1.weight.flatten(1).T + se.fc1.bias)
    torch.testing.assert_close(gates.flatten(1), torch.sigmoid(hidden @ se.fc2.weight.flatten(1).T + se.fc2.bias))


def test_insert_se_after_named_resnet_stages_keeps_parameter_names():
    net = torchvision.models.resnet34(num_classes=5)
    before = set(net.state_dict())
    insert_se(net, ["layer1", "layer4"])
    assert isinstance(net.layer1[-1], SqueezeExcitation) and net.layer1[-1].fc1.in_channels == 64
    assert isinstance(net.layer4[-1], SqueezeExcitation) and net.layer4[-1].fc2.out_channels == 512
    assert not any(isinstance(m, SqueezeExcitation) for m in (*net.layer2, *net.layer3))
    assert before <= set(net.state_dict())  # pretrained weights still load by name
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 5)
    with pytest.raises(ValueError, match="layer9"):
        insert_se(net, ["layer9"])


@pytest.mark.parametrize(("channels", "k"), [(16, 3), (64, 3), (256, 5), (512, 5), (1024, 5)])
def test_eca_kernel_size(channels, k):
    assert eca_kernel_size(channels) == k  # int(|log2(C)/2 + 1/2|), made odd


def test_eca_gates_are_a_1d_conv_over_channel_means():
    torch.manual_seed(0)
    eca, x = ECA(64), torch.randn(2, 64, 4, 4)
    w = eca.conv.weight.flatten()  # k = 3: each gate sees its channel and both neighbours (zero-padded)
    m = torch.nn.functional.pad(x.mean((2, 3)), (1, 1))
    expected = torch.sigmoid(w[0] * m[:, :-2] + w[1] * m[:, 1:-1] + w[2] * m[:, 2:])
    torch.testing.assert_close(eca.gates(x).flatten(1), expected)
    torch.testing.assert_close(eca(x), x * eca.gates(x))


def test_eca_replaces_every_se_in_efficientnet_b0_with_far_fewer_parameters():
    net = torchvision.models.efficientnet_b0(num_classes=3)
    ses = [m for m in net.modules() if isinstance(m, TorchvisionSE)]
    se_params = sum(p.numel() for m in ses for p in m.parameters())
    channels = [m.fc1.in_channels for m in ses]
    total = sum(p.numel() for p in net.parameters())
    assert replace_se_with_eca(net) == 16
    ecas = [m for m in net.modules() if isinstance(m, ECA)]
    eca_params = sum(p.numel() for m in ecas for p in m.parameters())
    assert not any(isinstance(m, TorchvisionSE) for m in net.modules())
    assert [eca_kernel_size(c) for c in channels] == [m.conv.kernel_size[0] for m in ecas]
    assert (se_params, eca_params) == (636_540, 76)
    assert sum(p.numel() for p in net.parameters()) == total - se_params + eca_params
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 3)
