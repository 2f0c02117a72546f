"""`fit_generator`: the generators' epoch step (shuffled batches with random flips) on the engine's epoch loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from finegrain.engine.loop import Epoch, TorchRNG, run_epochs


class GenerativeModel(Protocol):
    """What the loop needs from a generator: a training step, its full state, and class-conditional sampling."""

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor | float]:
        """Losses of the step: 0-dim tensors (on the device; summed there) or floats."""

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
    n, per_epoch = len(images), steps_per_epoch(len(images), batch_size)

    def epoch_step(epoch: Epoch) -> dict:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch.seed))
        # sums kept on the device, read once per epoch; float64 adds as Python floats did: the same means
        sums: dict[str, torch.Tensor] = {}
        for i in range(per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            batch = images[idx]
            flip = torch.rand(len(idx), 1, 1, 1) < 0.5
            batch = torch.where(flip, batch.flip(3), batch).to(device)
            losses = model.train_step(batch, labels[idx].to(device))
            for key, value in losses.items():
                sums.setdefault(key, torch.zeros((), dtype=torch.float64, device=device))
                sums[key] += torch.as_tensor(value).double()
            means = {k: float(v) / per_epoch for k, v in sums.items()} if i == per_epoch - 1 else None
            epoch.advance(means)  # the bar shows the epoch's mean losses at its end
        return means

    return run_epochs(
        epoch_step,
        epochs,
        seed,
        state={"model": model, "rng": TorchRNG()},
        state_path=state_path,
        on_epoch=on_epoch,
        checkpoint_every=checkpoint_every,
        desc=desc,
        steps_per_epoch=per_epoch,
    )
