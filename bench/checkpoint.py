"""What a resume-state save costs the training loop, on the largest model of any preset (vgg19, presets/E.yaml).

    python bench/checkpoint.py                       # vgg19, random init, AdamW, 3 epochs of 32 random images
    python bench/checkpoint.py --model resnet18 --images 64

Runs the real `train.loop.fit` (train pass, validation, best weights, resume state) on random 32 px images and
prints each epoch's `epoch_time_s` and `checkpoint_time_s` (the seconds the save held the loop: with the background
writer the CPU copy plus any wait for the previous write, the last epoch's write joined at the end), the size of
the state on disk, and a synchronous `torch_io.save_state` of the same state for comparison (what every save cost
before the writer). Run it with PYTHONPATH pointing at another checkout to measure that code's `fit`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from finegrain.augment.recipes import create_transforms
from finegrain.data.transformed import Transformed
from finegrain.models.factory import count_parameters, create_model
from finegrain.runtime import seed_everything
from finegrain.torch_io import save_state
from finegrain.train.checkpoint import load_state
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--images", type=int, default=32, help="training images (as many again for validation)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = 32
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2 * args.images, 3, size, size), dtype=torch.uint8, generator=g)
    labels = torch.arange(2 * args.images) % args.classes
    tf = create_transforms("none", size, train=False)
    train = Transformed(TensorDataset(images[: args.images], labels[: args.images]), tf)
    val = Transformed(TensorDataset(images[args.images :], labels[args.images :]), tf)
    cfg = TrainCfg(
        data="prepared",
        init="none",
        model=args.model,
        epochs=args.epochs,
        batch_size=8,
        augment="none",
        image_size_px=size,
        memory_format="contiguous",
        precision="fp32",
    )
    seed_everything(0)
    model = create_model(args.model, args.classes)
    print(f"{args.model}: {count_parameters(model) / 1e6:.1f} M parameters, AdamW")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed0.pt"
        history, _ = fit(model, train, val, cfg, 0, torch.device("cpu"), path)
        for row in history.rows:
            print(f"epoch {row['epoch']}: epoch_time_s {row['epoch_time_s']:.2f}  checkpoint_time_s "
                  f"{row['checkpoint_time_s']:.2f}  val_acc {row['val_acc']:.3f}")  # fmt: skip
        mb = path.stat().st_size / 1e6
        state = load_state(path)
        t0 = time.perf_counter()
        save_state(Path(tmp) / "sync.pt", state)
        print(f"state on disk {mb:.0f} MB; a synchronous save_state of it: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
