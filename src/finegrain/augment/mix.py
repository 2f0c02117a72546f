"""CutMix / MixUp (report A) with torchvision.transforms.v2: a DataLoader collate_fn, or on a device batch."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import default_collate
from torchvision.transforms import v2

MIX_MODES = ("cutmix", "mixup", "random")


def create_mix(num_classes: int, cutmix_alpha: float, mixup_alpha: float, mode: str) -> v2.Transform:
    """torchvision's CutMix, MixUp or a random choice of the two per batch: (images, labels) -> (images, soft
    targets), on a collated batch on any device (MixCollate on the CPU, augment.batched on the device)."""
    if mode not in MIX_MODES:
        raise ValueError(f"mix mode {mode!r}; expected one of {', '.join(MIX_MODES)}")
    chosen = []
    if mode in ("cutmix", "random"):
        chosen.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if mode in ("mixup", "random"):
        chosen.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    return chosen[0] if len(chosen) == 1 else v2.RandomChoice(chosen)


class MixCollate:
    """Collate (image, int label) items, then mix the batch: (images (N, C, H, W), soft targets (N, num_classes)).

    mode: cutmix, mixup, or random (one of the two per batch, as report A's v2.RandomChoice). Each alpha is its
    Beta(alpha, alpha) parameter (torchvision's default 1.0). Images pair with their neighbour in the batch, so
    shuffle the loader.
    """

    def __init__(
        self, num_classes: int, cutmix_alpha: float = 1.0, mixup_alpha: float = 1.0, mode: str = "random"
    ) -> None:
        self.mix = create_mix(num_classes, cutmix_alpha, mixup_alpha, mode)

    def __call__(self, batch: list[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = default_collate(batch)
        return self.mix(images, labels)
