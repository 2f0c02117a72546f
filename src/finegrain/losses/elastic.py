"""Report E's elastic-net penalty on the output layer's weights."""

from __future__ import annotations

import torch
from torch import nn


def elastic_net_penalty(linear: nn.Linear, alpha: float, lam: float) -> torch.Tensor:
    """lam * (alpha * ||W||_1 + (1 - alpha) * ||W||_2^2) on the layer's weight matrix (not its bias).

    The L2 term is the plain squared norm, sum(W**2), as Keras' l1_l2 regulariser that report E's TensorFlow code
    built on; sklearn's ElasticNet halves it (0.5 * ||W||^2).
    """
    w = linear.weight
    return lam * (alpha * w.abs().sum() + (1 - alpha) * w.pow(2).sum())
