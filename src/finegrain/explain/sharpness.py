"""How sharp or blurry a layer's feature maps look: the variance of the Laplacian, per layer of the feature-map grid.

The variance of the Laplacian (Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy", ICPR 2000) is
the usual focus / blur measure of an image: blurring removes the high spatial frequencies the Laplacian responds to,
so its variance falls. It is measured on each map as the feature-map grid (explain.figures.feature_grid) shows it:
a layer's most active channels, each min-max scaled to [0, 1] (a flat map is 0: no detail) and resized bilinearly
to the input's size, so a layer whose maps are coarse (deeper, a lower resolution) or smooth scores lower. Lower =
blurrier. scipy's 5-point `ndimage.laplace` on the stacked maps (nearest-edge mode: no border ridge).

Upsampling a deep layer's coarse maps lowers its score in any CNN, trained or not, so "deeper layers are blurrier"
is judged against a control: `feature_sharpness_depth` is log(deepest / shallowest layer's sharpness) of the trained
model, `feature_sharpness_depth_untrained` the same of the same architecture freshly initialised (init none, seeded
by the run's seed); what training adds is their difference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from torch.nn import functional as F

from finegrain.explain.layers import capture, feature_layers


def laplacian_variance(maps: torch.Tensor, size: int) -> np.ndarray:
    """(N,) variance of the Laplacian of N (H, W) maps, each min-max scaled to [0, 1] and resized to `size` px."""
    maps = maps.detach().float().cpu()
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    scaled = torch.where(hi > lo, (maps - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(maps))
    resized = F.interpolate(scaled[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    lap = np.stack([ndimage.laplace(m, mode="nearest") for m in resized.numpy().astype(np.float64)])
    return lap.reshape(len(lap), -1).var(axis=1)


def layer_sharpness(maps: torch.Tensor, channels: int, size: int) -> float:
    """Mean variance of the Laplacian over images of a layer's (N, C, H, W) maps: each image's `channels` most
    active maps (highest mean activation, as the feature-map grid picks them) at `size` px."""
    picked = [fmap[fmap.mean(dim=(1, 2)).argsort(descending=True)[:channels]] for fmap in maps]
    return float(np.mean([laplacian_variance(p, size).mean() for p in picked]))


def feature_sharpness(
    model: nn.Module, images: torch.Tensor, channels: int, layers: list[str] | None = None
) -> dict[str, float]:
    """{layer: sharpness} for the feature-map grid's layers of `model` (a Classifier) on `images` in [0, 1],
    shallowest first (`layers`: evaluate.explain.feature_layers, [] or None = the grid's automatic choice)."""
    device = next(model.parameters()).device
    size = images.shape[-1]
    names = feature_layers(model.net, size, list(layers or []) or None)
    maps = capture(model, model.net, names, images.to(device))
    return {name: layer_sharpness(maps[name], channels, size) for name in names}


def sharpness_metrics(per_seed: list[dict[str, float]], digits: int = 6) -> dict:
    """evaluate's `explain` metrics from each seed's {layer: sharpness}: the mean per layer (`feature_sharpness`), and
    the shallowest (`_first`) and deepest (`_last`) layer's mean and, over several seeds, std (what claims compare)."""
    if not per_seed:
        return {}
    layers = list(per_seed[0])
    out: dict = {"feature_sharpness": {n: round(float(np.mean([s[n] for s in per_seed])), digits) for n in layers}}
    for end, name in (("first", layers[0]), ("last", layers[-1])):
        values = [s[name] for s in per_seed]
        out[f"feature_sharpness_{end}"] = round(float(np.mean(values)), digits)
        if len(values) > 1:
            out[f"feature_sharpness_{end}_std"] = round(float(np.std(values, ddof=1)), digits)
    return out


SHARPNESS_FLOOR = 1e-12
"""A layer whose maps are all flat scores 0; its log is taken of this instead."""


def depth_log_ratio(per_layer: dict[str, float]) -> float:
    """log(deepest / shallowest layer's sharpness) of one seed's {layer: sharpness} (< 0: the deepest is blurrier)."""
    values = list(per_layer.values())
    return math.log(max(values[-1], SHARPNESS_FLOOR)) - math.log(max(values[0], SHARPNESS_FLOOR))


def depth_metrics(trained: list[dict[str, float]], untrained: list[dict[str, float]], digits: int = 6) -> dict:
    """`feature_sharpness_depth` (trained) and `feature_sharpness_depth_untrained` (the control): each seed's
    `depth_log_ratio`, mean and, over several seeds, std."""
    out: dict = {}
    for key, per_seed in (("feature_sharpness_depth", trained), ("feature_sharpness_depth_untrained", untrained)):
        if not per_seed:
            continue
        values = [depth_log_ratio(s) for s in per_seed]
        out[key] = round(float(np.mean(values)), digits)
        if len(values) > 1:
            out[f"{key}_std"] = round(float(np.std(values, ddof=1)), digits)
    return out
