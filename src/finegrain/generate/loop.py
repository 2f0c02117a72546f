"""`fit_generator`: the shared training loop of the generators, with a progress bar and an epoch-level resume state."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
from tqdm import tqdm

from finegrain.torch_io import save_state
from finegrain.train.checkpoint import load_state

log = logging.getLogger(__name__)


class GenerativeModel(Protocol):
    """What the loop needs from a generator: a training step, its full state, and class-conditional sampling."""

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch (one short batch when the split is smaller than a batch)."""
    return max(1, n // batch_size)


def fit_generator(
    model: GenerativeModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    batch_size: int,
    seed: int,
    state_path: Path,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint_every: int = 5,
    desc: str = "generator",
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Train on (images in [-1, 1], labels) with random horizontal flips; returns one row of mean losses per epoch.

    The data stays where it is; each batch moves to `device` (where the model is).

    Every `checkpoint_every` epochs the model, optimiser and RNG state go to `state_path`; a later call with the
    same path resumes after the last saved epoch (and replays its rows into `on_epoch`).
    """
    history: list[dict] = []
    start = 0
    saved = load_state(state_path)
    if saved is not None:
        model.load_state_dict(saved["model"])
        torch.set_rng_state(saved["rng"])
        history, start = list(saved["history"]), int(saved["epoch"])
        log.info("%s: resuming from %s after epoch %d", desc, state_path, start)
        for row in history:
            if on_epoch:
                on_epoch(row)
    n, per_epoch = len(images), steps_per_epoch(len(images), batch_size)
    bar = tqdm(total=epochs * per_epoch, initial=start * per_epoch, desc=desc, unit="step", mininterval=2.0)
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        sums: dict[str, float] = {}
        for i in range(per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            batch = images[idx]
            flip = torch.rand(len(idx), 1, 1, 1) < 0.5
            batch = torch.where(flip, batch.flip(3), batch).to(device)
            losses = model.train_step(batch, labels[idx].to(device))
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
        row = {"epoch": epoch + 1, **{k: v / per_epoch for k, v in sums.items()}}
        row["epoch_time_s"] = time.perf_counter() - t0
        history.append(row)
        if on_epoch:
            on_epoch(row)
        if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs:
            state = {"model": model.state_dict(), "rng": torch.get_rng_state(), "history": history, "epoch": epoch + 1}
            save_state(state_path, state)
    bar.close()
    return history
