"""`create_loss`: one front door for training losses, each called as `loss(logits, targets, model)`."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from finegrain.losses.triplet import TripletCELoss

Loss = Callable[[torch.Tensor, torch.Tensor, nn.Module], torch.Tensor]


class CrossEntropy:
    """Cross-entropy with optional label smoothing; targets are int labels (N,) or class probabilities (N, C)
    (CutMix/MixUp targets): F.cross_entropy takes both."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)


def _triplet(
    weight: float = 1.0, margin: float = 1.0, mining: str = "random", label_smoothing: float = 0.0
) -> TripletCELoss:
    """Pure triplet (no CE term: label_smoothing is accepted so train.label_smoothing reaches every loss alike)."""
    return TripletCELoss(weight, margin, mining, ce_weight=0.0, label_smoothing=label_smoothing)


LOSSES: dict[str, Callable[..., Loss]] = {
    "ce": CrossEntropy,
    "soft_ce": CrossEntropy,  # the same loss, named for use with augment.mix.MixCollate's soft targets
    "tcel": TripletCELoss,
    "triplet": _triplet,
}


def create_loss(name: str, **kw) -> Loss:
    """Build loss `name` (one of LOSSES) with its options, e.g. create_loss("tcel", weight=1, mining="hard").

    ce / soft_ce: label_smoothing. tcel: weight, margin, mining, ce_weight, label_smoothing. triplet: weight, margin,
    mining, label_smoothing.
    """
    if name not in LOSSES:
        raise ValueError(f"loss {name!r}; expected one of {', '.join(LOSSES)}")
    builder = LOSSES[name]
    options = inspect.signature(builder).parameters
    for key in kw:
        if key not in options:
            raise ValueError(f"loss {name}: unknown option {key!r}; expected one of {', '.join(options)}")
    return builder(**kw)
