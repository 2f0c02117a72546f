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

WITH_BOXES = frozenset({"synthetic", "cub200", "stanford_dogs", "oxford_pets"})
"""Datasets whose records carry an object box (what crop.mode gt and a trained detector need)."""
