"""MixCollate: CutMix label weights equal the pasted area, MixUp's equal the blend factor."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from finegrain.augment.mix import MixCollate

N, C = 4, 4
VALUES = torch.tensor([0.1, 0.3, 0.6, 0.9])  # image i is constant VALUES[i] with label i


def _batch() -> list[tuple[torch.Tensor, int]]:
    return [(torch.full((3, 16, 16), VALUES[i].item()), i) for i in range(N)]


def _check_cutmix(images, targets):
    for j in range(N):
        pasted = (images[j, 0] == VALUES[j - 1]).float().mean()  # image j is paired with image j - 1
        assert (images[j] == VALUES[j]).float().mean() == pytest.approx(1 - pasted.item())
        assert targets[j, j].item() == pytest.approx(1 - pasted.item())
        assert targets[j, (j - 1) % N].item() == pytest.approx(pasted.item())


def _check_mixup(images, targets):
    for j in range(N):
        lam = (images[j] - VALUES[j - 1]) / (VALUES[j] - VALUES[j - 1])
        torch.testing.assert_close(lam, torch.full_like(lam, lam.flatten()[0].item()))
        assert targets[j, j].item() == pytest.approx(lam.flatten()[0].item(), abs=1e-5)
        assert targets[j, (j - 1) % N].item() == pytest.approx(1 - lam.flatten()[0].item(), abs=1e-5)


def test_cutmix_weights_are_the_pasted_area():
    collate, areas = MixCollate(C, mode="cutmix"), []
    for seed in range(10):
        torch.manual_seed(seed)
        images, targets = collate(_batch())
        assert images.shape == (N, 3, 16, 16) and targets.shape == (N, C)
        torch.testing.assert_close(targets.sum(1), torch.ones(N))
        _check_cutmix(images, targets)
        areas.append(targets[0, N - 1].item())
    assert max(areas) > 0


def test_mixup_weights_are_lambda():
    collate = MixCollate(C, mode="mixup", mixup_alpha=0.4)
    for seed in range(5):
        torch.manual_seed(seed)
        _check_mixup(*collate(_batch()))


def test_random_mode_uses_both_in_a_dataloader():
    loader = DataLoader(_batch() * 5, batch_size=N, collate_fn=MixCollate(C))
    kinds = set()
    torch.manual_seed(0)
    for images, targets in loader:
        cutmix = all(v in VALUES for v in images.unique())
        (_check_cutmix if cutmix else _check_mixup)(images, targets)
        kinds.add(cutmix)
    assert kinds == {True, False}


def test_unknown_mode():
    with pytest.raises(ValueError, match="mix mode"):
        MixCollate(C, mode="both")
