"""A hand training loop over an mmdet detector, bounded by iterations and wall-clock time.

Why not mmengine's Runner: the data is already in memory-mapped shards (no mmdet dataset or file pipeline needed),
the budget is wall-clock seconds on a shared CPU (the schedule must anneal when time runs out, not stop half-way),
and the Runner's own checkpoints hold numpy scalars and HistoryBuffers that torch >= 2.6 refuses to load with
weights_only (open-mmlab/mmengine#1655). The loop uses the model's own data_preprocessor, loss and parse_losses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from finegrain.engine.progress import logs_above
from finegrain.engine.progress import progress as progress_bar
from finegrain.engine.schedule import warmup_cosine_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSchedule:
    iters: int = 1200
    max_time_s: float = 120.0
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_iters: int = 50
    grad_clip: float = 10.0


def progress(it: int, elapsed_s: float, sched: TrainSchedule) -> float:
    """Fraction of the budget used: iterations or time, whichever runs out first (>= 1 means stop)."""
    by_time = elapsed_s / sched.max_time_s if sched.max_time_s > 0 else 0.0
    return max(it / sched.iters, by_time)


def train_detector(model: torch.nn.Module, batches, sched: TrainSchedule, log_every: int = 100) -> dict:
    """Train `model` in place on `batches` (an iterator of {'inputs', 'data_samples'}); returns run statistics."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": sched.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=sched.lr,
    )
    model.train()
    start, it, frac, smoothed = time.perf_counter(), 0, 0.0, None
    with progress_bar(desc="detector", total=sched.iters, unit="it") as bar, logs_above(bar):
        while frac < 1.0:
            for group in optimizer.param_groups:  # warm-up by iteration, cosine decay by the budget's progress
                group["lr"] = warmup_cosine_at(it, sched.warmup_iters, frac, sched.lr)
            data = model.data_preprocessor(next(batches), training=True)
            loss, log_vars = model.parse_losses(model(**data, mode="loss"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if sched.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, sched.grad_clip)
            optimizer.step()
            it += 1
            value = float(loss.detach())
            smoothed = value if smoothed is None else 0.95 * smoothed + 0.05 * value
            frac = progress(it, time.perf_counter() - start, sched)
            bar.update(1)
            bar.set_postfix(loss=f"{smoothed:.3f}", refresh=False)
            if it % log_every == 0:
                log.info("detector it %d  loss %.3f  %.0f%% of budget", it, smoothed, 100 * min(frac, 1.0))
    elapsed = time.perf_counter() - start
    model.eval()
    return {
        "iters": it,
        "train_s": round(elapsed, 1),
        "time_bound": it < sched.iters,
        "final_loss": round(float(smoothed or 0.0), 4),
    }
