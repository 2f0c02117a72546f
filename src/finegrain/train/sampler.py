"""Class-balanced P×K batches for the triplet losses: P classes with K images each, so every anchor has a positive.

The in-batch triplet mining of `losses.triplet` skips anchors whose class has no other image in the batch; with
~10 images a class and a shuffled batch of 32, that is most anchors. `PKBatchSampler` builds each batch from
P = batch_size // K classes drawn without replacement (weighted by their image counts, so every image is seen
about as often as under shuffling) and K images of each, cycling through a shuffled order of the class's images.
An epoch has as many steps as the shuffled loader (len // batch_size, at least 1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, Subset, TensorDataset

from finegrain.errors import ConfigError
from finegrain.train.distributed import SINGLE, Dist

log = logging.getLogger(__name__)


def class_labels(dataset: Dataset) -> np.ndarray:
    """Every item's label without loading images: a `labels` array, a TensorDataset's second tensor, through
    Subset and `base` (e.g. `data.transformed.Transformed`) wrappers."""
    if isinstance(dataset, Subset):
        return class_labels(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
        return dataset.tensors[1].cpu().numpy()
    labels = getattr(dataset, "labels", None)
    if labels is not None:
        return np.asarray(labels)
    base = getattr(dataset, "base", None)
    if base is not None:
        return class_labels(base)
    raise ConfigError(f"sampler: pk needs the labels of {type(dataset).__name__} (no `labels`); use sampler: random")


class PKBatchSampler(Sampler[list[int]]):
    """Batches of P classes × K images (see the module docstring), the same for a given `seed`.

    Under DDP (`dist.world` > 1) every process builds the same global batch and takes whole classes of it
    (classes rank, rank + world, ...), so each process's batch is itself P / world classes × K images.
    A class with fewer than K images gives all of them, topped up by repeats.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, k: int, seed: int, dist: Dist = SINGLE) -> None:
        labels = np.asarray(labels)
        self.classes, counts = np.unique(labels, return_counts=True)
        self.members = [np.flatnonzero(labels == c) for c in self.classes]
        self.counts = torch.as_tensor(counts, dtype=torch.float64)
        self.k, self.seed, self.dist = k, seed, dist
        self.p = min(batch_size // k, len(self.classes))
        if self.p < 2:
            raise ConfigError(
                f"sampler: pk needs batches of at least 2 classes (negatives): batch_size {batch_size} // pk_k {k}"
                f" with {len(self.classes)} classes gives {self.p}"
            )
        if self.p % dist.world:
            raise ConfigError(f"sampler: pk with {dist.world} processes needs P ({self.p} classes) divisible by them")
        if self.p * k < batch_size:
            log.info("sampler: pk batches of %d classes x %d images = %d (batch_size %d)", self.p, k, self.p * k,
                     batch_size)  # fmt: skip
        self.steps = max(1, len(labels) // batch_size)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.seed)
        pending: list[list[int]] = [[] for _ in self.classes]
        for _ in range(self.steps):
            picked = torch.multinomial(self.counts, self.p, replacement=False, generator=gen).tolist()
            chunks = [self._draw(c, pending, gen) for c in picked]
            yield [i for chunk in chunks[self.dist.rank :: self.dist.world] for i in chunk]

    def _draw(self, c: int, pending: list[list[int]], gen: torch.Generator) -> list[int]:
        """K images of class `c`: the next K of its shuffled order (reshuffled when fewer than K are left)."""
        members = self.members[c]
        n = len(members)
        if n < self.k:
            repeats = torch.randint(n, (self.k - n,), generator=gen).tolist()
            return [int(members[j]) for j in torch.randperm(n, generator=gen).tolist() + repeats]
        if len(pending[c]) < self.k:
            pending[c] = [int(members[j]) for j in torch.randperm(n, generator=gen).tolist()]
        chunk, pending[c] = pending[c][: self.k], pending[c][self.k :]
        return chunk
