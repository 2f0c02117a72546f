"""Augmentation recipe names: all that params validation needs to know of the recipes (finegrain.augment.recipes)."""

from __future__ import annotations

RECIPE_NAMES = (
    "none",
    "basic",
    "reportC",
    "trivialaugment",
    "flips",
    "brightness",
    "hflip",
    "vflip",
    "rotation",
    "zoom",
    "cutout",
    "randaugment",
)
