"""Faithfulness: deleting the pixels a good heatmap ranks highest hurts the class more than random deletion."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from finegrain.explain.faithfulness import delete_pixels, deletion_scores
from finegrain.models.factory import Classifier


class RedPatchScore(nn.Module):
    """Class 0's logit: mean red intensity inside the centre patch; class 1: a constant."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0, 10:22, 10:22].mean(dim=(1, 2))
        return torch.stack([4 * (red - 0.6), torch.zeros_like(red)], dim=1)


def test_delete_pixels_sets_exactly_that_share_to_the_mean_colour():
    images = torch.rand(2, 3, 8, 8)
    order = torch.stack([torch.randperm(64) for _ in range(2)])
    out = delete_pixels(images, order, 0.25)
    changed = (out != images).any(dim=1).flatten(1)
    assert changed.sum(1).tolist() == [16, 16]
    assert torch.equal(changed[0].nonzero().squeeze(1).sort().values, order[0, :16].sort().values)


def test_true_heatmap_beats_random_deletion():
    model = Classifier(RedPatchScore(), head="", mean=(0, 0, 0), std=(1, 1, 1))
    images = torch.full((8, 3, 32, 32), 0.2)
    images[:, 0, 10:22, 10:22] = 1.0  # a bright red centre patch decides class 0
    cams = np.zeros((8, 32, 32), dtype=np.float32)
    cams[:, 10:22, 10:22] = 1.0
    scores, curves = deletion_scores(model, images, cams, torch.zeros(8, dtype=torch.long), topk=0.1)
    assert scores["cam_drop"] > scores["random_drop"] + 0.05
    assert scores["deletion_auc_cam"] < scores["deletion_auc_random"]
    assert curves["fraction"][0] == 0.0 and curves["fraction"][-1] == 1.0
