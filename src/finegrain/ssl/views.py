"""SimCLR's view augmentation applied to a whole batch at once, with independent random parameters per image.

The same set and parameters as lightly's `SimCLRViewTransform` (random resized crop, horizontal flip, colour jitter
with probability 0.8 in a random order, grayscale p 0.2, Gaussian blur p 0.5): lightly's per-image transforms spend
~5 ms per view on tensor colour jitter alone on our CPUs, several times the model's own cost on small images, while
these batched tensor ops take a fraction of it. `simclr.simclr_transform` stays available as the per-image reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from finegrain.augment.batch_ops import JITTER_OPS, crop_resize, flip, gray, like, per_image, uniform


def random_resized_crop(
    x: torch.Tensor, size: int, min_scale: float, g: torch.Generator | None = None, ratio=(3 / 4, 4 / 3)
) -> torch.Tensor:
    """Per image: a box of area U(min_scale, 1) and aspect ratio log-uniform in `ratio`, resized to size x size."""
    n, _, h, w = x.shape
    area = uniform(n, min_scale, 1.0, g) * h * w
    aspect = torch.exp(uniform(n, math.log(ratio[0]), math.log(ratio[1]), g))
    bw = torch.sqrt(area * aspect).clamp(max=w)
    bh = torch.sqrt(area / aspect).clamp(max=h)
    x0, y0 = torch.rand(n, generator=g) * (w - bw), torch.rand(n, generator=g) * (h - bh)
    return crop_resize(x, torch.stack([x0, y0, x0 + bw, y0 + bh], 1), size)


def color_jitter(
    x: torch.Tensor,
    strength: float,
    p: float,
    g: torch.Generator | None = None,
    bright=0.8,
    contrast=0.8,
    sat=0.8,
    hue=0.2,
) -> torch.Tensor:
    """torchvision ColorJitter (brightness, contrast, saturation, hue; factors drawn per image, one random order
    per batch as lightly's SimCLR views), applied to each image with probability p."""
    n = len(x)
    apply = per_image(torch.rand(n, generator=g) < p, x)
    out = x
    for op in torch.randperm(4, generator=g).tolist():
        spread = (bright, contrast, sat, hue)[op] * strength
        low, high = (-spread, spread) if op == 3 else (1 - spread, 1 + spread)  # hue: a shift in turns
        out = JITTER_OPS[op](out, per_image(uniform(n, low, high, g), x))
    return torch.where(apply, out, x)


def random_grayscale(x: torch.Tensor, p: float, g: torch.Generator | None = None) -> torch.Tensor:
    apply = per_image(torch.rand(len(x), generator=g) < p, x)
    return torch.where(apply, gray(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, p: float, sigmas: tuple[float, float], g: torch.Generator | None = None):
    """Per image with probability p: a separable Gaussian blur with sigma ~ U(sigmas) (reflect padding)."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * sigmas[1]))
    sigma = uniform(n, *sigmas, g).clamp(min=1e-3).view(n, 1)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype).view(1, -1)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = like(kernel / kernel.sum(1, keepdim=True), x)
    kernel = kernel.repeat_interleave(c, 0)  # (n * c, k)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, kernel.view(n * c, 1, -1, 1), groups=n * c).view(n, c, h, w)
    return torch.where(per_image(torch.rand(n, generator=g) < p, x), y, x)


@dataclass(frozen=True)
class BatchSimCLRAugment:
    """uint8 or float (N, 3, H, W) batch -> one float [0, 1] SimCLR view per image, at `size` px."""

    size: int
    min_scale: float = 0.08
    cj_strength: float = 0.5
    cj_prob: float = 0.8
    gray_prob: float = 0.2
    blur_prob: float = 0.5
    sigmas: tuple[float, float] = (0.1, 2.0)
    hflip_prob: float = 0.5

    def __call__(self, images: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        x = random_resized_crop(x, self.size, self.min_scale, g)
        x = flip(x, torch.rand(len(x), generator=g) < self.hflip_prob)
        x = color_jitter(x, self.cj_strength, self.cj_prob, g)
        x = random_grayscale(x, self.gray_prob, g)
        return gaussian_blur(x, self.blur_prob, self.sigmas, g).clamp(0, 1)
