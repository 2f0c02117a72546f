"""Batches of uint8 image tensors as float model inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, size, size) float in [0, 1] (antialiased bilinear)."""
    x = images.float() / 255.0
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp(0, 1)


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU batch (e.g. uint8 images) on `device`; to CUDA from pinned memory without blocking the host."""
    if device.type == "cuda":  # the one CUDA-only step of the device data path
        batch = batch if batch.is_pinned() else batch.pin_memory()
    return batch.to(device, non_blocking=True)
