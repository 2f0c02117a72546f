"""Memory format x precision of the training step, measured on this device (never assumed).

    python bench/formats.py                      # the default variants' models at their sizes
    python bench/formats.py --models resnet18:128 small_cnn:64 --batch 32 --steps 12

Each row runs finegrain's own training step (`train.loop.epoch_totals` with a `Compute` built from
`train.memory_format` / `train.precision`) on random in-memory tensors, so only the step itself is timed.
Pick a variant's `memory_format` / `precision` from the fastest row of its model on the device you train on.
"""

from __future__ import annotations

import argparse
import time

import torch

from finegrain.losses.factory import create_loss
from finegrain.models.factory import create_model
from finegrain.runtime import resolve_device
from finegrain.train.config import TrainCfg
from finegrain.train.loop import Compute, epoch_totals


def step_rate(model_name: str, size: int, batch: int, steps: int, fmt: str, precision: str, device) -> float:
    """Training images per second: `steps` optimizer steps after one warm-up step."""
    torch.manual_seed(0)
    cfg = TrainCfg(data="prepared", init="none", model=model_name, memory_format=fmt, precision=precision)
    compute = Compute.of(cfg, device)
    model = create_model(model_name, 10).to(device, memory_format=compute.memory_format)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    loss = create_loss("ce")
    batches = [(torch.rand(batch, 3, size, size), torch.randint(0, 10, (batch,)))]
    epoch_totals(model, batches, device, loss, opt, compute=compute)  # warm-up (oneDNN / cuDNN plans)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    epoch_totals(model, batches * steps, device, loss, opt, compute=compute)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models", nargs="+", default=["small_cnn:64", "tf_efficientnet_lite0:64", "resnet18:128"], help="name:px"
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    precisions = ["fp32", "bf16"] + (["fp16"] if device.type == "cuda" else [])
    print(f"\ntraining step, batch {args.batch}, {args.steps} steps, {device}, {torch.get_num_threads()} threads\n")
    print("| model | px | memory_format | precision | images/s | vs contiguous fp32 |\n|---|---:|---|---|---:|---:|")
    for spec in args.models:
        name, size = spec.split(":")
        base = None
        for fmt in ("contiguous", "channels_last"):
            for precision in precisions:
                rate = step_rate(name, int(size), args.batch, args.steps, fmt, precision, device)
                base = base or rate
                print(f"| {name} | {size} | {fmt} | {precision} | {rate:.1f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
