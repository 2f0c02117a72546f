"""Report E's elastic-net penalty lam * (alpha * L1 + (1 - alpha) * squared L2) on the output weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from finegrain.losses.elastic import elastic_net_penalty


def _layer() -> nn.Linear:
    linear = nn.Linear(3, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, -1.0]]))
        linear.bias.fill_(100.0)  # biases are not penalised
    return linear


@pytest.mark.parametrize(
    ("alpha", "lam", "expected"),
    [
        (0.2, 0.1, 0.1 * (0.2 * 4.5 + 0.8 * 6.25)),  # L1 = 1 + 2 + 0.5 + 1, squared L2 = 1 + 4 + 0.25 + 1
        (1.0, 0.01, 0.01 * 4.5),
        (0.0, 1.0, 6.25),
    ],
)
def test_penalty_by_hand(alpha, lam, expected):
    assert elastic_net_penalty(_layer(), alpha, lam).item() == pytest.approx(expected)


def test_gradient_is_lam_times_alpha_sign_plus_twice_l2_weight():
    linear = _layer()
    elastic_net_penalty(linear, 0.5, 0.1).backward()
    w = linear.weight.detach()
    torch.testing.assert_close(linear.weight.grad, 0.1 * (0.5 * w.sign() + 2 * 0.5 * w))
    assert linear.bias.grad is None
