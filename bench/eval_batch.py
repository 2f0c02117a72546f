"""Test-pass throughput per batch, and what `evaluate.batch_size: auto` picks (`finegrain.evaluate.batch`).

    python bench/eval_batch.py                                  # Lite0 at 224 px, small_cnn at 64 px, CPU
    python bench/eval_batch.py --device cuda --models tf_efficientnet_lite0:224

Times each batch of `CANDIDATES` (best of two forward passes after a warm-up, random images, inference mode, in
the layout the inference probe picks) up to `--max-batch`, then the real `predict` over `--images` images at the
fixed old default (128) and at the auto pick, each timed as evaluate times it (the forward passes). The probe's
cache is not used or written (a temporary one).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from torch.utils.data import TensorDataset

from finegrain.evaluate import batch as eval_batch
from finegrain.evaluate.metrics import predict
from finegrain.models.factory import create_model
from finegrain.train.compute import Compute
from finegrain.train.config import TrainCfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tf_efficientnet_lite0:224", "small_cnn:64"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--images", type=int, default=512, help="images of the predict comparison")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print("| model | px | layout | " + " | ".join(f"b{b}" for b in _batches(args.max_batch)) + " | auto | "
          "predict b128 | predict auto |")  # fmt: skip
    print("|---|---:|---|" + "---:|" * (len(_batches(args.max_batch)) + 3))
    for spec in args.models:
        name, px = spec.split(":")
        cfg = TrainCfg(data="prepared", init="none", model=name, image_size_px=int(px))
        model = create_model(name, 10).eval().to(device)
        compute = Compute.of(cfg, device, train=False)
        rates = {}
        with compute.inference(model, device) as net, torch.inference_mode():
            for b in _batches(args.max_batch):
                rates[b] = b / eval_batch._time(net, torch.rand(b, 3, int(px), int(px), device=device), device)
        auto = eval_batch.fastest_batch(model, cfg, device, compute, args.images)
        g = torch.Generator().manual_seed(0)
        data = TensorDataset(torch.rand(args.images, 3, int(px), int(px), generator=g), torch.zeros(args.images).long())
        fixed_rate = predict(model, data, device, 128, compute)[2]
        auto_rate = predict(model, data, device, auto, compute)[2]
        cells = " | ".join(f"{rates[b]:.1f}" for b in rates)
        print(f"| {name} | {px} | {compute.label} | {cells} | {auto} | {fixed_rate:.1f} | {auto_rate:.1f} |")
    print(f"load {os.getloadavg()[0]:.2f} (img/s; auto = the doubling probe's pick)")


def _batches(limit: int) -> list[int]:
    return [b for b in eval_batch.CANDIDATES if b <= limit]


if __name__ == "__main__":
    main()
