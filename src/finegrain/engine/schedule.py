"""The one warm-up + cosine learning-rate schedule (SimCLR, DDPM, the recognisability judge, the detector)."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine_at(step: int, warmup: int, progress: float, peak: float = 1.0) -> float:
    """`peak` times a linear warm-up factor of `step` (over `warmup` steps, none when 0) times a cosine from 1 to 0
    over `progress` (the fraction of the decay done, clipped at 1)."""
    warm = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return peak * warm * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """lr factor of `step`: linear warm-up over `warmup` steps, then cosine from 1 to 0 at `total` (0 after it)."""
    return warmup_cosine_at(step, warmup, max(0, step - warmup) / max(1, total - warmup))


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, total: int, warmup: int) -> LambdaLR:
    """A LambdaLR stepped once per step (or epoch) with the `warmup_cosine` factor."""
    return LambdaLR(optimizer, lambda step: warmup_cosine(step, total, warmup))
