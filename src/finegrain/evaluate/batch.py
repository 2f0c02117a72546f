"""`evaluate.batch_size: auto`: the batch of the test passes (predict, shared backbone features, embeddings) that a
short measured probe finds fastest for the model on its device, in the layout and autocast the passes run in.

Batches double from `CANDIDATES[0]` while each is faster per image than the best so far, up to the first batch
that covers the whole split, a step slower than `STEP_BUDGET_S` or one that runs out of device memory (the largest
that fits is then the limit, as Lightning's batch-size finder does); the fastest measured is chosen. Each batch is
timed on random images (the best pass of at least two, and of `MIN_TIME_S`, after a warm-up) under a forked RNG, so
the run's random draws do not change; the rates are cached with the layout probe's (`train.compute.cached`, per
machine, threads, torch, model, size and layout).

A batch changes only the float summation order of some kernels (test metrics agree to ~1e-6, not bit for bit), so
on the CPU under portable numerics `auto` is the fixed `numerics.PORTABLE_EVAL_BATCH`, never a timing.
Attacks and heatmaps draw random numbers per batch, so with `auto` they keep the fixed `ATTACK_BATCH`: their
metrics never depend on a timing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

import torch
from torch import nn

from finegrain import numerics
from finegrain.train.compute import Compute, Probe, cached

log = logging.getLogger(__name__)

CANDIDATES = (8, 16, 32, 64, 128, 256, 512, 1024)
STEP_BUDGET_S = 3.0
MIN_TIME_S = 0.5
ATTACK_BATCH = 128
"""The batch of attacks and heatmaps when `evaluate.batch_size` is auto (the previous fixed default)."""


def eval_batches(setting: int | str, model: nn.Module, cfg, device: torch.device, compute: Compute, items: int):
    """(test-pass batch, attack/heatmap batch) for `evaluate.batch_size` = `setting` (an int: both), `model` being
    evaluated on `items` images of `cfg.image_size_px`."""
    if setting != "auto":
        return int(setting), int(setting)
    if device.type == "cpu" and numerics.applied() == "portable":
        return numerics.PORTABLE_EVAL_BATCH, ATTACK_BATCH
    return fastest_batch(model, cfg, device, compute, items), ATTACK_BATCH


def fastest_batch(model: nn.Module, cfg, device: torch.device, compute: Compute, items: int) -> int:
    """The fastest inference batch of `model` (module doc), from the cache or measured now."""
    probe = Probe.of(cfg, device, train=False)
    cap = next((b for b in CANDIDATES if b >= items), CANDIDATES[-1])
    text = json.dumps(["eval-batch", CANDIDATES, MIN_TIME_S, STEP_BUDGET_S, probe.key(), compute.label, cap])
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    about = {"batch_probe": {**probe.__dict__, "compute": compute.label, "cap": cap}}
    entry = cached(key, lambda: {"batch_rates": _measure(model, cfg.image_size_px, device, compute, cap)}, **about)
    rates = {int(b): r for b, r in sorted(entry["batch_rates"].items(), key=lambda kv: int(kv[0]))}
    best = choose(rates)
    log.info(
        "evaluate: batch %d for %s at %d px (%s; %s img/s)",
        best,
        probe.model,
        probe.size,
        compute.label,
        ", ".join(f"{b}: {r:.1f}" for b, r in rates.items()),
    )
    return best


def choose(rates: dict[int, float]) -> int:
    """The fastest measured batch (the smaller one of a tie)."""
    return min(rates, key=lambda b: (-rates[b], b))


def _measure(model: nn.Module, size: int, device: torch.device, compute: Compute, cap: int) -> dict[str, float]:
    """{batch: images/s} of inference passes, doubling while it pays (module doc)."""
    model.eval().to(device)
    rates: dict[str, float] = {}
    best = 0.0
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        with compute.inference(model, device) as net, torch.inference_mode():
            for batch in CANDIDATES:
                try:
                    seconds = _time(net, torch.rand(batch, 3, size, size, device=device), device)
                except torch.OutOfMemoryError:  # the largest batch that fits is the limit
                    if device.type == "cuda":  # CUDA-only branch
                        torch.cuda.empty_cache()
                    break
                rates[str(batch)] = round(batch / seconds, 2)
                if rates[str(batch)] < best or batch >= cap or seconds > STEP_BUDGET_S:
                    break
                best = max(best, rates[str(batch)])
    if not rates:
        raise torch.OutOfMemoryError(f"evaluate.batch_size auto: not even {CANDIDATES[0]} images fit on {device}")
    return rates


def _time(net: nn.Module, x: torch.Tensor, device: torch.device, steps: int = 2) -> float:
    """Best seconds of one forward pass: after a warm-up pass, at least `steps` passes and `MIN_TIME_S` in all."""
    best, spent, done = float("inf"), 0.0, -1
    while done < steps or spent < MIN_TIME_S:
        t0 = time.perf_counter()
        net(x)
        if device.type == "cuda":  # CUDA-only branch
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if done >= 0:
            best, spent = min(best, seconds), spent + seconds
        done += 1
    return best
