"""Device choice, seeding and thread settings, and the check that this machine can run the params at all."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import numpy as np

from finegrain.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from finegrain.config import Params

DEVICE_ENV = "FINEGRAIN_DEVICE"
THREADS_ENV = "FINEGRAIN_THREADS"


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else CPU; an explicit name is used as given."""
    import torch

    name = os.environ.get(DEVICE_ENV, name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    """Set torch intra-op threads (0 keeps torch's default, FINEGRAIN_THREADS overrides)."""
    import torch

    threads = int(os.environ.get(THREADS_ENV, threads))
    if threads > 0:
        torch.set_num_threads(threads)


def _unavailable(device: str) -> str | None:
    """Why `device` (a valid name) cannot be used on this machine, or None. Imports torch only for a GPU name."""
    if device in ("auto", "cpu"):
        return None
    import torch

    if device == "mps":
        return None if torch.backends.mps.is_available() else "torch finds no MPS (Apple GPU) device"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index < count:
        return None
    return f"torch finds {count} CUDA device(s)" if count else "torch finds no CUDA device"


def check_runtime(params: Params, source: str = "params.yaml") -> None:
    """Fail at params load, in one line, when the environment overrides are malformed or a configured device is not
    on this machine: every stage loads params, so the first stage stops, not the one that needs the GPU."""
    from finegrain.config import BaseCfg

    threads = os.environ.get(THREADS_ENV)
    if threads is not None and not (threads.strip().isdigit()):
        raise ConfigError(
            f"{THREADS_ENV}: expected a whole number of threads >= 0, 0 = torch's default (got {threads!r})"
        )
    override = os.environ.get(DEVICE_ENV)
    if override is not None:
        try:
            BaseCfg._device(override)
        except ValueError as err:
            raise ConfigError(f"{DEVICE_ENV}: {err}") from None
        devices = {DEVICE_ENV: override}
    else:
        devices = {f"{source}: base.device": params.base.device, f"{source}: crop.device": params.crop.device}
    for where, device in devices.items():
        reason = _unavailable(device)
        if reason:
            raise ConfigError(f"{where}: {device!r} is not available on this machine ({reason}); use auto or cpu")
    fp16 = [name for name in params.variants if params.variant(name).precision == "fp16"]
    if fp16 and (device := resolve_device(params.base.device)).type != "cuda":
        raise ConfigError(
            f"{source}: variants.{fp16[0]}.precision: fp16 needs a CUDA device (training runs on {device}); use "
            "bf16 or fp32"
        )
