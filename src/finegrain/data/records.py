"""What a dataset reader returns: class names and one record per image (split, label, file or array, box)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finegrain.data.catalog import SPLITS

Box = tuple[float, float, float, float]
"""x0, y0, x1, y1 in pixels of the original image."""


@dataclass(frozen=True)
class Record:
    """One image: a file on disk or an in-memory array (embedded datasets)."""

    id: str
    split: str
    label: int
    path: Path | None = None
    array: np.ndarray | None = field(default=None, repr=False, compare=False)
    box: Box | None = None


@dataclass(frozen=True)
class RawDataset:
    name: str
    class_names: list[str]
    records: list[Record]
    skipped: list[dict] = field(default_factory=list)
    """{"id", "path", "reason"} of image files the reader already knows are unusable (e.g. broken symlinks)."""

    def split_counts(self) -> dict[str, int]:
        return {s: sum(r.split == s for r in self.records) for s in SPLITS}
