"""Optimizer and scheduler factories (per-epoch schedules)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from finegrain.train.config import TrainCfg


def create_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: TrainCfg, lr: float | None = None
) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW over the trainable parameters."""
    params = [p for p in params if p.requires_grad]
    lr = lr or cfg.lr
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def create_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainCfg, epochs: int
) -> LRScheduler | ReduceLROnPlateau | None:
    """Per-epoch scheduler: step, cosine (with optional linear warmup) or ReduceLROnPlateau on val loss."""
    if cfg.scheduler == "none":
        return None
    if cfg.scheduler == "step":
        return StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
    if cfg.scheduler == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=cfg.gamma, patience=cfg.plateau_patience)
    warmup = min(cfg.warmup_epochs, max(epochs - 1, 0))
    cosine = CosineAnnealingLR(optimizer, T_max=max(epochs - warmup, 1))
    if warmup == 0:
        return cosine
    return SequentialLR(
        optimizer, [LinearLR(optimizer, start_factor=0.1, total_iters=warmup), cosine], milestones=[warmup]
    )


def step_scheduler(scheduler, val_loss: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()
