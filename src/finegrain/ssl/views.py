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
from torchvision.ops import roi_align

GRAY = (0.299, 0.587, 0.114)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=g) * (high - low) + low


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def random_resized_crop(
    x: torch.Tensor, size: int, min_scale: float, g: torch.Generator | None = None, ratio=(3 / 4, 4 / 3)
) -> torch.Tensor:
    """Per image: a box of area U(min_scale, 1) and aspect ratio log-uniform in `ratio`, resized to size x size."""
    n, _, h, w = x.shape
    area = _uniform(n, min_scale, 1.0, g) * h * w
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), g))
    bw = torch.sqrt(area * aspect).clamp(max=w)
    bh = torch.sqrt(area / aspect).clamp(max=h)
    x0, y0 = torch.rand(n, generator=g) * (w - bw), torch.rand(n, generator=g) * (h - bh)
    boxes = torch.stack([torch.arange(n, dtype=x0.dtype), x0, y0, x0 + bw, y0 + bh], 1).to(x)
    return roi_align(x, boxes, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, gg, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp(min=1e-8), torch.zeros_like(maxc))
    d = delta.clamp(min=1e-8)
    h = torch.where(maxc == r, ((gg - b) / d) % 6, torch.where(maxc == gg, (b - r) / d + 2, (r - gg) / d + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)  # per channel offsets: r, g, b
    return v.unsqueeze(1) - (v * s).unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


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
    per batch), applied to each image with probability p."""
    n = len(x)
    apply = (torch.rand(n, generator=g) < p).view(n, 1, 1, 1).to(x.device)
    out = x
    for op in torch.randperm(4, generator=g).tolist():
        if op == 0:
            f = _uniform(n, 1 - bright * strength, 1 + bright * strength, g).view(n, 1, 1, 1).to(x)
            out = (out * f).clamp(0, 1)
        elif op == 1:
            f = _uniform(n, 1 - contrast * strength, 1 + contrast * strength, g).view(n, 1, 1, 1).to(x)
            mean = _gray(out).mean(dim=(2, 3), keepdim=True)
            out = (f * out + (1 - f) * mean).clamp(0, 1)
        elif op == 2:
            f = _uniform(n, 1 - sat * strength, 1 + sat * strength, g).view(n, 1, 1, 1).to(x)
            out = (f * out + (1 - f) * _gray(out)).clamp(0, 1)
        else:
            shift = _uniform(n, -hue * strength, hue * strength, g).view(n, 1, 1).to(x)
            hsv = _rgb_to_hsv(out)
            hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
            out = _hsv_to_rgb(hsv).clamp(0, 1)
    return torch.where(apply, out, x)


def random_grayscale(x: torch.Tensor, p: float, g: torch.Generator | None = None) -> torch.Tensor:
    apply = (torch.rand(len(x), generator=g) < p).view(-1, 1, 1, 1).to(x.device)
    return torch.where(apply, _gray(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, p: float, sigmas: tuple[float, float], g: torch.Generator | None = None):
    """Per image with probability p: a separable Gaussian blur with sigma ~ U(sigmas) (reflect padding)."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * sigmas[1]))
    sigma = _uniform(n, *sigmas, g).clamp(min=1e-3).view(n, 1)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype).view(1, -1)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).to(x)
    kernel = kernel.repeat_interleave(c, 0)  # (n * c, k)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, kernel.view(n * c, 1, -1, 1), groups=n * c).view(n, c, h, w)
    apply = (torch.rand(n, generator=g) < p).view(n, 1, 1, 1).to(x.device)
    return torch.where(apply, y, x)


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
        flip = (torch.rand(len(x), generator=g) < self.hflip_prob).view(-1, 1, 1, 1)
        x = torch.where(flip, x.flip(3), x)
        x = color_jitter(x, self.cj_strength, self.cj_prob, g)
        x = random_grayscale(x, self.gray_prob, g)
        return gaussian_blur(x, self.blur_prob, self.sigmas, g).clamp(0, 1)
