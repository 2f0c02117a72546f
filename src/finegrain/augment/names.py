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

BATCHABLE = ("none", "basic", "reportC", "flips", "brightness", "hflip", "vflip", "rotation", "zoom", "cutout")
"""The recipes with a batched form on the training device (augment.batched); the others are per-sample only."""

AUGMENT_ON = ("auto", "cpu", "device")
"""train.augment_on / pretrain.augment_on: where augmentation runs (auto: the device path on CUDA when batchable)."""
