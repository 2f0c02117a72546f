"""The head block of a Classifier (its head, with the dropout around it) and the features at its input: what a
frozen backbone hands the trainable head (cached by train.features, shared by evaluate across seeds)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from finegrain.data.prefetch import Ahead, rng_states, same_states
from finegrain.engine.progress import progress
from finegrain.errors import ConfigError
from finegrain.models.factory import Classifier

_PASSIVE = (nn.Dropout, nn.Identity, nn.Flatten)
"""Parameter-free layers that may wrap the head in a Sequential and so join the trained head block."""


class HeadOnly(nn.Module):
    """The trainable top of a Classifier (its head block) applied to cached backbone features."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.block_name = head_block_name(model)
        self.block = model.net.get_submodule(self.block_name)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.block(features)


def head_block_name(model: Classifier) -> str:
    """The head, or its parent Sequential when the rest of it is only dropout/identity layers (factory dropout)."""
    name = model.head_name
    while "." in name:
        parent_name = name.rpartition(".")[0]
        parent = model.net.get_submodule(parent_name)
        head = model.net.get_submodule(name)
        if not isinstance(parent, nn.Sequential) or not all(m is head or isinstance(m, _PASSIVE) for m in parent):
            break
        name = parent_name
    return name


def extract(
    model: Classifier,
    block: nn.Module,
    dataset: Dataset,
    device: torch.device,
    batch_size: int,
    memory_format: torch.memory_format = torch.contiguous_format,
):
    """(features at the head block's input, labels) of every item, the model in eval mode, in `memory_format` (the
    layout the features' consumer runs the model in: a layout changes a convolution's sums).

    Checks on the first batch that the head block's output is the model's output, so the head alone is equivalent.
    """
    captured: list[torch.Tensor] = []
    hook = block.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    feats, labels = [], []
    was_training = model.training
    model.eval()
    model.to(memory_format=memory_format)
    try:
        with torch.inference_mode():
            batches = Ahead(DataLoader(dataset, batch_size=batch_size, shuffle=False))
            total = math.ceil(len(dataset) / batch_size)
            for images, targets in progress(batches, "features", unit="batch", total=total):
                before = rng_states() if not feats else None
                x = images.to(device)
                logits = model(x.contiguous(memory_format=memory_format) if x.ndim == 4 else x)
                if len(captured) != 1 or captured[0].ndim != 2:
                    raise ConfigError(f"features.cache: the head of {model.name!r} does not take flat features")
                batch = captured.pop()
                if not feats and not torch.allclose(block(batch), logits, atol=1e-5, rtol=1e-4):
                    raise ConfigError(f"features.cache: the head of {model.name!r} is not the model's last layer")
                captured.clear()  # the check's own call
                feats.append(batch.float().cpu())
                labels.append(torch.as_tensor(targets))
                if before is not None and same_states(before, rng_states()):
                    batches.go()  # the next batches' (seeded) augmentation draws in the same order, in a thread
    finally:
        batches.close()
        hook.remove()
        model.to(memory_format=torch.contiguous_format)
        model.train(was_training)
    return torch.cat(feats), torch.cat(labels).long()
