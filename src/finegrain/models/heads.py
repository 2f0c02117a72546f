"""Classifier heads: report E's dense VGG19 head and an embedding head for triplet losses (report B's TCEL)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

_MLP_LAYERS = (nn.Linear, nn.Dropout, nn.ReLU, nn.Flatten, nn.Identity)


class DenseHead(nn.Module):
    """Linear + ReLU for each `hidden` width, dropout, then the output nn.Linear (report E: 3 x 512, dropout 0.4)."""

    def __init__(
        self, in_features: int, num_classes: int, hidden: tuple[int, ...] = (512, 512, 512), dropout: float = 0.4
    ) -> None:
        super().__init__()
        widths = [in_features, *hidden]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(c_in, c_out), nn.ReLU(inplace=True)]
        self.hidden = nn.Sequential(*layers, nn.Dropout(dropout))
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden(x))


class EmbeddingHead(nn.Module):
    """Linear projection to an L2-normalised embedding, then a linear classifier on it.

    forward returns the logits and keeps the batch's embedding in `self.embedding` for a triplet loss to read.
    """

    def __init__(self, in_features: int, num_classes: int, embedding_dim: int = 128) -> None:
        super().__init__()
        self.project = nn.Linear(in_features, embedding_dim)
        self.fc = nn.Linear(embedding_dim, num_classes)
        self.embedding: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.embedding = F.normalize(self.project(x), dim=1)
        return self.fc(self.embedding)


def replace_head(net: nn.Module, build: Callable[[int, int], nn.Module]) -> str:
    """Replace the net's classifier by `build(in_features, num_classes)` in place; return the replaced module's name.

    The classifier is the top-level child holding the last nn.Linear when that child is only Linear/Dropout/ReLU
    layers (torchvision VGG's and EfficientNet's `classifier`, ResNet's `fc`, the factory's Dropout + Linear head),
    so VGG19's 4096-wide layers go; otherwise it is the last nn.Linear alone.
    """
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(net).__name__} has no nn.Linear classifier")
    last = net.get_submodule(linears[-1])
    top = linears[-1].split(".")[0]
    is_mlp = all(isinstance(m, (nn.Sequential, *_MLP_LAYERS)) for m in net.get_submodule(top).modules())
    name = top if is_mlp else linears[-1]
    first = next(m for m in net.get_submodule(name).modules() if isinstance(m, nn.Linear))
    parent_name, _, attr = name.rpartition(".")
    setattr(net.get_submodule(parent_name) if parent_name else net, attr, build(first.in_features, last.out_features))
    return name
