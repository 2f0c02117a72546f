"""Dataset names, the sources each supports and the data inputs the stages make: all that params validation needs
to know of the data.

The readers and download lists live in finegrain.data.registry (which builds its specs from this table); keeping the
names apart means a stage that only validates params does not depend on how any dataset is read or fetched.
"""

from __future__ import annotations

DATA_INPUTS = ("prepared", "cropped", "cropped_square", "augmented")
"""Data inputs a variant can train on (each is a directory data/<input> some stage produces)."""

SPLITS = ("train", "val", "test")
"""Every dataset's splits, in this order."""

DATASET_SOURCES: dict[str, tuple[str, ...]] = {
    "synthetic": ("embedded",),
    "flower_photos": ("local", "official", "mirror"),
    "imagefolder": ("local",),
    "flowers102": ("official", "mirror", "local"),
    "cub200": ("official", "mirror", "local"),
    "stanford_dogs": ("official", "mirror", "local"),
    "cinic10": ("official", "mirror", "local"),
    "oxford_pets": ("official", "mirror", "local"),
}
"""data.dataset -> the data.source values it supports (the first is its default where one is natural)."""

SPLIT_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "synthetic": (("split_seed",), "its per-class counts (data.synthetic)"),
    "flower_photos": (("split_seed", "val_fraction", "test_fraction"), ""),
    "imagefolder": (("split_seed", "val_fraction", "test_fraction"), ""),
    "flowers102": ((), "the official trn/val/tst split"),
    "cub200": (("split_seed", "val_fraction"), "the official test split"),
    "stanford_dogs": (("split_seed", "val_fraction"), "the official test split"),
    "cinic10": ((), "the official train/valid/test folders"),
    "oxford_pets": (("split_seed", "val_fraction"), "the official test split"),
}
"""data.dataset -> (the split keys of `data` its reader reads, what decides its splits instead of the others)."""

WITH_BOXES = frozenset({"synthetic", "cub200", "stanford_dogs", "oxford_pets"})
"""Datasets whose records carry an object box (what crop.mode gt and a trained detector need)."""
