"""Optimizer and scheduler factories: per-epoch schedules, or warm-up + cosine per optimizer step."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

from finegrain.engine.schedule import warmup_cosine_scheduler
from finegrain.train.config import TrainCfg


def create_optimizer(model: nn.Module, cfg: TrainCfg, lr: float | None = None) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW over the trainable parameters; with `decay_norm_bias` false, norm and bias
    parameters (1-d) go to a group without weight decay (timm's `param_groups_weight_decay`)."""
    lr = lr or cfg.lr
    if cfg.decay_norm_bias:
        params: list = [p for p in model.parameters() if p.requires_grad]
    else:
        from timm.optim import param_groups_weight_decay

        params = param_groups_weight_decay(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def create_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainCfg, epochs: int, steps_per_epoch: int = 1
) -> LRScheduler | ReduceLROnPlateau | None:
    """The scheduler of a phase of `epochs` epochs. Per epoch (`lr_interval: epoch`): step, cosine (with optional
    linear warmup) or ReduceLROnPlateau on val loss. Per step: linear warm-up over `warmup_epochs` then cosine to 0
    at the phase's last step (`engine.schedule`)."""
    if cfg.scheduler == "none":
        return None
    if cfg.lr_interval == "step":
        total = epochs * steps_per_epoch
        return warmup_cosine_scheduler(optimizer, total, min(cfg.warmup_epochs * steps_per_epoch, total - 1))
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
    """End of an epoch: step a per-epoch scheduler (ReduceLROnPlateau on `val_loss`)."""
    if scheduler is None:
        return
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()
