"""The recipes on whole uint8 batches on the training device, each image with its own random parameters.

A batchable recipe (`BATCHED`) is the steps of its per-sample torchvision v2 pipeline (`augment.recipes`): every
step draws its parameters for all images of a batch at once, from the distributions torchvision draws them from
(RandomResizedCrop's 10 tries of scale and log-ratio with its centre-crop fallback, flip probabilities, rotation
angles, ColorJitter's factors and per-image random order, RandomAffine's whole-pixel translation and scale,
RandomErasing's tries), on the CPU from the path's own seeded generator; `augment.batch_ops` applies them to the
batch on its device. The loader only collates the stored fixed-size uint8 images; the batch becomes float [0, 1]
once on the device and the model normalises it (as on the CPU path). CutMix/MixUp follow, with torchvision's own
v2 transforms on the device batch (`augment.mix`), today's semantics exactly (timm's Mixup pairs each image with
the reversed batch, not its neighbour, and draws from NumPy's global generator). TrivialAugment and RandAugment
(one of 14 ops per image) stay per-sample on the CPU. tests/augment/test_batched.py compares both paths' parameter
distributions, kernels and images.

Differences a run may see: the same seed draws other numbers than the per-sample path (the images differ, their
distribution does not); the steps compute on float images, where torchvision's per-sample steps round to uint8
after each one; the crop's antialiased resize is roi_align's average of bilinear samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from finegrain.augment import batch_ops as ops
from finegrain.augment.names import BATCHABLE

Params = dict[str, torch.Tensor]


def _box_tries(n: int, size: tuple[int, int], scale, ratio, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten tries per image of a box of area U(scale) x h x w and log-uniform aspect ratio (RandomResizedCrop,
    RandomErasing): sides sqrt(area x aspect) and sqrt(area / aspect), rounded, (n, 10) each."""
    area = torch.empty(n, 10).uniform_(*scale, generator=g).double() * (size[0] * size[1])
    aspect = torch.exp(torch.empty(n, 10).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g)).double()
    return torch.sqrt(area * aspect).round().long(), torch.sqrt(area / aspect).round().long()


def _first_fit(fits: torch.Tensor, *sides: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Whether any try fits, and each of `sides` at the first try that fits (torchvision's loop breaks there)."""
    first = fits.int().argmax(1, keepdim=True)
    return fits.any(1), *(side.gather(1, first).flatten() for side in sides)


def _randint(high: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """torch.randint(0, high) per image (high >= 1)."""
    return (torch.rand(len(high), generator=g) * high).long().clamp(max=high - 1)


class Step:
    """One recipe step: `params` draws every image's parameters (on the CPU), `apply` transforms the batch."""

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        return {}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.params(len(x), x.shape[-2], x.shape[-1], g))


@dataclass(frozen=True)
class Resize(Step):
    """v2.Resize of square images to size x size (with CenterCrop(size) a no-op after it)."""

    size: int

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        return ops.resize(x, self.size)


@dataclass(frozen=True)
class ResizedCrop(Step):
    """v2.RandomResizedCrop(size, scale, ratio)."""

    size: int
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        cw, ch = _box_tries(n, (h, w), self.scale, self.ratio, g)
        found, cw, ch = _first_fit((cw > 0) & (cw <= w) & (ch > 0) & (ch <= h), cw, ch)
        in_ratio = w / h  # torchvision's fallback after 10 misses: the centre crop of the nearest ratio
        if in_ratio < min(self.ratio):
            fw, fh = w, int(round(w / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            fw, fh = int(round(h * max(self.ratio))), h
        else:
            fw, fh = w, h
        cw, ch = torch.where(found, cw, fw), torch.where(found, ch, fh)
        top, left = _randint(h - ch + 1, g), _randint(w - cw + 1, g)
        top, left = torch.where(found, top, (h - ch) // 2), torch.where(found, left, (w - cw) // 2)
        return {"top": top, "left": left, "height": ch, "width": cw}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        left, top = p["left"].float(), p["top"].float()
        boxes = torch.stack([left, top, left + p["width"], top + p["height"]], 1)
        return ops.crop_resize(x, boxes, self.size)


@dataclass(frozen=True)
class Flip(Step):
    """v2.RandomHorizontalFlip(p) (dim 3) or v2.RandomVerticalFlip(p) (dim 2)."""

    p: float = 0.5
    dim: int = 3

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        return {"chosen": torch.rand(n, generator=g) < self.p}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        return ops.flip(x, p["chosen"], self.dim)


@dataclass(frozen=True)
class Rotate(Step):
    """v2.RandomRotation(degrees): nearest, about the centre, same size, fill 0."""

    degrees: float

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        return {"angle": ops.uniform(n, -self.degrees, self.degrees, g)}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        n = len(x)
        return ops.affine(x, -p["angle"], torch.zeros(n, 2), torch.ones(n))


@dataclass(frozen=True)
class Jitter(Step):
    """v2.ColorJitter with its factor ranges (None: off); hue as a (low, high) shift."""

    brightness: tuple[float, float] | None = None
    contrast: tuple[float, float] | None = None
    saturation: tuple[float, float] | None = None
    hue: tuple[float, float] | None = None

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        p = {"order": torch.rand(n, 4, generator=g).argsort(1)}  # a uniform random permutation per image
        for name in ("brightness", "contrast", "saturation", "hue"):
            bounds = getattr(self, name)
            if bounds is not None:
                p[name] = ops.uniform(n, *bounds, g)
        return p

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        factors = [p.get(name) for name in ("brightness", "contrast", "saturation", "hue")]
        return ops.jitter_in_order(x, factors, p["order"])


@dataclass(frozen=True)
class Affine(Step):
    """v2.RandomAffine(degrees=0, translate, scale): whole-pixel shifts up to translate x size, nearest, fill 0."""

    translate: tuple[float, float] | None = None
    scale: tuple[float, float] | None = None

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        shift = torch.zeros(n, 2)
        if self.translate is not None:
            dx, dy = self.translate[0] * w, self.translate[1] * h
            shift = torch.stack([ops.uniform(n, -dx, dx, g), ops.uniform(n, -dy, dy, g)], 1).round()
        scale = torch.ones(n) if self.scale is None else ops.uniform(n, *self.scale, g)
        return {"translate": shift, "scale": scale}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        return ops.affine(x, torch.zeros(len(x)), p["translate"], p["scale"])


@dataclass(frozen=True)
class Erase(Step):
    """v2.RandomErasing(p, scale, ratio, value=0): 10 tries of area and log-ratio; none fits, no hole."""

    p: float = 0.5
    scale: tuple[float, float] = (0.02, 0.33)
    ratio: tuple[float, float] = (0.3, 3.3)

    def params(self, n: int, h: int, w: int, g: torch.Generator) -> Params:
        chosen = torch.rand(n, generator=g) < self.p
        eh, ew = _box_tries(n, (h, w), self.scale, self.ratio, g)  # RandomErasing: height = sqrt(area x aspect)
        found, eh, ew = _first_fit((eh < h) & (ew < w), eh, ew)
        eh, ew = torch.where(found, eh, 1), torch.where(found, ew, 1)  # no hole: any box
        top, left = _randint(h - eh + 1, g), _randint(w - ew + 1, g)
        return {"chosen": chosen & found, "boxes": torch.stack([top, left, eh, ew], 1)}

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        return ops.erase(x, p["boxes"], p["chosen"])


def _report_c(size: int) -> list[Step]:
    return [
        ResizedCrop(size),
        Flip(0.1),
        Rotate(30),
        Jitter((0.8, 1.2), (0.8, 1.2), (0.8, 1.2), (-0.1, 0.1)),
        Affine(translate=(0.1, 0.1)),
    ]


BATCHED: dict[str, Callable[[int], list[Step]]] = {
    "none": lambda size: [Resize(size)],
    "basic": lambda size: [ResizedCrop(size, scale=(0.6, 1.0)), Flip()],
    "reportC": _report_c,
    "flips": lambda size: [Resize(size), Flip(dim=3), Flip(dim=2)],
    "brightness": lambda size: [Resize(size), Jitter(brightness=(0.7, 1.3))],
    "hflip": lambda size: [Resize(size), Flip(dim=3)],
    "vflip": lambda size: [Resize(size), Flip(dim=2)],
    "rotation": lambda size: [Resize(size), Rotate(45)],
    "zoom": lambda size: [Resize(size), Affine(scale=(1.0, 1.5))],
    "cutout": lambda size: [Resize(size), Erase()],
}
"""Each batchable recipe's steps, in the order of its per-sample pipeline in augment.recipes."""
if tuple(BATCHED) != BATCHABLE:  # one list of names: names.py validates params, this builds
    raise RuntimeError(f"augment.names and augment.batched disagree: {sorted(set(BATCHED) ^ set(BATCHABLE))}")


def as_uint8(image: torch.Tensor) -> torch.Tensor:
    """The device path's per-sample transform: the stored uint8 image as it is (collated, then augmented)."""
    return image


class BatchAugment:
    """A batchable recipe, then optionally CutMix/MixUp (`mix`, a torchvision v2 transform), on uint8 (N, 3, S, S)
    batches on their device -> (float [0, 1] images (N, 3, size, size), labels or soft targets).

    `start_epoch(size, seed)` sets the epoch's image size and reseeds the generator every random parameter comes
    from, so the path draws nothing from the global generators (and `data.prefetch.Ahead` may still prefetch).
    """

    def __init__(self, recipe: str, size: int, mix: Callable | None = None) -> None:
        if recipe not in BATCHED:
            raise KeyError(f"augment recipe {recipe!r} has no batched form; batchable: {', '.join(BATCHED)}")
        self.recipe, self.mix = recipe, mix
        self.start_epoch(size, 0)

    def start_epoch(self, size: int, seed: int) -> None:
        self.size, self.steps = size, BATCHED[self.recipe](size)
        self.generator = torch.Generator().manual_seed(seed)

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """The recipe's steps on a uint8 batch of square images."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != images.shape[-2]:
            raise ValueError(f"expected a uint8 (N, C, S, S) batch, got {images.dtype} {tuple(images.shape)}")
        x = images.float().div_(255.0)
        for step in self.steps:
            x = step(x, self.generator)
        return x

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images(images)
        if self.mix is None:
            return x, labels
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        with torch.random.fork_rng(devices=[]):  # torchvision's CutMix/MixUp draw from the CPU global generator
            torch.default_generator.manual_seed(seed)
            return self.mix(x, labels)
