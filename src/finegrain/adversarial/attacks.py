"""Pixel-space attacks on a `Classifier` (images in [0, 1], normalisation inside the model).

Perturbations are computed and clamped in pixel space, never after normalisation: an image stays in [0, 1] and
its L∞ distance to the original is at most ε (exactly ε for FGSM wherever the gradient is non-zero and the
pixel is not clipped).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Method = Literal["fgsm", "pgd"]


def default_alpha(eps: float, steps: int) -> float:
    """PGD step size 2.5·ε/steps (Madry et al.): enough to reach the ball's border from any start."""
    return 2.5 * eps / steps


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


def pgd(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    alpha: float | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD (Madry et al.) from a uniform random start in the ε-ball (drawn from `generator`, default torch's);
    an image is attacked until an iterate is misclassified. Returns (adversarial images, survived): survived is True
    where no iterate, the last included, was misclassified."""
    alpha = alpha or default_alpha(eps, steps)
    noise = torch.empty(images.shape).uniform_(-eps, eps, generator=generator).to(images.device)
    adv = (images + noise).clamp(0.0, 1.0)
    alive = torch.ones(len(images), dtype=torch.bool, device=images.device)
    for _ in range(steps):
        idx = alive.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        x = adv[idx].requires_grad_(True)
        logits = model(x)
        alive[idx] = logits.argmax(1) == labels[idx]
        loss = nn.functional.cross_entropy(logits, labels[idx], reduction="sum")  # sum: each image's own gradient
        (grad,) = torch.autograd.grad(loss, x)
        adv[idx] = project(x.detach() + alpha * grad.sign(), images[idx], eps)
    idx = alive.nonzero().squeeze(1)
    if len(idx):
        with torch.no_grad():
            alive[idx] = model(adv[idx]).argmax(1) == labels[idx]
    return adv, alive


class Adversary:
    """Adversarial training: replace each sample of a batch by its attacked version with probability `prob`.

    The model is attacked in eval mode (no dropout, batch-norm running statistics) and put back in its mode after.
    """

    def __init__(
        self, model: nn.Module, method: Method, eps: float, prob: float, steps: int = 5, alpha: float | None = None
    ) -> None:
        if method not in ("fgsm", "pgd"):
            raise ValueError(f"unknown attack {method!r}; expected fgsm or pgd")
        self.model, self.method, self.eps, self.prob, self.steps, self.alpha = model, method, eps, prob, steps, alpha

    def attack(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The attacked copies of `images` (class-index `labels`)."""
        training = self.model.training
        self.model.eval()
        try:
            if self.method == "fgsm":
                return fgsm_from_sign(images, input_gradient_sign(self.model, images, labels), self.eps)
            return pgd(self.model, images, labels, self.eps, self.steps, self.alpha)[0]
        finally:
            self.model.train(training)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Labels may be class indices (N,) or soft targets (N, C); the attack uses their argmax."""
        hard = labels.argmax(1) if labels.ndim == 2 else labels
        chosen = (torch.rand(len(images)) < self.prob).to(images.device)
        if not chosen.any():
            return images
        out = images.clone()
        out[chosen] = self.attack(images[chosen], hard[chosen]).to(images.dtype)
        return out
