"""Device choice, seeding and thread settings."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when available, else CPU; an explicit name is used as given."""
    name = os.environ.get("FINEGRAIN_DEVICE", name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    """Set torch intra-op threads (0 keeps torch's default, FINEGRAIN_THREADS overrides)."""
    threads = int(os.environ.get("FINEGRAIN_THREADS", threads))
    if threads > 0:
        torch.set_num_threads(threads)
