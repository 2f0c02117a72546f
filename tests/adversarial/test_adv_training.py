"""Adversarial training through `fit`, and the `adv` / `evaluate.robust` params."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from finegrain.adversarial import attacks
from finegrain.errors import ConfigError
from finegrain.evaluate.config import RobustCfg
from finegrain.models.factory import create_model
from finegrain.params import Params
from finegrain.train.config import TrainCfg
from finegrain.train.loop import fit


def test_fit_attacks_the_share_of_training_samples_given_by_prob(tmp_path, monkeypatch):
    seen = []
    original = attacks.Adversary.__call__

    def spy(self, images, labels):
        out = original(self, images, labels)
        seen.append(((out - images).flatten(1).abs().amax(1) > 0).float().mean().item())
        return out

    monkeypatch.setattr(attacks.Adversary, "__call__", spy)
    cfg = TrainCfg(
        data="prepared", init="none", epochs=1, batch_size=8, adv={"method": "fgsm", "eps": "8/255", "prob": 1}
    )
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(32, 3, 32, 32, generator=gen), torch.randint(0, 3, (32,), generator=gen))
    model = create_model("small_cnn", 3)
    history, _ = fit(model, data, data, cfg, seed=0, device=torch.device("cpu"), state_path=tmp_path / "s.pt")
    assert len(history.rows) == 1 and len(seen) == 4  # every training batch, never validation
    assert min(seen) > 0.9  # prob 1: (almost) every image moved (a zero gradient leaves an image as it is)


def test_adv_and_robust_params_accept_fractions_of_255_and_fail_in_one_line():
    variant = {"data": "prepared", "init": "none", "adv": {"method": "pgd", "eps": "2/255", "steps": 3}}
    cfg = Params(variants={"v": variant}).variant("v")
    assert cfg.adv.eps == pytest.approx(2 / 255) and cfg.adv.alpha is None
    assert RobustCfg(eps=[0, "1/255", 0.5]).eps == [0.0, pytest.approx(1 / 255), 0.5]
    with pytest.raises(ConfigError, match=r"^params.yaml: variants.v.adv.eps: .*fraction like 4/255"):
        Params(variants={"v": {**variant, "adv": {"method": "fgsm", "eps": "four/255"}}}).variant("v")
    with pytest.raises(ConfigError, match=r"variants.v.adv.method"):
        Params(variants={"v": {**variant, "adv": {"method": "cw"}}}).variant("v")
    with pytest.raises(ValueError, match="every ε must be in"):
        RobustCfg(eps=[0, 2])
