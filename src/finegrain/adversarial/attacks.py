"""Pixel-space attacks on a `Classifier` (images in [0, 1], normalisation inside the model).

Perturbations are computed and clamped in pixel space, never after normalisation: an image stays in [0, 1] and
its L∞ distance to the original is at most ε (exactly ε for FGSM wherever the gradient is non-zero and the
pixel is not clipped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

Method = Literal["fgsm", "pgd"]


def default_alpha(eps: float, steps: int) -> float:
    """PGD step size 2.5·ε/steps (Madry et al.): enough to reach the ball's border from any start."""
    return 2.5 * eps / steps


def create_attack(model: nn.Module, method: Method, eps: float, steps: int = 5, alpha: float | None = None):
    """A torchattacks attack (untargeted, cross-entropy) on `model`; call it as `attack(images, labels)`.

    The attack switches the model to eval mode while it runs and back afterwards.
    """
    import torchattacks

    if method == "fgsm":
        return torchattacks.FGSM(model, eps=eps)
    if method == "pgd":
        return torchattacks.PGD(model, eps=eps, alpha=alpha or default_alpha(eps, steps), steps=steps)
    raise ValueError(f"unknown attack {method!r}; expected fgsm or pgd")


def input_gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sign(∇ₓ CE(model(x), y)) per pixel, as int8 (-1, 0, 1); the model's parameters get no gradient."""
    x = images.detach().clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), labels, reduction="sum")  # sum: per-image gradients, same sign
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign().to(torch.int8)


def fgsm_from_sign(images: torch.Tensor, grad_sign: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM: x + ε·sign(∇ₓ loss), clamped to [0, 1]. One gradient serves every ε."""
    return (images + eps * grad_sign.to(images.dtype)).clamp_(0.0, 1.0)


def project(adv: torch.Tensor, images: torch.Tensor, eps: float) -> torch.Tensor:
    """Back into the L∞ ball of radius ε around `images`, and into [0, 1]."""
    return (images + (adv - images).clamp(-eps, eps)).clamp(0.0, 1.0)


class Adversary:
    """Adversarial training: replace each sample of a batch by its attacked version with probability `prob`."""

    def __init__(
        self, model: nn.Module, method: Method, eps: float, prob: float, steps: int = 5, alpha: float | None = None
    ) -> None:
        self.attack: Callable = create_attack(model, method, eps, steps, alpha)
        self.prob = prob

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Labels may be class indices (N,) or soft targets (N, C); the attack uses their argmax."""
        hard = labels.argmax(1) if labels.ndim == 2 else labels
        chosen = (torch.rand(len(images)) < self.prob).to(images.device)
        if not chosen.any():
            return images
        out = images.clone()
        out[chosen] = self.attack(images[chosen], hard[chosen]).to(images.dtype)
        return out
