"""Report PNGs from evaluate's outputs: confusion matrices and robustness curves of all variants."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(matrices: dict[str, pd.DataFrame], path: Path) -> bool:
    """One row-normalised heatmap per variant (rows = true class); False when there is none."""
    if not matrices:
        return False
    plt = _plt()
    cols = min(3, len(matrices))
    rows = math.ceil(len(matrices) / cols)
    n_classes = max(len(m) for m in matrices.values())
    side = 2.2 + 0.18 * min(n_classes, 40)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, side * rows), squeeze=False)
    for ax, (name, matrix) in zip(axes.flat, matrices.items(), strict=False):
        counts = matrix.to_numpy(dtype=float)
        norm = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        if len(matrix) <= 20:
            ax.set_xticks(range(len(matrix)), matrix.columns, rotation=90, fontsize=6)
            ax.set_yticks(range(len(matrix)), matrix.index, fontsize=6)
            for i in range(len(matrix)):
                for j in range(len(matrix)):
                    if counts[i, j]:
                        colour = "white" if norm[i, j] > 0.5 else "black"
                        ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=5, color=colour)
        ax.set(title=name, xlabel="predicted", ylabel="true")
    for ax in list(axes.flat)[len(matrices) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def robustness_png(curves: dict[str, dict[str, pd.DataFrame]], path: Path) -> bool:
    """Accuracy vs ε, one panel per attack, one line per variant; False when no variant has a curve."""
    attacks = sorted({a for per_attack in curves.values() for a in per_attack})
    if not attacks:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(attacks), figsize=(5.5 * len(attacks), 4), squeeze=False, sharey=True)
    for ax, attack in zip(axes[0], attacks, strict=True):
        for name, per_attack in curves.items():
            if attack in per_attack:
                df = per_attack[attack]
                err = 100 * df["accuracy_std"] if "accuracy_std" in df else None
                ax.errorbar(df["eps_255"], 100 * df["accuracy"], yerr=err, marker="o", capsize=3, label=name)
        ax.set(title=f"{attack.upper()} (pixel space)", xlabel="ε (×1/255)", ylabel="accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
