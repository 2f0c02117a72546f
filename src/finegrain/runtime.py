"""params.yaml group `base` (seed, device, threads, numerics) and what applies it: device choice, seeding, torch
threads and the numerics check."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from finegrain import numerics as numerics_mode
from finegrain.errors import ConfigError
from finegrain.schema import Strict, device_name

if TYPE_CHECKING:
    import torch

DEVICE_ENV = "FINEGRAIN_DEVICE"
THREADS_ENV = "FINEGRAIN_THREADS"


class BaseCfg(Strict):
    seed: int = Field(0, ge=0)
    device: str = "auto"
    threads: int = Field(
        0, ge=0, description="torch intra-op threads; 0 = 2 under portable numerics, torch's default under native"
    )
    numerics: Literal["portable", "native"] = Field(
        "portable", description="portable: the same bits on any x86-64 CPU with AVX2; native: this CPU's fastest"
    )

    _device = field_validator("device")(device_name)


def resolve_device(name: str = "auto", fixed_shapes: bool = True) -> torch.device:
    """`auto` picks CUDA when available, else CPU; an explicit name is used as given. On CUDA, the field's defaults
    are set once for the process (`cuda_defaults`); `fixed_shapes` False (e.g. detection's varying image sizes)
    leaves cudnn.benchmark off."""
    import torch

    name = os.environ.get(DEVICE_ENV, name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    cuda_defaults(device, benchmark=fixed_shapes)
    return device


def cuda_defaults(device: torch.device, benchmark: bool = True) -> bool:
    """On a CUDA `device` (the one device check; CPU and MPS: nothing changes): TF32 matmuls and convolutions
    (`set_float32_matmul_precision("high")`, cudnn.allow_tf32) and, for batches of fixed size, cudnn.benchmark
    (each input shape's fastest kernel chosen once), as timm's train.py and torchvision's reference scripts do.
    Returns whether it set them."""
    import torch

    if device.type != "cuda":
        return False
    torch.set_float32_matmul_precision("high")  # CUDA-only branch
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = benchmark
    return True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_threads(threads: int, numerics: str) -> None:
    """Check that the process runs in `numerics` (`base.numerics`), then set torch intra-op threads: `threads`, 0 =
    `numerics.REFERENCE_THREADS` under portable and torch's default under native; FINEGRAIN_THREADS overrides."""
    import torch

    problem = numerics_mode.check(numerics)
    if problem:
        raise ConfigError(problem)
    threads = int(os.environ.get(THREADS_ENV, numerics_mode.portable_threads(threads, numerics)))
    if threads > 0:
        torch.set_num_threads(threads)


def device_unavailable(device: str) -> str | None:
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
