"""Throughput benchmark: naive ImageFolder loop vs finegrain's shards loop vs the model's own limit.

    python bench/throughput.py --root ../shared/datasets/flower_photos --images 640 --size 128 --model resnet18

Prints one markdown table; every row is measured in this run, on the same model, image size and images, including
head-only training (mode frozen) with cached features vs the backbone every epoch (`--head-epochs`, 0 = skip).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from finegrain.augment.recipes import create_transforms
from finegrain.data.folders import read_class_folders
from finegrain.data.prepare import prepare_dataset
from finegrain.data.records import RawDataset
from finegrain.data.shards import open_split
from finegrain.data.transformed import Transformed
from finegrain.evaluate.metrics import predict
from finegrain.models.factory import create_model


def train_images_per_s(model: nn.Module, loader, max_batches: int) -> float:
    """fwd+bwd+step images per second over up to max_batches (first batch excluded as warm-up)."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    seen, start = 0, None
    for i, (x, y) in enumerate(loader):
        if i == 1:
            start, seen = time.perf_counter(), 0
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        seen += len(y)
        if i >= max_batches:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("../shared/datasets/flower_photos"))
    ap.add_argument("--images", type=int, default=640)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--head-epochs", type=int, default=10, help="head-only rows: epochs; 0 = skip them")
    args = ap.parse_args()
    batches = args.images // args.batch
    rows = []
    raw = read_class_folders(args.root, "bench", 0, 0.0, 0.0)
    records = raw.records[:: max(1, len(raw.records) // args.images)][: args.images]
    n_classes = len(raw.class_names)

    # 1. naive: ImageFolder + PIL transforms + DataLoader (the reports' code)
    naive_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(args.size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    folder = datasets.ImageFolder(str(args.root), naive_tf)
    subset = Subset(folder, list(range(0, len(folder), max(1, len(folder) // args.images)))[: args.images])
    torch.manual_seed(0)
    model = create_model(args.model, n_classes).net
    loader = DataLoader(subset, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    rows.append(("naive ImageFolder + PIL + DataLoader loop", train_images_per_s(model, loader, batches)))

    # 2. finegrain: prepare once (timed against naive PIL open+resize), then the shard loop
    t0 = time.perf_counter()
    for r in records:
        with Image.open(r.path) as img:
            img.convert("RGB").resize((args.size, args.size))
    naive_decode = len(records) / (time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        t0 = time.perf_counter()
        prepare_dataset(
            RawDataset(
                "bench",
                raw.class_names,
                [dataclasses.replace(r, split="test" if i % 10 == 0 else "train") for i, r in enumerate(records)],
            ),
            prepared,
            args.size,
            0.0,
        )
        prepare_rate = len(records) / (time.perf_counter() - t0)
        train = Transformed(open_split(prepared, "train"), create_transforms("basic", args.size, train=True))
        model = create_model(args.model, n_classes)
        loader = DataLoader(train, batch_size=args.batch, shuffle=True, num_workers=0)
        rows.append(("finegrain loop from prepared shards", train_images_per_s(model, loader, batches)))
        evaluation = Transformed(open_split(prepared, "train"), create_transforms("basic", args.size, train=False))
        _, _, eval_rate = predict(model, evaluation, torch.device("cpu"), 128)
        head_rows = []
        if args.head_epochs:  # mode frozen, augment none: the same head trained 3 ways (see bench/head_only.py)
            from head_only import head_cfg, head_only_rows

            cfg = head_cfg(args.model, "none", args.head_epochs, args.batch, args.size)
            head_rows = head_only_rows(prepared, cfg, None, val_split="test")

    # 3. the model's own limit: random in-memory tensors of the same shape
    model = create_model(args.model, n_classes)
    fake = [
        (torch.rand(args.batch, 3, args.size, args.size), torch.randint(0, n_classes, (args.batch,))) for _ in range(4)
    ]
    rows.append(
        ("model limit (random in-memory tensors)", train_images_per_s(model, fake * (batches // 4 + 1), batches))
    )

    limit = rows[-1][1]
    print(
        f"\n{args.model}, {args.size} px, batch {args.batch}, {len(records)} images of {args.root.name}, "
        f"{torch.get_num_threads()} threads\n"
    )
    print("| measurement | images/s | % of model limit |\n|---|---:|---:|")
    for name, rate in rows:
        print(f"| train: {name} | {rate:.1f} | {100 * rate / limit:.0f}% |")
    print(f"| prepare (decode+resize+shard, {len(records)} images) | {prepare_rate:.1f} | |")
    print(f"| naive PIL open+resize | {naive_decode:.1f} | |")
    print(f"| evaluate (inference from shards) | {eval_rate:.1f} | |")
    for name, seconds, _ in head_rows:
        speedup = head_rows[0][1] / seconds
        print(f"| head-only, {args.head_epochs} epochs: {name} | {seconds:.1f} s ({speedup:.1f}x) | |")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "repro"], capture_output=True, check=False)
    print(f"| no-op `dvc repro` (everything cached) | {time.perf_counter() - t0:.1f} s | |")
    print(f"| peak RSS | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB | |")


if __name__ == "__main__":
    main()
