"""Readers for class-per-folder layouts (flower_photos, any ImageFolder tree) with seeded stratified splits."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from finegrain.data.registry import RawDataset, Record
from finegrain.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def list_class_folders(root: Path) -> dict[str, list[Path]]:
    """Map class name -> sorted image files; ignores (and reports) non-image files and folders without images.

    Hidden entries (names starting with '.') are skipped silently.
    """
    if not root.is_dir():
        raise DataError(f"data.root: {root} is not a directory (expected <root>/<class>/<image> folders)")
    classes: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files, others = [], []
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            (files if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
        if others:
            log.warning(
                "data.root: folder %r: ignored %d non-image file(s), e.g. %s",
                folder.name,
                len(others),
                others[0].relative_to(root).as_posix(),
            )
        if files:
            classes[folder.name] = files
        else:
            log.warning("data.root: folder %r has no images; it is not a class", folder.name)
    if len(classes) < 2:
        raise DataError(f"data.root: {root} has {len(classes)} class folder(s) with images; expected at least 2")
    return classes


def stratified_split(n: int, rng: np.random.Generator, val_fraction: float, test_fraction: float) -> list[str]:
    """Split names for n items of one class: a seeded shuffle, then test, val, train portions (>= 1 train)."""
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    if n - n_test - n_val < 1:
        n_test, n_val = max(0, min(n_test, n - 1)), 0
    names = ["train"] * n
    for rank, idx in enumerate(order):
        names[idx] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return names


def read_class_folders(root: Path, name: str, seed: int, val_fraction: float, test_fraction: float) -> RawDataset:
    """Records for <root>/<class>/<image>, split per class with a seeded shuffle."""
    classes = list_class_folders(root)
    rng = np.random.default_rng(seed)
    records = []
    for label, (class_name, files) in enumerate(classes.items()):
        for path, split in zip(files, stratified_split(len(files), rng, val_fraction, test_fraction), strict=True):
            records.append(
                Record(
                    id=f"{class_name}/{path.relative_to(root / class_name).as_posix()}",
                    split=split,
                    label=label,
                    path=path,
                )
            )
    return RawDataset(name, list(classes), records)
