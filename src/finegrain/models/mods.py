"""`apply_mods`: the one front door for the reports' architecture changes, chosen by a small dict in params.

    {"bottleneck": true}                                   report A: bottleneck layer4 in ResNet18/34
    {"se": {"stages": ["layer1", "layer4"], "reduction": 16}}   report A: SE after those ResNet stages (or `true`)
    {"deform": "after_conv1" | "parallel_conv1" | "after_layers"}   report B: deformable convs in a ResNet
    {"eca": true}                                          report B: ECA instead of EfficientNet's SE blocks
    {"dense_head": {"hidden": [512, 512, 512], "dropout": 0.4}}   report E: VGG19's dense head (or `true`)
    {"embedding_head": {"embedding_dim": 128}}             report B: embedding + classifier for TCEL (or `true`)

A false or null value leaves the mod off. Apply mods after loading pretrained weights: some rename parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock
from torchvision.ops.misc import SqueezeExcitation as TorchvisionSE

from finegrain.errors import ConfigError
from finegrain.models.attention import insert_se, replace_se_with_eca
from finegrain.models.bottleneck import transplant_bottleneck
from finegrain.models.deform import PLACEMENTS, add_deform
from finegrain.models.heads import DenseHead, EmbeddingHead, replace_head
from finegrain.models.names import MOD_NAMES

RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def apply_mods(net: nn.Module, name: str, mods: dict[str, Any]) -> nn.Module:
    """Apply `mods` to `net` (model `name`) in place, in MOD_NAMES order; raise ConfigError (a ValueError) naming
    the key when a mod is unknown, malformed or does not fit the model."""
    for key in mods:
        if key not in MOD_NAMES:
            raise ConfigError(f"mods.{key}: unknown mod; expected one of {', '.join(MOD_NAMES)}")
    if mods.get("dense_head") and mods.get("embedding_head"):
        raise ConfigError("mods.embedding_head: cannot be combined with mods.dense_head (both replace the head)")
    for key in MOD_NAMES:
        if mods.get(key) not in (None, False):
            _APPLY[key](net, name, mods[key])
    return net


def _require(fits: bool, key: str, what: str, name: str) -> None:
    if not fits:
        raise ConfigError(f"mods.{key}: fits {what} (got {name})")


def _options(key: str, value: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """`true` -> defaults; a mapping -> defaults updated by it (unknown options rejected)."""
    if value is True:
        return dict(defaults)
    if not isinstance(value, dict):
        raise ConfigError(f"mods.{key}: expected true or a mapping with {', '.join(defaults)} (got {value!r})")
    for option in value:
        if option not in defaults:
            raise ConfigError(f"mods.{key}.{option}: unknown option; expected one of {', '.join(defaults)}")
    return {**defaults, **value}


def _flag(key: str, value: Any) -> None:
    if value is not True:
        raise ConfigError(f"mods.{key}: expected true or false (got {value!r})")


def _se(net: nn.Module, name: str, value: Any) -> None:
    opts = _options("se", value, {"stages": ["layer1", "layer4"], "reduction": 16})
    _require(isinstance(net, ResNet), "se", "torchvision ResNet models", name)
    stages = opts["stages"]
    if not stages or any(s not in RESNET_STAGES for s in stages):
        raise ConfigError(f"mods.se.stages: expected a non-empty list of {', '.join(RESNET_STAGES)} (got {stages!r})")
    if not isinstance(opts["reduction"], int) or opts["reduction"] < 1:
        raise ConfigError(f"mods.se.reduction: expected a positive integer (got {opts['reduction']!r})")
    insert_se(net, list(stages), opts["reduction"])


def _bottleneck(net: nn.Module, name: str, value: Any) -> None:
    _flag("bottleneck", value)
    _require(
        isinstance(net, ResNet) and isinstance(net.layer4[0], BasicBlock),
        "bottleneck",
        "resnet18/resnet34-style models (BasicBlock layer4)",
        name,
    )
    transplant_bottleneck(net)


def _deform(net: nn.Module, name: str, value: Any) -> None:
    if value not in PLACEMENTS:
        raise ConfigError(f"mods.deform: expected one of {', '.join(PLACEMENTS)} (got {value!r})")
    _require(isinstance(net, ResNet), "deform", "torchvision ResNet models", name)
    add_deform(net, value)


def _eca(net: nn.Module, name: str, value: Any) -> None:
    _flag("eca", value)
    _require(
        any(isinstance(m, TorchvisionSE) for m in net.modules()),
        "eca",
        "efficientnet_b0-style models with SqueezeExcitation blocks",
        name,
    )
    replace_se_with_eca(net)


def _dense_head(net: nn.Module, name: str, value: Any) -> None:
    opts = _options("dense_head", value, {"hidden": [512, 512, 512], "dropout": 0.4})
    _require(any(isinstance(m, nn.Linear) for m in net.modules()), "dense_head", "models with an nn.Linear head", name)
    replace_head(net, lambda c_in, n: DenseHead(c_in, n, tuple(opts["hidden"]), float(opts["dropout"])))


def _embedding_head(net: nn.Module, name: str, value: Any) -> None:
    opts = _options("embedding_head", value, {"embedding_dim": 128})
    _require(
        any(isinstance(m, nn.Linear) for m in net.modules()), "embedding_head", "models with an nn.Linear head", name
    )
    replace_head(net, lambda c_in, n: EmbeddingHead(c_in, n, int(opts["embedding_dim"])))


_APPLY: dict[str, Callable[[nn.Module, str, Any], None]] = {
    "bottleneck": _bottleneck,
    "se": _se,
    "deform": _deform,
    "eca": _eca,
    "dense_head": _dense_head,
    "embedding_head": _embedding_head,
}
