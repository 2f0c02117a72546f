"""A small prepared synthetic dataset (one object per scene, GT boxes) for the detector tests."""

from __future__ import annotations

from pathlib import Path

from finegrain import paths
from finegrain.data.config import DataCfg, SyntheticCfg
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import get_dataset


def synthetic_prepared(dest: Path, train: int, val: int, test: int, size_px: int) -> Path:
    """Prepare the embedded synthetic dataset (per-class counts, 6 classes) into dest; returns dest."""
    synthetic = SyntheticCfg(train_per_class=train, val_per_class=val, test_per_class=test, size_px=size_px)
    raw = get_dataset(DataCfg(synthetic=synthetic), paths.RAW)
    prepare_dataset(raw, dest, size_px=size_px, max_bad_fraction=0.0, workers=1)
    return dest
