"""The model's bare step beside the whole fit, per layout and precision, on the device it finds: does the data
path keep up?

    python bench/fit.py                          # Lite0 at 224 px and small_cnn at 64 px, on cuda if available
    python bench/fit.py --device cpu --quick     # seconds: small_cnn at 32 px, one epoch, one pair
    python bench/fit.py --models small_cnn:64:128 --train 512 --val 128 --epochs 2 --set num_workers=2

For each model (`name:px:stored px`) it writes random uint8 shards (train and val splits) to a temp dir and, for
every layout (contiguous, channels_last) and precision (fp32; bf16 where the device has it; fp16 on CUDA) the device
supports, runs the real train code on them (`train.run.train_variant`: data, augmentation, step, validation,
checkpoint, dvclive, artifacts) with `train.memory_format` and `train.precision` set, and times, on the same device
in the same run, the model's bare fwd+bwd+step on in-memory tensors already on the device (same batches, layout and
precision; its one warm-up step excluded), `--repeat` times in turn. Prints one table, medians over the pairs:
images/s of the bare step and of the fit's train pass (the `epoch_time_s` of its history), their ratio, and
`data-bound` = yes when fit/bare < DATA_BOUND (loading, decoding, augmentation and the host-to-device copy cost more
than a fifth of the step's own speed).
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
from finegrain.runtime import configure_threads, resolve_device
from finegrain.train.compute import LAYOUTS, Compute
from finegrain.train.run import TrainPaths, train_variant

CLASSES = 10
DATA_BOUND = 0.8
"""fit/bare below this: the data path costs more than a fifth of the step's own speed."""
COLUMNS = ["model", "px", "batch", "format", "precision", "bare img/s", "fit img/s", "fit/bare", "data-bound"]
QUICK = {"models": ["small_cnn:32:32"], "train": 64, "val": 32, "epochs": 1, "batch": 16, "repeat": 1}


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


def precisions(device: torch.device) -> list[str]:
    """The precisions `device` runs: fp32; bf16 where it has bf16 kernels (CPU: oneDNN bf16); fp16 on CUDA only."""
    if device.type == "cuda":  # the one CUDA branch of what is measured
        return ["fp32", *(["bf16"] if torch.cuda.is_bf16_supported() else []), "fp16"]
    return ["fp32", *(["bf16"] if torch.ops.mkldnn._is_mkldnn_bf16_supported() else [])]


def bare_rate(
    model_name: str, size: int, batch: int, batches: int, compute: Compute, lr: float, device: torch.device
) -> float:
    """fwd+bwd+step images/s on `batches` batches already on `device` (one warm-up batch first), as the fit steps."""
    torch.manual_seed(0)
    model = create_model(model_name, CLASSES).to(device, memory_format=compute.memory_format)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr)
    loss_fn = create_loss("ce")
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    data = [
        (
            torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=compute.memory_format),
            torch.arange(batch, device=device) % CLASSES,
        )
        for _ in range(min(batches, 4))
    ]

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        with compute.autocast_context(device):
            loss = loss_fn(model(x), y, model)
        opt.zero_grad(set_to_none=True)
        if compute.scaler is None:
            loss.backward()
            opt.step()
        else:  # fp16: scaled as the fit scales it
            compute.scaler.scale(loss).backward()
            compute.scaler.step(opt)
            compute.scaler.update()

    step(*data[0])
    sync()
    t0 = time.perf_counter()
    for i in range(batches):
        step(*data[i % len(data)])
    sync()
    return batch * batches / (time.perf_counter() - t0)


def fit_rows(spec: str, args: argparse.Namespace, device: torch.device, tmp: Path) -> list[dict]:
    """The model's rows, one per (layout, precision): medians over `args.repeat` (fit, bare) pairs run in turn, the
    ratio taken pair by pair."""
    name, size, stored = (spec.split(":") + [""])[:3]
    size, stored = int(size), int(stored or size)
    data = write_shards(tmp / f"{name}-{size}-data", {"train": args.train, "val": args.val}, stored)
    batches = args.train // args.batch  # the fit drops the last partial batch
    seen = batches * args.batch * args.epochs
    rows = []
    for fmt in LAYOUTS:
        for precision in precisions(device):
            variant = {
                "data": "prepared",
                "init": "none",
                "model": name,
                "image_size_px": size,
                "epochs": args.epochs,
                "batch_size": args.batch,
                "augment": args.augment,
                "memory_format": fmt,
                "precision": precision,
                **dict(kv.split("=", 1) for kv in args.set),
            }
            params = Params(base={"device": str(device)}, variants={"bench": variant})
            cfg = params.variant("bench")
            pairs = []
            for run in range(args.repeat):
                out = tmp / f"{name}-{size}-{fmt}-{precision}-{run}"
                where = TrainPaths(
                    data=data,
                    weights=tmp / "no-weights",
                    models=out / "models",
                    live=out / "live",
                    ckpt=out / "ckpt",
                    features=out / "features",
                )
                train_variant(params, "bench", where)
                train_s = float(pd.read_csv(where.models / "seed0" / "history.csv")["epoch_time_s"].sum())
                compute = Compute.of(cfg, device)  # a fresh GradScaler per pair
                bare = bare_rate(name, size, args.batch, batches, compute, cfg.lr, device)
                pairs.append({"bare img/s": bare, "fit img/s": seen / train_s, "fit/bare": seen / train_s / bare})
            median = {key: float(np.median([p[key] for p in pairs])) for key in pairs[0]}
            row = {"model": name, "px": size, "batch": args.batch, "format": fmt, "precision": precision, **median}
            rows.append(row | {"data-bound": "yes" if row["fit/bare"] < DATA_BOUND else "no"})
    return rows


def markdown(rows: list[dict]) -> str:
    """The rows as a markdown table of COLUMNS (rates to 1 decimal, ratios to 2)."""

    def cell(key: str, value) -> str:
        return f"{value:.2f}" if key == "fit/bare" else f"{value:.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * 3 + "---|" * 2 + "---:|" * 3 + "---|"]
    lines += ["| " + " | ".join(cell(k, row[k]) for k in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, cuda:1, ...")
    ap.add_argument("--quick", action="store_true", help=f"a seconds-long smoke run: {QUICK}")
    ap.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0:224:256", "small_cnn:64:128"])
    ap.add_argument("--train", type=int, default=256, help="training images (random)")
    ap.add_argument("--val", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--augment", default="basic")
    ap.add_argument("--set", nargs="*", default=[], help="more variant keys, e.g. num_workers=2 (strings)")
    ap.add_argument("--repeat", type=int, default=3, help="(fit, bare) pairs per row; medians are printed")
    args = ap.parse_args(argv)
    if args.quick:
        vars(args).update(QUICK)
    if args.train < args.batch:
        ap.error(f"--train {args.train}: needs at least one full batch of --batch {args.batch}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_threads(int(os.environ.get("FINEGRAIN_THREADS", 0)), "native")
    device = resolve_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            rows += fit_rows(spec, args, device, Path(tmp))
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(
        f"\nbare step vs whole fit on {device}{threads}: {args.train} train / {args.val} val images, {args.epochs} "
        f"epochs, augment {args.augment}{', ' + ' '.join(args.set) if args.set else ''}, median of {args.repeat} "
        f"(fit, bare) pairs{' (--quick)' if args.quick else ''}, load {os.getloadavg()[0]:.2f}; "
        f"data-bound: fit/bare < {DATA_BOUND}\n"
    )
    print(markdown(rows))


if __name__ == "__main__":
    main()
