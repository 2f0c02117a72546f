"""Head-only (mode: frozen) training: cached backbone features vs running the frozen backbone every epoch.

    python bench/head_only.py --root ../shared/datasets/flower_photos --images 600 --size 112 --epochs 10

Prepares `--images` images of a class-folder dataset (80% train, 10% val), then trains the same head with the same
seed three ways and prints one markdown table: backbone every epoch, cached features computed in this run (cold),
and cached features loaded from data/features (warm: another lr, seed or head on the same backbone and data).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from finegrain.augment.recipes import create_transforms
from finegrain.data.folders import read_class_folders
from finegrain.data.prepare import prepare_dataset
from finegrain.data.records import RawDataset
from finegrain.data.shards import open_split
from finegrain.data.transformed import Transformed
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.config import TrainCfg
from finegrain.train.features import cached_features
from finegrain.train.loop import fit


def prepare_subset(root: Path, out: Path, images: int, size: int) -> Path:
    """`images` evenly spaced images of a class-folder tree as shards: 10% val, 10% test (unused), the rest train."""
    raw = read_class_folders(root, "bench", 0, 0.0, 0.0)
    records = raw.records[:: max(1, len(raw.records) // images)][:images]
    which = {0: "val", 5: "test"}
    split = [dataclasses.replace(r, split=which.get(i % 10, "train")) for i, r in enumerate(records)]
    prepare_dataset(RawDataset("bench", raw.class_names, split), out, size, 0.0)
    return out


def head_cfg(model: str, init: str, epochs: int, batch: int, size: int, **overrides) -> TrainCfg:
    """The head-only config every bench row trains: mode frozen, augment none (so cached features apply exactly)."""
    return TrainCfg(
        data="prepared",
        init=init,
        model=model,
        mode="frozen",
        augment="none",
        epochs=epochs,
        batch_size=batch,
        image_size_px=size,
        **overrides,
    )


def head_splits(prepared: Path, cfg: TrainCfg, val_split: str = "val"):
    """(train split, train dataset, val dataset) of prepared shards with `cfg`'s transforms."""
    train_base = open_split(prepared, "train")
    train = Transformed(train_base, create_transforms(cfg.augment, cfg.image_size_px, train=True))
    val = Transformed(open_split(prepared, val_split), create_transforms(cfg.augment, cfg.image_size_px, train=False))
    return train_base, train, val


def head_only_rows(
    prepared: Path, cfg: TrainCfg, weights_dir: Path | None, val_split: str = "val"
) -> list[tuple[str, float, float]]:
    """(name, seconds, best val accuracy) for backbone-every-epoch, cached cold and cached warm."""
    cpu = torch.device("cpu")
    train_base, train, val = head_splits(prepared, cfg, val_split)
    inputs = [prepared / "index.parquet", *([weights_dir / "weights.pt"] if weights_dir else [])]

    def model():
        seed_everything(0)
        return create_model(cfg.model, len(train_base.class_names), cfg.init, weights_dir=weights_dir)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        net = model()
        t0 = time.perf_counter()
        history, _ = fit(net, train, val, cfg, 0, cpu, Path(tmp) / "a.pt")
        rows.append(("backbone every epoch", time.perf_counter() - t0, history.best_val_acc))
        for name in ("cached features, cold (extraction included)", "cached features, warm (loaded)"):
            net = model()
            t0 = time.perf_counter()
            features = cached_features(net, cfg, train, val, 0, cpu, inputs, Path(tmp) / "features")
            history, _ = fit(net, train, val, cfg, 0, cpu, Path(tmp) / f"{len(rows)}.pt", features=features)
            rows.append((name, time.perf_counter() - t0, history.best_val_acc))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("../shared/datasets/flower_photos"))
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default="tf_efficientnet_lite0")
    ap.add_argument("--init", default="lite0")
    ap.add_argument("--weights", type=Path, default=Path("data/weights/lite0"), help="the init's weights directory")
    args = ap.parse_args()
    cfg = head_cfg(args.model, args.init, args.epochs, args.batch, args.size, lr=0.01)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare_subset(args.root, Path(tmp) / "prepared", args.images, args.size)
        rows = head_only_rows(prepared, cfg, args.weights if args.init != "none" else None)
    print(
        f"\n{args.model} (init {args.init}), mode frozen, augment none, {args.size} px, batch {args.batch}, "
        f"{args.epochs} epochs, {args.images} images of {args.root.name}, {torch.get_num_threads()} threads\n"
    )
    print("| head-only training | seconds | speed-up | best val acc |\n|---|---:|---:|---:|")
    for name, seconds, acc in rows:
        print(f"| {name} | {seconds:.1f} | {rows[0][1] / seconds:.1f}x | {acc:.4f} |")


if __name__ == "__main__":
    main()
