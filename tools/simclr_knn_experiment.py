"""SimCLR vs random init on an image-folder dataset (e.g. ../shared/datasets/cifar10_jpg, read in place).

Trains finegrain's SimCLR (lightly loss and head, batched SimCLR views) and reports kNN accuracy on the test split
every few epochs, plus a linear probe (logistic regression on frozen features) for SimCLR and random init.

    python tools/simclr_knn_experiment.py ../shared/datasets/cifar10_jpg --epochs 20 --out ssl_cifar.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from finegrain.ssl.knn import embed, knn_accuracy
from finegrain.ssl.run import resize_uint8, warmup_cosine
from finegrain.ssl.simclr import SimCLR, backbone_of, nt_xent
from finegrain.ssl.views import BatchSimCLRAugment


def load_folder(root: Path, limit_per_class: int | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for c, name in enumerate(classes):
        files = sorted((root / name).iterdir())[:limit_per_class]
        for f in files:
            images.append(np.asarray(Image.open(f).convert("RGB"), dtype=np.uint8))
            labels.append(c)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels), classes


@torch.no_grad()
def features(backbone, x: torch.Tensor) -> torch.Tensor:
    return embed(backbone, x)


def linear_probe(train_f, train_y, test_f, test_y, num_classes: int, epochs: int = 200) -> float:
    """Multinomial logistic regression on frozen (normalised) features, full-batch L-BFGS, weight decay 1e-4."""
    w = torch.zeros(train_f.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=epochs, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(train_f @ w + b, train_y) + 1e-4 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((test_f @ w + b).argmax(1) == test_y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.06, help="SGD lr at batch 256 (scaled linearly)")
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--cj-strength", type=float, default=0.5)
    ap.add_argument("--min-scale", type=float, default=0.08, help="random resized crop: smallest area share")
    ap.add_argument("--grayscale", type=float, default=0.2, help="random grayscale probability")
    ap.add_argument("--limit-per-class", type=int, default=None)
    ap.add_argument("--knn-every", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train_x, train_y, classes = load_folder(args.root / "train", args.limit_per_class)
    test_x, test_y, _ = load_folder(args.root / "test", args.limit_per_class)
    bank_x, query_x = resize_uint8(train_x, args.size), resize_uint8(test_x, args.size)
    backbone, dim = backbone_of(args.model)

    def evaluate() -> dict:
        bank, query = features(backbone, bank_x), features(backbone, query_x)
        return {
            "knn": knn_accuracy(bank, train_y, query, test_y, len(classes), k=200, temperature=0.1),
            "linear_probe": linear_probe(bank, train_y, query, test_y, len(classes)),
        }

    result = {"args": {k: str(v) for k, v in vars(args).items()}, "train_images": len(train_x), "curve": []}
    result["random_init"] = evaluate()
    print("random init", result["random_init"], flush=True)
    model = SimCLR(backbone, dim, 512, 128)
    lr = args.lr * args.batch_size / 256
    opt = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=5e-4)
    per_epoch = len(train_x) // args.batch_size
    total, warmup = args.epochs * per_epoch, per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, total, warmup))
    aug = BatchSimCLRAugment(
        args.size,
        min_scale=args.min_scale,
        cj_strength=args.cj_strength,
        gray_prob=args.grayscale,
        sigmas=(0.1 * args.size / 224, 2 * args.size / 224),
    )
    loss_fn, g, t0 = nt_xent(args.temperature), torch.Generator().manual_seed(0), time.time()
    for epoch in range(args.epochs):
        model.train()
        order, losses = torch.randperm(len(train_x), generator=g), []
        for i in range(per_epoch):
            batch = train_x[order[i * args.batch_size : (i + 1) * args.batch_size]]
            loss = loss_fn(model(aug(batch, g)), model(aug(batch, g)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "time_s": round(time.time() - t0, 1)}
        if (epoch + 1) % args.knn_every == 0 or epoch + 1 == args.epochs:
            bank, query = features(backbone, bank_x), features(backbone, query_x)
            row["knn"] = knn_accuracy(bank, train_y, query, test_y, len(classes), k=200, temperature=0.1)
        result["curve"].append(row)
        print(row, flush=True)
    result["simclr"] = evaluate()
    print("simclr", result["simclr"], flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
