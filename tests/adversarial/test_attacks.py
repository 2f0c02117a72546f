"""Pixel-space attacks: FGSM moves every pixel by exactly ε (unless clipped), PGD stays in the ε-ball and [0, 1]."""

from __future__ import annotations

import pytest
import torch
from adv_models import self_labelled, tiny_classifier

from finegrain.adversarial.attacks import Adversary, fgsm_from_sign, input_gradient_sign, pgd

EPS = 8 / 255


def test_fgsm_linf_is_exactly_eps_in_pixel_space():
    model = tiny_classifier()
    images = 0.1 + 0.8 * torch.rand(16, 3, 16, 16)  # away from 0 and 1: no pixel is clipped
    labels = torch.randint(0, 4, (16,))
    delta = (fgsm_from_sign(images, input_gradient_sign(model, images, labels), EPS) - images).abs()
    assert delta.amax().item() == pytest.approx(EPS, abs=1e-6)
    moved = delta[delta > 1e-7]
    assert moved.numel() > 0.99 * delta.numel()  # sign(gradient) is non-zero almost everywhere
    assert torch.allclose(moved, torch.full_like(moved, EPS), atol=1e-6)
    per_image = delta.flatten(1).amax(1)
    assert torch.allclose(per_image, torch.full_like(per_image, EPS), atol=1e-6)


def test_fgsm_stays_in_unit_range_and_matches_torchattacks():
    model = tiny_classifier()
    images = torch.rand(16, 3, 16, 16)
    images[:, :, :2] = 0.0  # pixels on the borders of [0, 1] get clipped, never pushed out
    images[:, :, -2:] = 1.0
    labels = torch.randint(0, 4, (16,))
    torchattacks = pytest.importorskip("torchattacks")
    reference = torchattacks.FGSM(model, eps=EPS)(images, labels)
    assert reference.min() >= 0.0 and reference.max() <= 1.0
    ours = fgsm_from_sign(images, input_gradient_sign(model, images, labels), EPS)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_pgd_stays_in_the_eps_ball_and_unit_range():
    model = tiny_classifier()
    images, labels = self_labelled(model, 16)
    adv, _ = pgd(model, images, labels, EPS, steps=3)
    assert (adv - images).abs().amax() <= EPS + 1e-6
    assert adv.min() >= 0.0 and adv.max() <= 1.0


def test_adversary_replaces_a_share_of_the_batch_and_restores_train_mode():
    model = tiny_classifier().train()
    images, labels = self_labelled(model.eval(), 64)
    model.train()
    torch.manual_seed(0)
    out = Adversary(model, "fgsm", EPS, prob=0.5)(images, torch.nn.functional.one_hot(labels, 4).float())
    changed = (out - images).flatten(1).abs().amax(1) > 0
    assert 16 < changed.sum() < 48  # about half, drawn per sample
    assert model.training and out.min() >= 0 and out.max() <= 1
    every = Adversary(model, "pgd", EPS, prob=1.0, steps=2)(images, labels)
    assert ((every - images).flatten(1).abs().amax(1) > 0).all()
    assert (every - images).abs().amax() <= EPS + 1e-6
