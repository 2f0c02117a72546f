"""Report A's 8-model head-only transfer sweep end to end: the naive loop vs finegrain's prepare + cached features.

    python bench/sweep.py --root ../shared/datasets/flower_photos --images 500 --size 112 --epochs 10 --threads 1

Naive (the reports' code): ImageFolder over the JPEGs + PIL Resize/CenterCrop/ToTensor/Normalize + DataLoader, the
frozen backbone (requires_grad False) + the new linear head, forward every epoch (train + val pass); measured for one
epoch per model and extrapolated to `--epochs`. finegrain: prepare the images once into shards, then per model cached
backbone features + `--epochs` head epochs with train.loop.fit. Same images, split, batch, seed and random weights
(hub weights need internet; the timing is what matters). Model construction is excluded on both sides.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from head_only import head_cfg, head_splits, prepare_subset
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from finegrain.data.shards import open_split
from finegrain.models.factory import create_model
from finegrain.runtime import seed_everything
from finegrain.train.features import cached_features
from finegrain.train.loop import fit

MODELS = ["resnet18", "resnet34", "resnet50", "resnet101", "vgg16", "vgg19", "efficientnet_v2_s", "efficientnet_v2_m"]


def naive_epoch_s(name: str, root: Path, ids: dict[str, list[str]], size: int, batch: int) -> float:
    """Seconds for one naive epoch (train pass over the train images, then a val pass) of `name`, head only."""
    tf = transforms.Compose(
        [
            transforms.Resize(size),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    folder = datasets.ImageFolder(str(root), tf)
    where = {Path(p).relative_to(root).as_posix(): i for i, (p, _) in enumerate(folder.samples)}
    seed_everything(0)
    model = create_model(name, len(folder.classes))
    net, head = model.net, model.head
    for p in net.parameters():
        p.requires_grad = False
    for p in head.parameters():
        p.requires_grad = True
    opt = torch.optim.AdamW(head.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    net.train()
    for x, y in DataLoader(Subset(folder, [where[i] for i in ids["train"]]), batch_size=batch, shuffle=True):
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(Subset(folder, [where[i] for i in ids["val"]]), batch_size=batch * 2):
            correct += int((net(x).argmax(1) == y).sum())
    return time.perf_counter() - t0


def finegrain_s(name: str, prepared: Path, epochs: int, size: int, batch: int, tmp: Path) -> tuple[float, float]:
    """Seconds for cached features of `name` (extracted here, cold), and for `epochs` head epochs (train.loop.fit)."""
    cfg = head_cfg(name, "none", epochs, batch, size, lr=0.01)
    cpu = torch.device("cpu")
    train_base, train, val = head_splits(prepared, cfg)
    seed_everything(0)
    net = create_model(name, len(train_base.class_names))
    t0 = time.perf_counter()
    features = cached_features(net, cfg, train, val, 0, cpu, [prepared / "index.parquet"], tmp / "features")
    t1 = time.perf_counter()
    fit(net, train, val, cfg, 0, cpu, tmp / f"{name}.pt", features=features)
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("../shared/datasets/flower_photos"))
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root, n, rows = args.root.resolve(), args.epochs, []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        t0 = time.perf_counter()
        prepared = prepare_subset(root, tmp / "prepared", args.images, args.size)
        prepare_s = time.perf_counter() - t0
        ids = {s: list(open_split(prepared, s).index["id"]) for s in ("train", "val")}
        for name in args.models:
            naive = naive_epoch_s(name, root, ids, args.size, args.batch)
            feats, head = finegrain_s(name, prepared, n, args.size, args.batch, tmp)
            rows.append((name, naive, feats + head))
            print(
                f"{name}: naive epoch {naive:.1f} s; finegrain features {feats:.1f} s + fit {head:.1f} s",
                flush=True,
            )
    print(
        f"\nhead-only sweep, random weights, {args.size} px, batch {args.batch}, {n} epochs, {args.images} images of "
        f"{root.name} ({len(ids['train'])} train, {len(ids['val'])} val), {torch.get_num_threads()} threads\n"
    )
    print(
        f"| model | naive 1 epoch (measured) s | naive {n} epochs (extrapolated x{n}) s "
        f"| finegrain features + {n} head epochs s | speed-up |\n|---|---:|---:|---:|---:|"
    )
    for name, naive, fg in rows:
        print(f"| {name} | {naive:.1f} | {naive * n:.1f} | {fg:.1f} | {naive * n / fg:.1f}x |")
    naive_total, fg_total = sum(r[1] for r in rows) * n, sum(r[2] for r in rows) + prepare_s
    print(f"| prepare once (decode+resize+shard) | | | {prepare_s:.1f} | |")
    print(
        f"| **sweep end to end** (finegrain incl. prepare) | {naive_total / n:.1f} | {naive_total:.1f} "
        f"| {fg_total:.1f} | **{naive_total / fg_total:.1f}x** |"
    )


if __name__ == "__main__":
    main()
