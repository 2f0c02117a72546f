"""apply_mods: each mod lands on the model it fits; anything else is a one-line ValueError naming the key."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models.resnet import Bottleneck
from torchvision.ops.misc import SqueezeExcitation as TorchvisionSE

from finegrain.models.attention import ECA, SqueezeExcitation
from finegrain.models.deform import DeformBlock
from finegrain.models.factory import create_model
from finegrain.models.heads import DenseHead, EmbeddingHead
from finegrain.models.mods import MOD_NAMES, apply_mods


def _runs(net, classes=4):
    with torch.no_grad():
        assert net.eval()(torch.rand(1, 3, 32, 32)).shape == (1, classes)


def test_se_defaults_to_report_a_stages():
    net = apply_mods(torchvision.models.resnet18(num_classes=4), "resnet18", {"se": True})
    assert isinstance(net.layer1[-1], SqueezeExcitation) and isinstance(net.layer4[-1], SqueezeExcitation)
    assert sum(isinstance(m, SqueezeExcitation) for m in net.modules()) == 2
    _runs(net)


def test_bottleneck_then_se_in_a_fixed_order_on_a_factory_model():
    model = create_model("resnet34", 4, dropout=0.2)
    apply_mods(model.net, "resnet34", {"se": {"stages": ["layer4"], "reduction": 8}, "bottleneck": True})
    assert isinstance(model.net.layer4[0], Bottleneck) and model.net.layer4[-1].fc1.in_channels == 2048
    assert model.net.fc[1].in_features == 2048
    _runs(model)


def test_eca_deform_and_heads():
    net = apply_mods(torchvision.models.efficientnet_b0(num_classes=4), "efficientnet_b0", {"eca": True})
    assert not any(isinstance(m, TorchvisionSE) for m in net.modules())
    assert any(isinstance(m, ECA) for m in net.modules())
    net = apply_mods(
        torchvision.models.resnet18(num_classes=4),
        "resnet18",
        {"deform": "parallel_conv1", "embedding_head": {"embedding_dim": 32}},
    )
    assert isinstance(net.conv1.deform, DeformBlock) and isinstance(net.fc, EmbeddingHead)
    _runs(net)
    assert net.fc.embedding.shape == (1, 32)
    net = apply_mods(
        torchvision.models.resnet18(num_classes=4),
        "resnet18",
        {"dense_head": {"hidden": [16]}, "bottleneck": False, "se": None},
    )
    assert isinstance(net.fc, DenseHead) and net.fc.fc.in_features == 16
    assert not any(isinstance(m, SqueezeExcitation) for m in net.modules())


@pytest.mark.parametrize(
    ("model", "mods", "message"),
    [
        (
            "resnet18",
            {"eca": True},
            r"^mods\.eca: fits efficientnet_b0-style models with SqueezeExcitation blocks \(got resnet18\)$",
        ),
        ("resnet18", {"attention": True}, r"^mods\.attention: unknown mod"),
        ("efficientnet_b0", {"se": True}, r"^mods\.se: fits torchvision ResNet"),
        ("efficientnet_b0", {"deform": "after_conv1"}, r"^mods\.deform: fits torchvision ResNet"),
        ("resnet50", {"bottleneck": True}, r"^mods\.bottleneck: fits resnet18/resnet34"),
        ("resnet18", {"bottleneck": "yes"}, r"^mods\.bottleneck: expected true or false"),
        ("resnet18", {"deform": "everywhere"}, r"^mods\.deform: expected one of after_conv1"),
        ("resnet18", {"se": {"stages": ["layer5"]}}, r"^mods\.se\.stages: "),
        ("resnet18", {"se": {"ratio": 4}}, r"^mods\.se\.ratio: unknown option"),
        ("resnet18", {"se": 16}, r"^mods\.se: expected true or a mapping"),
        ("resnet18", {"dense_head": True, "embedding_head": True}, r"^mods\.embedding_head: cannot be combined"),
    ],
)
def test_misfits_raise_value_error_naming_the_key(model, mods, message):
    net = torchvision.models.get_model(model)
    with pytest.raises(ValueError, match=message):
        apply_mods(net, model, mods)


def test_mod_names():
    assert set(MOD_NAMES) == {"se", "bottleneck", "eca", "deform", "dense_head", "embedding_head"}
