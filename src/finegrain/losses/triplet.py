"""Batch triplet loss with random, semi-hard or hard negative mining, and report B's triplet + cross-entropy (TCEL)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from finegrain.models.heads import EmbeddingHead

MINING = ("random", "semi-hard", "hard")


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (N, N); clamped before the square root so the gradient stays finite at zero."""
    squared = embeddings.pow(2).sum(1)
    d2 = squared[:, None] + squared[None, :] - 2 * embeddings @ embeddings.T
    return d2.clamp_min(1e-12).sqrt()


def triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 1.0, mining: str = "random"
) -> torch.Tensor:
    """Mean of relu(d(a, p) - d(a, n) + margin) over the batch's triplets, Euclidean distances.

    random: per anchor, one random positive and one random negative (report B's triplet dataset, in batch form).
    semi-hard: every anchor-positive pair with the closest negative farther than the positive (FaceNet), or the
    farthest negative when none is. hard: per anchor, the farthest positive and the closest negative (batch-hard).
    Anchors without a positive or a negative in the batch are skipped; with no valid triplet the loss is 0.
    """
    if mining not in MINING:
        raise ValueError(f"triplet mining {mining!r}; expected one of {', '.join(MINING)}")
    dist = pairwise_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos, neg = same & ~eye, ~same
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return embeddings.sum() * 0.0
    dist, pos, neg = dist[valid], pos[valid], neg[valid]
    inf = torch.finfo(dist.dtype).max
    if mining == "hard":
        d_ap = dist.masked_fill(~pos, -inf).amax(1)
        d_an = dist.masked_fill(~neg, inf).amin(1)
    elif mining == "random":
        d_ap = dist.gather(1, torch.multinomial(pos.float(), 1)).squeeze(1)
        d_an = dist.gather(1, torch.multinomial(neg.float(), 1)).squeeze(1)
    else:
        rows, cols = pos.nonzero(as_tuple=True)
        d_ap, d_neg, negs = dist[rows, cols], dist[rows], neg[rows]  # one row per anchor-positive pair
        farther = negs & (d_neg > d_ap[:, None])
        closest_farther = d_neg.masked_fill(~farther, inf).amin(1)
        farthest = d_neg.masked_fill(~negs, -inf).amax(1)
        d_an = torch.where(farther.any(1), closest_farther, farthest)
    return F.relu(d_ap - d_an + margin).mean()


def head_embedding(model: nn.Module) -> torch.Tensor:
    """The embedding an EmbeddingHead inside `model` stored during the last forward pass."""
    for module in model.modules():
        if isinstance(module, EmbeddingHead) and module.embedding is not None:
            return module.embedding
    raise ValueError("triplet losses need a model with an EmbeddingHead (mods.embedding_head) after a forward pass")


class TripletCELoss:
    """ce_weight * CE(logits, y) + weight * triplet(embedding, y): report B's TCEL; ce_weight 0 is pure triplet.

    `label_smoothing` smooths the CE term as the plain cross-entropy loss does (train.label_smoothing reaches both,
    so a TCEL arm and its CE arm differ only in the triplet term). Needs integer labels (not mixed targets) and a
    model with an EmbeddingHead (see `head_embedding`).
    """

    def __init__(
        self,
        weight: float = 1.0,
        margin: float = 1.0,
        mining: str = "random",
        ce_weight: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        if mining not in MINING:
            raise ValueError(f"triplet mining {mining!r}; expected one of {', '.join(MINING)}")
        self.weight, self.margin, self.mining, self.ce_weight = weight, margin, mining, ce_weight
        self.label_smoothing = label_smoothing

    def __call__(self, logits: torch.Tensor, targets: torch.Tensor, model: nn.Module) -> torch.Tensor:
        if targets.dim() != 1:
            raise ValueError("triplet losses need integer class labels, not soft (mixed) targets")
        triplet = triplet_loss(head_embedding(model), targets, self.margin, self.mining)
        ce = F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
        return self.ce_weight * ce + self.weight * triplet
