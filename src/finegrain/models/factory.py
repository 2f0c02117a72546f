"""`create_model`: one front door for every classifier (torchvision, timm, finegrain's own), with a new head.

Every model is wrapped in `Classifier`, which takes images in [0, 1] and applies its weights' normalisation
inside, so attacks and augmentations work in pixel space.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from finegrain.errors import FinegrainError
from finegrain.models.names import LITE_MODELS, OWN_MODELS, torchvision_names

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BUILDERS: dict[str, Callable[..., nn.Module]] = {}
"""finegrain's own models (names.OWN_MODELS) -> builder."""


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder `fn(num_classes, dropout, **model_args) -> nn.Module` under `name`."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        BUILDERS[name] = fn
        return fn

    return wrap


@register_model("small_cnn")
def _small_cnn(num_classes: int, dropout: float | None = None, width: int = 16, norm: str = "batch") -> nn.Module:
    from finegrain.models.small_cnn import SmallCNN

    return SmallCNN(num_classes, width=width, dropout=dropout or 0.0, norm=norm)


@register_model("small_resnet")
def _small_resnet(num_classes: int, dropout: float | None = None, **model_args) -> nn.Module:
    from finegrain.models.small_resnet import small_resnet

    return small_resnet(num_classes, dropout, **model_args)


if set(BUILDERS) != set(OWN_MODELS):  # one list of names: names.py validates params, this builds
    raise RuntimeError(f"models.names and models.factory disagree: {sorted(set(BUILDERS) ^ set(OWN_MODELS))}")


class Classifier(nn.Module):
    """A network plus the normalisation its weights expect; `head` names its final classifier module."""

    def __init__(self, net: nn.Module, head: str, mean=IMAGENET_MEAN, std=IMAGENET_STD, name: str = "") -> None:
        super().__init__()
        self.net, self.head_name, self.name = net, head, name
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    @property
    def head(self) -> nn.Module:
        return self.net.get_submodule(self.head_name)

    @property
    def head_out_features(self) -> int:
        return [m for m in self.head.modules() if isinstance(m, nn.Linear)][-1].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Freeze or unfreeze everything but the head (frozen BatchNorm layers also stop updating stats)."""
        head_params = {id(p) for p in self.head.parameters()}
        for p in self.net.parameters():
            if id(p) not in head_params:
                p.requires_grad_(trainable)
        self._backbone_frozen = not trainable

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if mode and getattr(self, "_backbone_frozen", False):  # keep frozen BN statistics fixed
            for m in self.net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                    m.eval()
        return self


def _last_linear(net: nn.Module) -> str:
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise FinegrainError(f"model {type(net).__name__} has no nn.Linear classifier to replace")
    return names[-1]


def _replace_head(net: nn.Module, num_classes: int, dropout: float | None) -> str:
    head = _last_linear(net)
    old = net.get_submodule(head)
    new: nn.Module = nn.Linear(old.in_features, num_classes)
    parent_name, _, attr = head.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    if dropout:
        setattr(parent, attr, nn.Sequential(nn.Dropout(dropout), new))
        return f"{head}.1"
    setattr(parent, attr, new)
    return head


def seed_weights_dir(init: str, weights_dir: Path, seed: int) -> Path:
    """Where seed `seed` of a variant loads `init` from: data/weights/simclr/seed<k> (the pretrain stage trains one
    SimCLR backbone per seed, so a variant's seeds replicate the pretraining too), else `weights_dir` itself."""
    return weights_dir / f"seed{seed}" if init == "simclr" else weights_dir


def _load_init(net: nn.Module, init: str, weights_dir: Path | None, name: str) -> None:
    if init in LITE_MODELS:
        path = (weights_dir or Path(f"data/weights/{init}")) / "weights.pt"
        if not path.is_file():
            raise FinegrainError(f"{path}: efficientnet_{init} ImageNet weights missing; run `dvc repro weights`")
        state = torch.load(path, map_location="cpu", weights_only=True)
        head = _last_linear(net)
        state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(head + ".") for k in missing):
            raise FinegrainError(
                f"{path}: weights do not fit {name} (missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
    elif init == "simclr":
        _load_simclr(net, weights_dir or Path("data/weights/simclr"), name)


def _load_simclr(net: nn.Module, weights_dir: Path, name: str) -> None:
    """Load a SimCLR backbone (pretrain stage: {model, model_args, state_dict} without the head) into `net`."""
    path = weights_dir / "weights.pt"
    if not path.is_file():
        raise FinegrainError(
            f"{path}: SimCLR backbone missing; run `dvc repro pretrain` (one backbone per pretrain.seeds)"
        )
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["model"] != name:
        raise FinegrainError(f"{path}: holds a {saved['model']} backbone, not {name} (pretrain.model)")
    head = _last_linear(net)
    try:
        missing, unexpected = net.load_state_dict(saved["state_dict"], strict=False)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[-1].strip()
        raise FinegrainError(f"{path}: weights do not fit {name} ({first}); check pretrain.model_args") from None
    if unexpected or any(not k.startswith(head + ".") for k in missing):
        raise FinegrainError(f"{path}: weights do not fit {name} (missing {missing[:3]}, unexpected {unexpected[:3]})")


def create_model(
    name: str,
    num_classes: int,
    init: str = "none",
    *,
    dropout: float | None = None,
    weights_dir: Path | None = None,
    model_args: dict | None = None,
    mods: dict | None = None,
) -> Classifier:
    """Build `name` with a fresh `num_classes` head, then apply `mods` (see models.mods).

    init: `none` (random), `hub` (torchvision/timm pretrained download; needs internet),
    `lite0|1|2` (offline ImageNet weights for (tf_)efficientnet_lite0|1|2 from data/weights/lite0|1|2),
    `simclr` (the pretrain stage's self-supervised backbone of this model from data/weights/simclr).
    """
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if name in BUILDERS:
        if init == "hub":
            raise FinegrainError(f"init: model {name!r} has no hub weights; use init: none")
        try:
            net = BUILDERS[name](num_classes, dropout, **(model_args or {}))
        except (TypeError, ValueError) as err:
            raise FinegrainError(f"model_args: {err}") from None
        _load_init(net, init, weights_dir, name)
        return _with_mods(net, _last_linear(net), name, mean, std, mods)
    if model_args:
        raise FinegrainError(f"model_args: only finegrain's own models take model_args (got model {name!r})")
    if name in torchvision_names():
        import torchvision

        try:
            net = torchvision.models.get_model(name, weights="DEFAULT" if init == "hub" else None)
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            raise FinegrainError(_offline_message(name, err)) from None
    else:
        import timm

        try:
            net = timm.create_model(name, pretrained=init == "hub")
        except (OSError, RuntimeError) as err:
            raise FinegrainError(_offline_message(name, err)) from None
        if init in LITE_MODELS:
            from finegrain.models.lite import LITE_MEAN, LITE_STD

            mean, std = LITE_MEAN, LITE_STD
        elif init == "hub":
            cfg = net.pretrained_cfg
            mean, std = tuple(cfg.get("mean", mean)), tuple(cfg.get("std", std))
    _load_init(net, init, weights_dir, name)
    head = _replace_head(net, num_classes, dropout)
    return _with_mods(net, head, name, mean, std, mods)


def _with_mods(net: nn.Module, head: str, name: str, mean, std, mods: dict | None) -> Classifier:
    if mods:
        from finegrain.models.heads import DenseHead, EmbeddingHead
        from finegrain.models.mods import apply_mods

        apply_mods(net, name, mods)
        replaced = [n for n, m in net.named_modules() if isinstance(m, (DenseHead, EmbeddingHead))]
        head = replaced[0] if replaced else _last_linear(net)
    return Classifier(net, head, mean, std, name)


def _offline_message(name: str, err: Exception) -> str:
    return (
        f"init: hub could not download {name} weights ({type(err).__name__}); offline, use init: lite0 with "
        f"model efficientnet_lite0, or init: none"
    )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
