"""Named augmentation recipes on uint8 CHW tensors (torchvision.transforms.v2); output float in [0, 1].

Normalisation is not part of a recipe: the model applies its own (see models.factory.Classifier).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from finegrain.augment.names import RECIPE_NAMES

Transform = Callable[[torch.Tensor], torch.Tensor]


def _to_float() -> list:
    return [v2.ToDtype(torch.float32, scale=True)]


def _none(size: int) -> list:
    return [v2.Resize(size, antialias=True)]


def _basic(size: int) -> list:
    return [v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True), v2.RandomHorizontalFlip()]


def _report_c(size: int) -> list:
    """Report C: RandomResizedCrop, flip p=0.1, rotation ±30°, colour jitter 0.8–1.2 / hue ±0.1, translate 10%."""
    return [
        v2.RandomResizedCrop(size, antialias=True),
        v2.RandomHorizontalFlip(p=0.1),
        v2.RandomRotation(30),
        v2.ColorJitter(brightness=(0.8, 1.2), contrast=(0.8, 1.2), saturation=(0.8, 1.2), hue=0.1),
        v2.RandomAffine(degrees=0, translate=(0.1, 0.1)),
    ]


def _trivialaugment(size: int) -> list:
    return [
        v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.TrivialAugmentWide(),
    ]


# Report E's augmentation ablation: a square resize plus exactly one augmentation each (brightness ... cutout),
# and RandAugment for comparison.
def _square(size: int) -> list:
    return [v2.Resize(size, antialias=True), v2.CenterCrop(size)]


def _brightness(size: int) -> list:
    return [*_square(size), v2.ColorJitter(brightness=0.3)]


def _hflip(size: int) -> list:
    return [*_square(size), v2.RandomHorizontalFlip()]


def _vflip(size: int) -> list:
    return [*_square(size), v2.RandomVerticalFlip()]


def _rotation(size: int) -> list:
    return [*_square(size), v2.RandomRotation(45)]


def _zoom(size: int) -> list:
    """Zoom in about the centre by up to 50% (scale 1-1.5), same output size."""
    return [*_square(size), v2.RandomAffine(degrees=0, scale=(1.0, 1.5))]


def _cutout(size: int) -> list:
    """Cutout: RandomErasing on the uint8 image (before the float conversion), the patch set to 0."""
    return [*_square(size), v2.RandomErasing(value=0)]


def _randaugment(size: int) -> list:
    return [*_square(size), v2.RandAugment()]


def _flips(size: int) -> list:
    """Horizontal and vertical flips (for classes invariant to them, like the synthetic textures)."""
    return [v2.Resize(size, antialias=True), v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()]


RECIPES: dict[str, Callable[[int], list]] = {
    "none": _none,
    "basic": _basic,
    "reportC": _report_c,
    "trivialaugment": _trivialaugment,
    "flips": _flips,
    "brightness": _brightness,
    "hflip": _hflip,
    "vflip": _vflip,
    "rotation": _rotation,
    "zoom": _zoom,
    "cutout": _cutout,
    "randaugment": _randaugment,
}
if tuple(RECIPES) != RECIPE_NAMES:  # one list of names: names.py validates params, this builds
    raise RuntimeError(f"augment.names and augment.recipes disagree: {sorted(set(RECIPES) ^ set(RECIPE_NAMES))}")


def create_transforms(recipe: str, size_px: int, train: bool) -> Transform:
    """The recipe's training transform, or the plain evaluation resize when `train` is False."""
    if recipe not in RECIPES:
        raise KeyError(f"unknown augment recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    steps = RECIPES[recipe](size_px) if train else _none(size_px)
    return v2.Compose([*steps, *_to_float()])
