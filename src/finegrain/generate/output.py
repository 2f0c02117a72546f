"""Write what the generate stage produces: generated images as shard datasets and sample grids (the `augmented` input:
finegrain.data.augmented)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from finegrain.data.shards import ShardWriter, box_columns, write_dataset


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
