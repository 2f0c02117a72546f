"""The one on-disk format of every image dataset the pipeline produces, and its reader.

A dataset directory holds `meta.json` (class names, image size, counts), `index.parquet` (one row per image:
id, split, label, class_name, orig_w, orig_h, box_x0..box_y1 (NaN when no box), generated, shard, row) and
uint8 shards `<split>-NNNNN.npy` of shape (n, size, size, 3), read memory-mapped.

NumPy and pandas only at import: the stages that write or copy shards (prepare, add_generated) never load torch;
a split's items become tensors when read as a Dataset (`ShardSplit.__getitem__`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from finegrain.errors import DataError

if TYPE_CHECKING:
    import torch

INDEX_COLUMNS = [
    "id",
    "split",
    "label",
    "class_name",
    "orig_w",
    "orig_h",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "generated",
    "shard",
    "row",
]


class ShardWriter:
    """Append images of one split to fixed-size .npy shards; collects index rows."""

    def __init__(self, out_dir: Path, split: str, size_px: int, shard_images: int) -> None:
        self.out_dir, self.split, self.size_px, self.shard_images = out_dir, split, size_px, shard_images
        self.rows: list[dict] = []
        self._buffer: list[np.ndarray] = []
        self._shard = 0

    def add(self, image: np.ndarray, row: dict) -> None:
        if image.shape != (self.size_px, self.size_px, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.size_px}x{self.size_px}x3 image, got {image.dtype} {image.shape}")
        self.rows.append(
            {**row, "split": self.split, "shard": f"{self.split}-{self._shard:05d}.npy", "row": len(self._buffer)}
        )
        self._buffer.append(image)
        if len(self._buffer) == self.shard_images:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            np.save(self.out_dir / f"{self.split}-{self._shard:05d}.npy", np.stack(self._buffer))
            self._buffer, self._shard = [], self._shard + 1


def write_dataset(out_dir: Path, rows: Iterable[dict], meta: dict) -> None:
    """Write index.parquet and meta.json for shards already in out_dir."""
    index = pd.DataFrame(list(rows), columns=INDEX_COLUMNS)
    index["label"] = index["label"].astype("int64")
    index["generated"] = index["generated"].astype(bool)
    for col in ("box_x0", "box_y0", "box_x1", "box_y1"):
        index[col] = index[col].astype("float64")
    index.to_parquet(out_dir / "index.parquet", index=False)
    counts = index.groupby("split").size().to_dict()
    (out_dir / "meta.json").write_text(json.dumps({**meta, "counts": counts}, indent=2, sort_keys=True) + "\n")


def box_columns(box: tuple[float, float, float, float] | None) -> dict[str, float]:
    keys = ("box_x0", "box_y0", "box_x1", "box_y1")
    return dict(zip(keys, box if box is not None else (float("nan"),) * 4, strict=True))


@dataclass
class ShardSplit:
    """One split of a shard dataset: images memory-mapped, labels and boxes in memory.

    A map-style torch Dataset (what DataLoader reads: `__len__`, `__getitem__`) whose items are (uint8 CHW tensor,
    label); `image` reads an item as a NumPy array without torch.
    """

    root: Path
    split: str
    index: pd.DataFrame
    class_names: list[str]
    size_px: int

    def __post_init__(self) -> None:
        self._shards = {name: np.load(self.root / name, mmap_mode="r") for name in self.index["shard"].unique()}
        self._shard_of = self.index["shard"].to_numpy()
        self._row_of = self.index["row"].to_numpy()
        self.labels = self.index["label"].to_numpy()

    def __len__(self) -> int:
        return len(self.index)

    def image(self, i: int) -> np.ndarray:
        """HxWx3 uint8 array of item i (a copy: the shards are read-only memory maps)."""
        return np.array(self._shards[self._shard_of[i]][self._row_of[i]])

    def boxes(self) -> np.ndarray:
        """(n, 4) float boxes in stored pixel coordinates, NaN rows where there is none."""
        return self.index[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(dtype=np.float64)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        import torch  # (loaded already wherever items are read as tensors; see the module docstring)

        return torch.from_numpy(self.image(i)).permute(2, 0, 1).contiguous(), int(self.labels[i])

    def subset(self, positions: np.ndarray) -> ShardSplit:
        """A split restricted to the given positions (e.g. a few-shot subset)."""
        return ShardSplit(
            self.root, self.split, self.index.iloc[positions].reset_index(drop=True), self.class_names, self.size_px
        )


def read_meta(root: str | Path) -> dict:
    root = Path(root)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{root}: not a prepared dataset (no meta.json); run `dvc repro` to build it")
    return json.loads(meta_path.read_text())


def open_split(root: str | Path, split: str) -> ShardSplit:
    """Open one split (train/val/test) of a shard dataset directory."""
    root = Path(root)
    meta = read_meta(root)
    index = pd.read_parquet(root / "index.parquet")
    part = index[index["split"] == split].reset_index(drop=True)
    if part.empty:
        remedy = f"; folder datasets take it from data.{split}_fraction > 0" if split in ("val", "test") else ""
        raise DataError(f"{root}: split {split!r} is empty (counts: {meta.get('counts')}){remedy}")
    return ShardSplit(root, split, part, list(meta["class_names"]), int(meta["size_px"]))


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions of a seeded, stratified subset of n items (at least one per class when n allows)."""
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    quota = {c: int(np.floor(n * len(per_class[c]) / len(labels))) for c in classes}
    if n >= len(classes):
        quota = {c: max(1, q) for c, q in quota.items()}
    remaining = n - sum(quota.values())
    for c in rng.permutation(classes):  # hand out the remainder one per class
        if remaining <= 0:
            break
        if quota[c] < len(per_class[c]):
            quota[c] += 1
            remaining -= 1
    picked = np.concatenate([per_class[c][: quota[c]] for c in classes])
    return np.sort(picked[:n])
