"""`Transformed`: a dataset of (uint8 image, label) items seen through a transform (training or evaluation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import Dataset


class Transformed(Dataset):
    """Apply a transform to the image of each (uint8 image, label) item."""

    def __init__(self, base: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        image, label = self.base[i]
        return self.transform(image), label
