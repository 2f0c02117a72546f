"""Which layers of a network Grad-CAM and the feature-map grids look at, and how ViT tokens become maps."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Reshape = Callable[[torch.Tensor], torch.Tensor]


def _vit_blocks(net: nn.Module) -> tuple[str, int, tuple[int, int]] | None:
    """(blocks container name, prefix tokens, patch size) of a timm or torchvision ViT, else None."""
    if hasattr(net, "patch_embed") and hasattr(net, "blocks"):  # timm VisionTransformer and relatives
        patch = net.patch_embed.patch_size
        patch = tuple(patch) if isinstance(patch, (tuple, list)) else (patch, patch)
        return "blocks", int(getattr(net, "num_prefix_tokens", 1)), patch
    if hasattr(net, "encoder") and hasattr(net.encoder, "layers") and hasattr(net, "patch_size"):  # torchvision
        return "encoder.layers", 1, (net.patch_size, net.patch_size)
    return None


def token_reshape(prefix_tokens: int, grid: tuple[int, int]) -> Reshape:
    """(N, tokens, C) -> (N, C, H, W): drop the class/register tokens, lay the patches out on their grid."""

    def reshape(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, prefix_tokens:, :]
        return patches.reshape(len(patches), grid[0], grid[1], patches.shape[-1]).permute(0, 3, 1, 2)

    return reshape


def _output_shapes(net: nn.Module, image_px: int, modules: dict[str, nn.Module]) -> dict[str, tuple[int, ...]]:
    """Output shape of each named module (in the order the forward pass finishes them) for one image."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name: str):
        def hook(_module: nn.Module, _inputs, out) -> None:  # returns None: the output is left as it is
            if isinstance(out, torch.Tensor):
                shapes.setdefault(name, tuple(out.shape))

        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in modules.items()]
    try:
        p = next(net.parameters())
        with torch.no_grad():
            net(torch.zeros(1, 3, image_px, image_px, device=p.device, dtype=p.dtype))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def _conv_shapes(net: nn.Module, image_px: int) -> dict[str, tuple[int, ...]]:
    convs = {n: m for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    return {n: s for n, s in _output_shapes(net, image_px, convs).items() if len(s) == 4}


def cam_layer(net: nn.Module, image_px: int, name: str = "auto", min_px: int = 4) -> tuple[str, Reshape | None]:
    """(module name in `net`, reshape transform or None) for Grad-CAM.

    auto: a ViT's last block's first norm (tokens reshaped to the patch grid); a timm CNN's deepest feature stage
    whose map is still at least `min_px` wide at this input size; else the last Conv2d with such a map.
    """
    vit = _vit_blocks(net)
    grid = (image_px // vit[2][0], image_px // vit[2][1]) if vit else None
    if name != "auto":
        net.get_submodule(name)  # fail early on a typo
        return name, token_reshape(vit[1], grid) if vit and name.startswith(vit[0]) else None
    if vit:
        blocks = net.get_submodule(vit[0])
        last = f"{vit[0]}.{len(blocks) - 1}"
        norm = "norm1" if hasattr(blocks[-1], "norm1") else "ln_1"
        return f"{last}.{norm}", token_reshape(vit[1], grid)
    info = getattr(net, "feature_info", None)
    if info is not None:
        stages = [f["module"] for f in info if image_px // f["reduction"] >= min_px]
        if stages:
            return stages[-1], None
    shapes = _conv_shapes(net, image_px)
    wide = [n for n, s in shapes.items() if min(s[2:]) >= min_px] or list(shapes)
    if not wide:
        raise ValueError(f"{type(net).__name__}: no Conv2d layer for Grad-CAM; set evaluate.explain.target_layer")
    return wide[-1], None


def feature_layers(net: nn.Module, image_px: int, names: list[str] | None = None, count: int = 4) -> list[str]:
    """Layers for the feature-map grid: `names`, else up to `count` evenly spaced stages.

    Stages: a timm model's feature stages, a ViT's blocks, else the last Conv2d at each resolution.
    """
    if names:
        for n in names:
            net.get_submodule(n)
        return list(names)
    vit = _vit_blocks(net)
    if vit:
        depth = len(net.get_submodule(vit[0]))
        picks = sorted({round(i * (depth - 1) / max(count - 1, 1)) for i in range(count)})
        return [f"{vit[0]}.{i}" for i in picks]
    info = getattr(net, "feature_info", None)  # timm: the output of each stage (maps of 2 px or more)
    stages = [f["module"] for f in info if image_px // f["reduction"] >= 2] if info is not None else []
    if stages:
        return [stages[round(i * (len(stages) - 1) / max(count - 1, 1))] for i in range(min(count, len(stages)))]
    last_at: dict[tuple[int, ...], str] = {}
    for n, s in _conv_shapes(net, image_px).items():
        last_at[s[2:]] = n
    layers = list(last_at.values())
    if len(layers) > count:
        layers = [layers[round(i * (len(layers) - 1) / (count - 1))] for i in range(count)]
    return layers


@torch.no_grad()
def capture(model: nn.Module, net: nn.Module, names: list[str], images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Outputs of `net`'s named layers while `model` (the wrapper that owns `net`) classifies `images`.

    Token outputs of a ViT come back as (N, C, H, W) maps on the patch grid.
    """
    vit = _vit_blocks(net)
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        net.get_submodule(n).register_forward_hook(lambda _m, _i, out, n=n: outputs.__setitem__(n, out.detach()))
        for n in names
    ]
    try:
        model.eval()
        model(images)
    finally:
        for h in hooks:
            h.remove()
    if vit:
        grid = (images.shape[-2] // vit[2][0], images.shape[-1] // vit[2][1])
        outputs = {n: token_reshape(vit[1], grid)(o) if o.ndim == 3 else o for n, o in outputs.items()}
    return outputs
