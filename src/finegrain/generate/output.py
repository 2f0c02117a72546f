"""Write what the generate stage produces: generated images as shard datasets, sample grids, the `augmented` input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from finegrain.data.shards import ShardWriter, box_columns, open_split, read_meta, write_dataset


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def upsample_uint8(images: torch.Tensor, size: int) -> np.ndarray:
    """(N, 3, s, s) uint8 -> (N, size, size, 3) uint8 (bicubic when enlarging, antialiased when shrinking)."""
    x = images.float()
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=size < x.shape[-1], align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def generated_rows(method: str, labels: np.ndarray, class_names: list[str], native_px: int) -> list[dict]:
    """Index rows (without split/shard/row) of generated images: no box, generated=True, id gen/<method>/<k>."""
    return [
        {
            "id": f"gen/{method}/{k:06d}",
            "label": int(label),
            "class_name": class_names[int(label)],
            "orig_w": native_px,
            "orig_h": native_px,
            **box_columns(None),
            "generated": True,
        }
        for k, label in enumerate(labels)
    ]


def write_generated(
    out: Path,
    method: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str],
    size_px: int,
    checks: dict[str, dict] | None = None,
) -> None:
    """A shard dataset in `out` with a single `train` split of the generated images upsampled to size_px;
    `checks` (finegrain.checks: does the generator work) go to its meta.json."""
    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(out, "train", size_px, 4096)
    pixels = upsample_uint8(images, size_px)
    for image, row in zip(pixels, generated_rows(method, labels.numpy(), class_names, images.shape[-1]), strict=True):
        writer.add(image, row)
    writer.flush()
    meta = {
        "class_names": class_names,
        "size_px": size_px,
        "generated": {"method": method, "native_px": images.shape[-1]},
        "checks": checks or {},
    }
    write_dataset(out, writer.rows, meta)


def save_grid(path: Path, images: torch.Tensor, labels: torch.Tensor, num_classes: int, per_row: int = 8) -> None:
    """One row per class of up to `per_row` uint8 images (N, 3, s, s), 2 px gaps, enlarged to >= 48 px cells."""
    s = images.shape[-1]
    scale = max(1, -(-48 // s))
    cell = s * scale + 2
    grid = np.full((num_classes * cell + 2, per_row * cell + 2, 3), 255, np.uint8)
    for c in range(num_classes):
        for j, i in enumerate(torch.nonzero(labels == c).flatten()[:per_row].tolist()):
            tile = images[i].permute(1, 2, 0).numpy().repeat(scale, 0).repeat(scale, 1)
            grid[2 + c * cell : c * cell + cell, 2 + j * cell : j * cell + cell] = tile
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def per_class_quota(real_labels: np.ndarray, num_classes: int, ratio: float, available: np.ndarray) -> np.ndarray:
    """Generated images to add per class: round(ratio x real count), capped by what was generated."""
    real = np.bincount(real_labels, minlength=num_classes)
    return np.minimum(np.round(ratio * real).astype(int), available)


def write_augmented(src: Path, generated: Path, dst: Path, ratio: float) -> dict:
    """`dst` = dataset `src` with generated images (from shard dataset `generated`) appended to its train split.

    Per class, round(ratio x real training images) generated images are added (the first ones of that class).
    Val and test shards are copied unchanged, so generated images can never reach them.
    """
    meta, index = read_meta(src), pd.read_parquet(src / "index.parquet")
    gen = open_split(generated, "train")
    num_classes = len(meta["class_names"])
    if gen.class_names != meta["class_names"]:
        raise ValueError(f"{generated}: classes {gen.class_names} differ from {src}: {meta['class_names']}")
    if gen.size_px != meta["size_px"]:
        raise ValueError(f"{generated}: {gen.size_px} px images, {src} has {meta['size_px']} px")
    dst.mkdir(parents=True, exist_ok=True)
    real = open_split(src, "train")
    quota = per_class_quota(real.labels, num_classes, ratio, np.bincount(gen.labels, minlength=num_classes))
    picked = np.concatenate([np.flatnonzero(gen.labels == c)[: quota[c]] for c in range(num_classes)]).astype(int)
    writer = ShardWriter(dst, "train", meta["size_px"], 4096)
    columns = [c for c in real.index.columns if c not in ("split", "shard", "row")]
    for part, positions in ((real, range(len(real))), (gen, np.sort(picked))):
        records = part.index[columns].to_dict("records")
        for i in positions:
            writer.add(part.image(int(i)), records[int(i)])
    writer.flush()
    rows = writer.rows
    for split in ("val", "test"):
        part = index[index["split"] == split]
        for shard in part["shard"].unique():
            shutil.copyfile(src / shard, dst / shard)
        rows += part.to_dict("records")
    counts = {"real_train": len(real), "generated_train": int(len(picked)), "per_class_generated": quota.tolist()}
    extra = {k: v for k, v in meta.items() if k not in ("counts",)}
    extra["checks"] = {**meta.get("checks", {}), **read_meta(generated).get("checks", {})}  # crops' and generator's
    write_dataset(dst, rows, {**extra, "augmented": {"source": str(src), "generated": str(generated), **counts}})
    return counts
