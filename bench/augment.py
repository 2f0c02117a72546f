"""Per-batch augmentation time: the per-sample CPU path (torchvision v2 per image + collate) vs the batched one.

    python bench/augment.py                                  # basic, reportC, flips; 32 x 256 px -> 224 px
    python bench/augment.py --recipes basic --batch 64 --stored-px 128 --px 112 --device cuda

Random uint8 images of `--stored-px` (the prepared size); prints the median milliseconds per batch over `--repeat`
batches of each path and their ratio. On CUDA the batched path is synchronised before the clock stops.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import default_collate

from finegrain.augment.batched import BatchAugment
from finegrain.augment.recipes import create_transforms


def _per_sample(recipe: str, px: int, images: torch.Tensor) -> float:
    transform = create_transforms(recipe, px, train=True)
    t0 = time.perf_counter()
    default_collate([(transform(image), 0) for image in images])
    return time.perf_counter() - t0


def _batched(augment: BatchAugment, images: torch.Tensor, device: torch.device) -> float:
    t0 = time.perf_counter()
    augment(images.to(device, non_blocking=True), torch.zeros(len(images), dtype=torch.long, device=device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=["basic", "reportC", "flips"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--stored-px", type=int, default=256)
    parser.add_argument("--px", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch, 3, args.stored_px, args.stored_px), dtype=torch.uint8, generator=g)
    print(f"batch {args.batch} x {args.stored_px} px -> {args.px} px, {args.threads} thread(s), batched on {device}")
    print(f"{'recipe':<10} {'per-sample ms':>14} {'batched ms':>11} {'speed-up':>9}")
    for recipe in args.recipes:
        augment = BatchAugment(recipe, args.px)
        _batched(augment, images, device)  # warm-up
        cpu = statistics.median(_per_sample(recipe, args.px, images) for _ in range(args.repeat))
        batched = statistics.median(_batched(augment, images, device) for _ in range(args.repeat))
        print(f"{recipe:<10} {cpu * 1e3:>14.1f} {batched * 1e3:>11.1f} {cpu / batched:>8.1f}x")


if __name__ == "__main__":
    main()
