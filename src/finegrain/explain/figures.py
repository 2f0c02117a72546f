"""PNG grids: heatmap overlays per image and method, and feature maps per layer.

Each grid is one mosaic drawn with a single `imshow` plus text labels (fast: one axes, not one per tile).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CELL_PX = 96  # tiles are resized (nearest) to this size so that small images stay visible


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _tile(array: np.ndarray) -> np.ndarray:
    """(h, w[, 3]) -> (CELL_PX, CELL_PX[, 3]) by nearest-neighbour resizing."""
    rows = np.arange(CELL_PX) * array.shape[0] // CELL_PX
    cols = np.arange(CELL_PX) * array.shape[1] // CELL_PX
    return array[rows][:, cols]


def _rgb(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().cpu().permute(1, 2, 0).clamp(0, 1).numpy()


def _colour(values: np.ndarray, cmap: str) -> np.ndarray:
    import matplotlib

    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    return matplotlib.colormaps[cmap](scaled)[..., :3]


def _save_mosaic(tiles: list[list[np.ndarray]], col_titles, row_titles, path: Path, title: str = "") -> None:
    plt = _plt()
    gap = 4
    rows, cols = len(tiles), max(len(r) for r in tiles)
    canvas = np.ones((rows * (CELL_PX + gap), cols * (CELL_PX + gap), 3))
    for i, row in enumerate(tiles):
        for j, tile in enumerate(row):
            y, x = i * (CELL_PX + gap), j * (CELL_PX + gap)
            canvas[y : y + CELL_PX, x : x + CELL_PX] = tile
    scale = 0.012
    fig = plt.figure(figsize=(canvas.shape[1] * scale + 1.4, canvas.shape[0] * scale + 0.6))
    ax = fig.add_axes((1.2 / (canvas.shape[1] * scale + 1.4), 0.02, 0.99 - 1.2 / (canvas.shape[1] * scale + 1.4), 0.9))
    ax.imshow(canvas.clip(0.0, 1.0), interpolation="nearest")
    for j, text in enumerate(col_titles):
        ax.text(j * (CELL_PX + gap) + CELL_PX / 2, -6, text, ha="center", va="bottom", fontsize=6)
    for i, text in enumerate(row_titles):
        ax.text(-8, i * (CELL_PX + gap) + CELL_PX / 2, text, ha="right", va="center", fontsize=6)
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cam_grid(
    images: torch.Tensor, cams: dict[str, np.ndarray], titles: list[str], path: Path, alpha: float = 0.45
) -> None:
    """One column per image: the image, then its heatmap overlay for each method (rows)."""
    rgb = [_rgb(x) for x in images]
    tiles = [[_tile(x) for x in rgb]]
    for maps in cams.values():
        tiles.append([_tile((1 - alpha) * x + alpha * _colour(m, "jet")) for x, m in zip(rgb, maps, strict=True)])
    _save_mosaic(tiles, titles, ["image", *cams], path, "heatmaps of the predicted class (true→predicted)")


def feature_grid(image: torch.Tensor, maps: dict[str, torch.Tensor], channels: int, path: Path) -> None:
    """One row per layer: the image, then the `channels` most active feature maps (C, H, W) of that layer."""
    tiles, row_titles = [], []
    for name, fmap in maps.items():
        fmap = fmap.detach().float().cpu()
        top = fmap.mean(dim=(1, 2)).argsort(descending=True)[:channels]
        tiles.append([_tile(_rgb(image))] + [_tile(_colour(fmap[c].numpy(), "viridis")) for c in top.tolist()])
        row_titles.append(f"{name}\n{fmap.shape[0]}×{fmap.shape[1]}×{fmap.shape[2]}")
    cols = ["image", *[f"top {k + 1}" for k in range(channels)]]
    _save_mosaic(tiles, cols, row_titles, path, "most active feature maps per layer (first image)")
