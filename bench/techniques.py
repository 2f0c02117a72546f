"""CPU (or GPU) time per training epoch of every technique option of the reports, on real images.

    python bench/techniques.py --root ../shared/datasets/flower_photos --size 128 --train-images 256

Each option (finegrain.techniques) trains through the real train stage code (train_variant) on a seeded stratified
subset of --train-images images; the table gives the measured seconds per epoch on that subset, images per second,
and the epoch time extrapolated to the dataset's whole training split (labelled as such).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from finegrain import paths
from finegrain.data.folders import read_class_folders
from finegrain.data.prepare import prepare_dataset
from finegrain.data.records import RawDataset
from finegrain.init_weights import export_init_weights
from finegrain.params import Params
from finegrain.runtime import configure_threads
from finegrain.techniques import TECHNIQUES
from finegrain.train.run import TrainPaths, train_variant


def subset(raw: RawDataset, train_images: int, eval_images: int, seed: int) -> RawDataset:
    """A seeded stratified subset: train_images train records, eval_images each for val and test."""
    rng = np.random.default_rng(seed)
    picked = []
    for split, n in (("train", train_images), ("val", eval_images), ("test", eval_images)):
        records = [r for r in raw.records if r.split == split]
        per_class = max(1, n // len(raw.class_names))
        for label in range(len(raw.class_names)):
            members = [r for r in records if r.label == label]
            picked += [members[i] for i in sorted(rng.permutation(len(members))[:per_class])]
    return dataclasses.replace(raw, records=picked)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("../shared/datasets/flower_photos"))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--train-images", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=1, help="per option (two_phase options run both phases)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    ap.add_argument("--only", nargs="*", default=None, help="option names (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args()
    configure_threads(args.threads, "native")
    out = args.out.resolve() if args.out else None
    raw = read_class_folders(args.root.resolve(), "bench", 0, 0.15, 0.15)
    full_train = raw.split_counts()["train"]
    names = args.only or list(TECHNIQUES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        picked = subset(raw, args.train_images, 2 * len(raw.class_names), 0)
        train_count = picked.split_counts()["train"]
        prepare_dataset(picked, paths.PREPARED, args.size, 0.0)
        export_init_weights(paths.WEIGHTS)
        for name in names:
            option = TECHNIQUES[name]
            variant = {"data": "prepared", "init": "none", "image_size_px": args.size, "batch_size": args.batch}
            variant.update(option)
            variant["epochs"] = max(args.epochs, option.get("epochs", 1)) if "phase1_epochs" in option else args.epochs
            variant.pop("early_stopping_patience", None)
            params = Params(train={}, variants={name: variant})
            where = TrainPaths(
                paths.PREPARED,
                paths.init_weights("none"),
                paths.model_dir(name),
                paths.LIVE / name,
                paths.CKPT / name,
                paths.FEATURES,
            )
            summary = train_variant(params, name, where)["seeds"]["0"]
            n = min(params.variant(name).train_images or train_count, train_count)
            per_epoch = summary["epoch_time_s"]
            rows.append(
                {
                    "option": name,
                    "model": variant.get("model", "small_cnn"),
                    "train_images": n,
                    "s_per_epoch": round(per_epoch, 2),
                    "img_per_s": round(n / per_epoch, 1),
                    "s_per_epoch_full_train_extrapolated": round(full_train / (n / per_epoch), 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.root.name}, {args.size} px, batch {args.batch}, {full_train} training images in the full split")
    print("| option | model | s/epoch (measured, images) | img/s | s/epoch on the full train split (extrapolated) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['option']} | {r['model']} | {r['s_per_epoch']} ({r['train_images']}) | {r['img_per_s']} "
            f"| {r['s_per_epoch_full_train_extrapolated']} |"
        )
    if out:
        out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
