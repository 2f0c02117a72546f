"""The robustness curve: clean accuracy at ε = 0, FGSM semantics as torchattacks, non-increasing in ε."""

from __future__ import annotations

import pytest
import torch
from adv_models import self_labelled, tiny_classifier

from finegrain.evaluate.robustness import eps_key, robustness_curve, summarise

EPS = [0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 32 / 255]


def test_accuracy_at_eps_zero_equals_clean_accuracy():
    model = tiny_classifier()
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 4, (40,), generator=torch.Generator().manual_seed(2))  # clean accuracy ~ 1/4
    with torch.no_grad():
        clean = (model(images).argmax(1) == labels).float().mean().item()
    assert 0 < clean < 1
    curves = robustness_curve(model, images, labels, EPS, ["fgsm", "pgd"], pgd_steps=2, batch_size=16)
    assert curves["fgsm"][0.0] == clean and curves["pgd"][0.0] == clean
    given = (model(images).argmax(1) == labels).detach()
    assert robustness_curve(model, images, labels, [0.0], ["fgsm"], clean=given)["fgsm"][0.0] == clean


def test_fgsm_curve_counts_an_image_broken_at_any_smaller_eps_as_torchattacks_fgsm_would():
    model = tiny_classifier()
    images, labels = self_labelled(model, 48)
    curve = robustness_curve(model, images, labels, EPS, ["fgsm"], batch_size=20)["fgsm"]
    torchattacks = pytest.importorskip("torchattacks")
    survived = torch.ones(len(images), dtype=torch.bool)
    for eps in EPS[1:]:
        adv = torchattacks.FGSM(model, eps=eps)(images, labels)
        with torch.no_grad():
            survived &= model(adv).argmax(1) == labels
        assert abs(curve[eps] - survived.float().mean().item()) < 1e-6
    assert curve[0.0] == 1.0 and curve[EPS[-1]] < 1.0


def test_pgd_is_at_least_as_strong_as_fgsm_and_curves_do_not_increase():
    model = tiny_classifier()
    images, labels = self_labelled(model, 48)
    curves = robustness_curve(model, images, labels, EPS, ["fgsm", "pgd"], pgd_steps=5, seed=3)
    for attack in ("fgsm", "pgd"):
        values = [curves[attack][e] for e in EPS]
        assert values == sorted(values, reverse=True)
    assert curves["pgd"][8 / 255] <= curves["fgsm"][8 / 255]
    again = robustness_curve(model, images, labels, EPS, ["pgd"], pgd_steps=5, seed=3)
    assert again["pgd"] == curves["pgd"]  # seeded random start: reproducible


def test_metric_keys_and_seed_summary():
    assert [eps_key(e) for e in (0.0, 1 / 255, 8 / 255, 0.01)] == ["eps_0", "eps_1_255", "eps_8_255", "eps_0.01"]
    metrics, rows = summarise([{"fgsm": {0.0: 0.8, 2 / 255: 0.4}}, {"fgsm": {0.0: 0.6, 2 / 255: 0.2}}])
    assert metrics["fgsm"]["eps_0"] == 0.7 and metrics["fgsm"]["eps_2_255"] == 0.3
    assert abs(metrics["fgsm"]["eps_2_255_std"] - 0.141421) < 1e-6
    assert rows["fgsm"][1] == {"eps": round(2 / 255, 8), "eps_255": 2.0, "accuracy": 0.3, "accuracy_std": 0.141421}
