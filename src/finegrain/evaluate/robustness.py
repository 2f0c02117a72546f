"""Robustness curve: test accuracy under FGSM and PGD for a list of ε, on a fixed subset of the test split.

Robust accuracy at ε is the fraction of images that are classified correctly and for which the attack found no
adversarial example within radius ε. An example found at a smaller ε, or at any PGD iterate, lies within the
larger ball too, so it counts: the curve is non-increasing, and an image is attacked no further once it falls
(which keeps the default evaluation within seconds). At ε = 0 the curve is the clean accuracy of the subset.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from finegrain.adversarial.attacks import fgsm_from_sign, input_gradient_sign, pgd
from finegrain.engine.progress import progress
from finegrain.train.compute import FP32, Compute


@torch.no_grad()
def _correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return model(images).argmax(1) == labels


def _batches(positions: torch.Tensor, batch_size: int) -> Iterable[torch.Tensor]:
    yield from (b for b in positions.split(batch_size) if len(b))


def robustness_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps_list: list[float],
    attacks: list[str],
    pgd_steps: int = 5,
    pgd_alpha: float | None = None,
    seed: int = 0,
    batch_size: int = 128,
    clean: torch.Tensor | None = None,
    compute: Compute = FP32,
) -> dict[str, dict[float, float]]:
    """{attack: {ε: robust accuracy}} for images in [0, 1] (the model normalises inside), every forward pass in
    `compute`'s layout and autocast.

    `clean` (optional): which images the model already classifies correctly, saving a forward pass.
    """
    model.eval()
    device = next(model.parameters()).device
    with compute.inference(model, device) as net:
        return _curves(net, images, labels, eps_list, attacks, pgd_steps, pgd_alpha, seed, batch_size, clean)


def _curves(model, images, labels, eps_list, attacks, pgd_steps, pgd_alpha, seed, batch_size, clean):
    device = next(model.parameters()).device
    images, labels = images.to(device), labels.to(device)
    if clean is None:
        clean = torch.cat(
            [_correct(model, images[b], labels[b]) for b in _batches(torch.arange(len(images)), batch_size)]
        )
    clean = clean.to(device)
    eps_sorted = sorted(set(eps_list))
    curves: dict[str, dict[float, float]] = {}
    bar = progress(total=len(attacks) * len(eps_sorted), desc="robustness", unit="eps")
    for attack in attacks:
        alive, curve = clean.clone(), {}
        generator = torch.Generator().manual_seed(seed)
        signs: dict[int, torch.Tensor] = {}
        for eps in eps_sorted:
            bar.set_postfix_str(f"{attack} eps {eps:.4g}")
            for b in _batches(alive.nonzero().squeeze(1), batch_size) if eps > 0 else ():
                if attack == "fgsm":
                    missing = [int(i) for i in b if int(i) not in signs]
                    if missing:
                        grads = input_gradient_sign(model, images[missing], labels[missing])
                        signs.update(zip(missing, grads, strict=True))
                    adv = fgsm_from_sign(images[b], torch.stack([signs[int(i)] for i in b]), eps)
                    alive[b] = _correct(model, adv, labels[b])
                elif attack == "pgd":
                    alive[b] = pgd(model, images[b], labels[b], eps, pgd_steps, pgd_alpha, generator)[1]
                else:
                    raise ValueError(f"unknown attack {attack!r}; expected fgsm or pgd")
            curve[eps] = float(alive.float().mean()) if len(alive) else 0.0
            bar.update()
        curves[attack] = curve
    bar.close()
    return curves


def eps_key(eps: float) -> str:
    """Metric key of an ε: `eps_0`, `eps_2_255` for multiples of 1/255, else `eps_0.01`."""
    k = eps * 255
    if abs(k - round(k)) < 1e-6:
        return f"eps_{round(k)}_255" if round(k) else "eps_0"
    return f"eps_{eps:g}"


def summarise(curves: list[dict[str, dict[float, float]]], digits: int = 6) -> tuple[dict, dict[str, list[dict]]]:
    """Per-seed curves -> (metrics {attack: {eps_key: mean[, eps_key_std]}}, rows per attack for the plot CSVs)."""
    from finegrain.evaluate.metrics import mean_std

    metrics: dict[str, dict[str, float]] = {}
    rows: dict[str, list[dict]] = {}
    for attack in curves[0]:
        metrics[attack], rows[attack] = {}, []
        for eps in curves[0][attack]:
            mean, std = mean_std([c[attack][eps] for c in curves])
            metrics[attack][eps_key(eps)] = round(mean, digits)
            row = {"eps": round(eps, 8), "eps_255": round(eps * 255, 4), "accuracy": round(mean, digits)}
            if len(curves) > 1:
                metrics[attack][f"{eps_key(eps)}_std"] = round(std, digits)
                row["accuracy_std"] = round(std, digits)
            rows[attack].append(row)
    return metrics, rows
