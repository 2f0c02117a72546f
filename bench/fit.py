"""The whole `fit` beside the model's bare step: how close training runs to the model's own speed.

    python bench/fit.py                                   # Lite0 at 224 px and small_cnn at 64 px
    python bench/fit.py --models small_cnn:64:128 --train 512 --val 128 --epochs 2

For each model (`name:px:stored px`) it writes random uint8 shards (train and val splits) to a temp dir, runs the
real train code on them (`train.run.train_variant`: data, augmentation, step, validation, checkpoint, dvclive,
artifacts) and times, on the same machine in the same run, the model's bare fwd+bwd+step on in-memory tensors of
the same batches (shape, layout and precision as the fit chose; its one warm-up step excluded), `--repeat` times in
turn. Prints one row per model, medians over the pairs: images/s of the fit's train pass and of the bare step, their
ratio, the validation, checkpoint and whole-stage seconds apart, and the whole stage's images/s over the bare step's
(setup, first-run probe and artifacts included); then the layout/precision probe table `auto` chose from.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from finegrain.data.shards import ShardWriter, box_columns, write_dataset
from finegrain.losses.factory import create_loss
from finegrain.models.factory import create_model
from finegrain.params import Params
from finegrain.runtime import configure_threads
from finegrain.train.compute import Compute, probe_table
from finegrain.train.run import TrainPaths, train_variant

CLASSES = 10


def write_shards(out: Path, counts: dict[str, int], size: int, seed: int = 0) -> Path:
    """Random uint8 images as a prepared dataset (`counts` images per split, balanced labels)."""
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in counts.items():
        writer = ShardWriter(out, split, size, 4096)
        for i in range(n):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            label = i % CLASSES
            row = {"id": f"{split}-{i}", "label": label, "class_name": f"c{label}", "orig_w": size, "orig_h": size}
            writer.add(image, {**row, **box_columns(None), "generated": False})
        writer.flush()
        rows += writer.rows
    write_dataset(out, rows, {"class_names": [f"c{i}" for i in range(CLASSES)], "size_px": size})
    return out


def bare_rate(model_name: str, size: int, batch: int, batches: int, compute: Compute, lr: float) -> float:
    """fwd+bwd+step images/s on `batches` in-memory batches (one warm-up batch first), as the fit computes."""
    torch.manual_seed(0)
    model = create_model(model_name, CLASSES).to(memory_format=compute.memory_format)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr)
    loss_fn = create_loss("ce")
    data = [
        (torch.rand(batch, 3, size, size).contiguous(memory_format=compute.memory_format), torch.arange(batch) % 10)
        for _ in range(min(batches, 4))
    ]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype=compute.autocast, enabled=compute.autocast is not None):
            loss = loss_fn(model(x), y, model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(*data[0])
    t0 = time.perf_counter()
    for i in range(batches):
        step(*data[i % len(data)])
    return batch * batches / (time.perf_counter() - t0)


def fit_row(spec: str, args: argparse.Namespace, tmp: Path) -> dict:
    """The model's row: medians over `args.repeat` (fit, bare) pairs run in turn, ratios taken pair by pair."""
    name, size, stored = (spec.split(":") + [""])[:3]
    size, stored = int(size), int(stored or size)
    data = write_shards(tmp / f"{name}-data", {"train": args.train, "val": args.val}, stored)
    variant = {
        "data": "prepared",
        "init": "none",
        "model": name,
        "image_size_px": size,
        "epochs": args.epochs,
        "batch_size": args.batch,
        "augment": args.augment,
        **dict(kv.split("=", 1) for kv in args.set),
    }
    params = Params(variants={"bench": variant})
    cfg = params.variant("bench")
    compute = Compute.of(cfg, torch.device("cpu"))
    batches = args.train // args.batch
    seen = batches * args.batch * args.epochs
    pairs = []
    for run in range(args.repeat):
        where = TrainPaths(
            data=data,
            weights=tmp / "no-weights",
            models=tmp / f"{name}-models-{run}",
            live=tmp / f"{name}-live-{run}",
            ckpt=tmp / f"{name}-ckpt-{run}",
            features=tmp / "features",
        )
        t0 = time.perf_counter()
        train_variant(params, "bench", where)
        stage_s = time.perf_counter() - t0
        history = pd.read_csv(where.models / "seed0" / "history.csv")
        bare = bare_rate(name, size, args.batch, batches, compute, cfg.lr)
        train_s = float(history["epoch_time_s"].sum())
        pairs.append(
            {
                "fit img/s": seen / train_s,
                "bare img/s": bare,
                "fit/bare": seen / train_s / bare,
                "train s": train_s,
                "val s": float(history["val_time_s"].sum()),
                "ckpt s": float(history["checkpoint_time_s"].sum()),
                "stage s": stage_s,
                "whole/bare": seen / stage_s / bare,
            }
        )
    return {"model": f"{name} {size} px", "compute": compute.label} | {
        key: float(np.median([p[key] for p in pairs])) for key in pairs[0]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0:224:256", "small_cnn:64:128"])
    ap.add_argument("--train", type=int, default=256, help="training images (random)")
    ap.add_argument("--val", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--augment", default="basic")
    ap.add_argument("--set", nargs="*", default=[], help="more variant keys, e.g. num_workers=2 (strings)")
    ap.add_argument("--repeat", type=int, default=3, help="(fit, bare) pairs per model; medians are printed")
    args = ap.parse_args()
    configure_threads(int(os.environ.get("FINEGRAIN_THREADS", 0)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            rows.append(fit_row(spec, args, Path(tmp)))
    load = os.getloadavg()[0]
    print(
        f"\nfit vs bare step: {args.train} train / {args.val} val images, {args.epochs} epochs, batch {args.batch}, "
        f"augment {args.augment}, {torch.get_num_threads()} threads, median of {args.repeat} (fit, bare) pairs, "
        f"load {load:.2f}\n"
    )
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    print("\nlayout/precision probe (images/s of the training step; `auto` picks the fastest, see train.compute)\n")
    print(probe_table([(s.split(":")[0], int(s.split(":")[1])) for s in args.models]))


if __name__ == "__main__":
    main()
