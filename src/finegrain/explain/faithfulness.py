"""Are heatmaps faithful? Delete the pixels a heatmap ranks highest and watch the class probability fall.

Pixels are deleted (set to the image's mean colour) in heatmap order or in random order; a faithful heatmap
makes the probability of the predicted class drop faster than random deletion: a larger `cam_drop` than
`random_drop` at the top-k fraction, and a smaller deletion AUC (area under probability vs deleted fraction).
"""

from __future__ import annotations

import numpy as np
import torch

FRACTIONS = (0.1, 0.25, 0.5)


def delete_pixels(images: torch.Tensor, order: torch.Tensor, fraction: float) -> torch.Tensor:
    """Images with the first `fraction` of pixels in `order` ((N, H*W) flat indices) set to their mean colour."""
    n, c, h, w = images.shape
    k = round(fraction * h * w)
    mask = torch.zeros(n, h * w, dtype=torch.bool, device=images.device)
    mask.scatter_(1, order[:, :k], True)
    mask = mask.view(n, 1, h, w)
    return torch.where(mask, images.mean(dim=(2, 3), keepdim=True), images)


@torch.no_grad()
def _probs(model: torch.nn.Module, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return model(images).softmax(1).gather(1, classes[:, None]).squeeze(1)


def deletion_scores(
    model: torch.nn.Module,
    images: torch.Tensor,
    cams: np.ndarray,
    classes: torch.Tensor,
    topk: float = 0.1,
    seed: int = 0,
    fractions: tuple[float, ...] = FRACTIONS,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """(scores, curves): probability drops at `topk` and deletion AUCs for heatmap vs random order.

    `classes` are the classes the heatmaps explain (usually the predictions); curves hold mean probabilities at
    0, `fractions` and 1.
    """
    model.eval()
    n, _, h, w = images.shape
    gen = torch.Generator().manual_seed(seed)
    tie_break = torch.rand(n, h * w, generator=gen) * 1e-6
    cam_order = (torch.from_numpy(cams).reshape(n, -1) + tie_break).argsort(1, descending=True)
    random_order = torch.stack([torch.randperm(h * w, generator=gen) for _ in range(n)])
    grid = sorted({0.0, 1.0, topk, *fractions})
    p0 = _probs(model, images, classes)
    p1 = _probs(model, delete_pixels(images, cam_order.to(images.device), 1.0), classes)
    curves: dict[str, list[torch.Tensor]] = {"cam": [], "random": []}
    for name, order in (("cam", cam_order), ("random", random_order)):
        for f in grid:
            p = p0 if f == 0.0 else p1 if f == 1.0 else None
            if p is None:
                p = _probs(model, delete_pixels(images, order.to(images.device), f), classes)
            curves[name].append(p.cpu())
    mean = {k: [float(p.mean()) for p in v] for k, v in curves.items()}
    at_k = grid.index(topk)
    scores = {
        "topk": topk,
        "cam_drop": float((curves["cam"][0] - curves["cam"][at_k]).mean()),
        "random_drop": float((curves["random"][0] - curves["random"][at_k]).mean()),
        "deletion_auc_cam": float(np.trapezoid(mean["cam"], grid)),
        "deletion_auc_random": float(np.trapezoid(mean["random"], grid)),
    }
    return scores, {"fraction": grid, **mean}
