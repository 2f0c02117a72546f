"""Batched image kernels with one parameter per image: (N, C, H, W) float in [0, 1] in and out, on any device.

The kernels of SimCLR's views (`ssl.views`) and of the recipes' device path (`augment.batched`). Their random
parameters are drawn elsewhere on the CPU (a seeded torch.Generator) and passed in, so the same draws give the same
images on every device. Written here because torchvision's v2 kernels take one parameter set per call (a batch
would get one crop, one angle, one jitter); kornia batches them but samples its parameters its own way (e.g. no
RandomResizedCrop rejection sampling) and would be a new dependency. Each kernel follows its torchvision v2
counterpart (named in its docstring) on float images; tests/augment/test_batched.py compares them.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from finegrain.data.tensors import to_device

GRAY = (0.299, 0.587, 0.114)


def uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    """n draws of U(low, high) on the CPU."""
    return torch.rand(n, generator=g) * (high - low) + low


def like(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Parameters drawn on the CPU, on x's device (to CUDA from pinned memory, no host sync) and, floats, x's dtype."""
    values = to_device(values, x.device)
    return values.to(x.dtype) if values.is_floating_point() else values


def per_image(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N,) parameters as (N, 1, 1, 1), on x's device and (for floats) dtype, to broadcast over images."""
    return like(values.view(-1, 1, 1, 1), x)


@functools.cache
def _gray_weights(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(GRAY, dtype=dtype, device=device).view(1, 3, 1, 1)  # made once per device, not per batch


def gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma."""
    return (x * _gray_weights(x.dtype, x.device)).sum(1, keepdim=True)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """F.resize to size x size (bilinear, antialiased); the identity when already that size."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """F.resized_crop per image: boxes (N, 4) as pixel edges x0, y0, x1, y1, each resized to size x size.

    roi_align averages ceil(box / size) bilinear samples per output pixel (an antialiased downscale, bilinear
    upscale), all images in one call."""
    index = torch.arange(len(x), dtype=boxes.dtype).view(-1, 1)
    rois = like(torch.cat([index, boxes], 1), x)
    return roi_align(x, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def flip(x: torch.Tensor, chosen: torch.Tensor, dim: int = 3) -> torch.Tensor:
    """F.horizontal_flip (dim 3) or F.vertical_flip (dim 2) of the chosen (N,) bool images."""
    return torch.where(per_image(chosen, x), x.flip(dim), x)


def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """F.adjust_brightness with (N, 1, 1, 1) factors."""
    return (x * factor).clamp(0, 1)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """F.adjust_contrast: blend with the mean luma."""
    mean = gray(x).mean(dim=(2, 3), keepdim=True)
    return (factor * x + (1 - factor) * mean).clamp(0, 1)


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """F.adjust_saturation: blend with the luma."""
    return (factor * x + (1 - factor) * gray(x)).clamp(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, gg, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp(min=1e-8), torch.zeros_like(maxc))
    d = delta.clamp(min=1e-8)
    h = torch.where(maxc == r, ((gg - b) / d) % 6, torch.where(maxc == gg, (b - r) / d + 2, (r - gg) / d + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)  # per channel offsets: r, g, b
    return v.unsqueeze(1) - (v * s).unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """F.adjust_hue with (N, 1, 1, 1) shifts in turns."""
    hsv = rgb_to_hsv(x)
    hsv = torch.stack([(hsv[:, 0] + shift.view(-1, 1, 1)) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
    return hsv_to_rgb(hsv).clamp(0, 1)


JITTER_OPS = (brightness, contrast, saturation, hue)
"""ColorJitter's operations in its numbering (fn_idx 0-3)."""


def jitter_in_order(x: torch.Tensor, factors: list[torch.Tensor | None], order: torch.Tensor) -> torch.Tensor:
    """v2.ColorJitter with each image's own factors (4 x (N,) or None = off) and order (N, 4) (a permutation of
    0-3 per row, on the CPU): at each position, each operation runs on the images that have it there."""
    x = x.clone()
    for position in range(4):
        for op, values in enumerate(factors):
            if values is None:
                continue
            rows = (order[:, position] == op).nonzero().flatten()
            if len(rows):
                picked = like(rows, x)
                x[picked] = JITTER_OPS[op](x[picked], per_image(values[rows], x))
    return x


def affine(
    x: torch.Tensor, angle: torch.Tensor, translate: torch.Tensor, scale: torch.Tensor, mode: str = "nearest"
) -> torch.Tensor:
    """F.affine about the centre without shear, fill 0: angle (N,) degrees, translate (N, 2) pixels, scale (N,).

    The inverse matrix and sampling grid of torchvision's `_get_inverse_affine_matrix` and `_affine_grid`, one
    per image (F.rotate by a is F.affine by -a)."""
    n, _, h, w = x.shape
    rot = torch.deg2rad(angle.double())
    cos, sin = rot.cos() / scale.double(), rot.sin() / scale.double()
    tx, ty = translate.double().unbind(1)
    theta = torch.stack([cos, sin, -(cos * tx + sin * ty), -sin, cos, -(-sin * tx + cos * ty)], 1).view(n, 2, 3)
    theta = like(theta.float().transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h]), x)  # in torchvision's order
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w, device=x.device)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h, device=x.device)
    base = torch.stack([xs.expand(h, w), ys.view(-1, 1).expand(h, w), torch.ones(h, w, device=x.device)], -1)
    grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(theta).view(n, h, w, 2)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def erase(x: torch.Tensor, boxes: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """F.erase with value 0 of integer boxes (N, 4) top, left, height, width, in the chosen (N,) images."""
    _, _, h, w = x.shape
    top, left, bh, bw = (like(v.view(-1, 1), x) for v in boxes.unbind(1))
    rows = torch.arange(h, device=x.device).view(1, -1)
    cols = torch.arange(w, device=x.device).view(1, -1)
    inside_rows = (rows >= top) & (rows < top + bh)
    inside_cols = (cols >= left) & (cols < left + bw)
    hole = inside_rows.unsqueeze(2) & inside_cols.unsqueeze(1) & like(chosen, x).view(-1, 1, 1)
    return x.masked_fill(hole.unsqueeze(1), 0.0)
