"""The `augmented` input (stage add_generated): a dataset with generated images added to its train split.

Shards are copied as NumPy arrays: the stage never loads torch (finegrain.generate.output writes the generated
images themselves).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from finegrain.data.shards import ShardWriter, open_split, read_meta, write_dataset


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
