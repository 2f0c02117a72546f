"""The CPU scales fine-tune pretrained Lite weights with the recipe at their native resolution, and both arms of every
claim train with the same recipe and image size."""

from __future__ import annotations

import pytest
from conftest import REPO

from finegrain.models.lite import NATIVE_PX
from finegrain.presets.apply import compose
from finegrain.train.config import resolve_variant

PRESETS = ("A", "B", "C", "D")
RECIPE = ("lr_interval", "ema", "decay_norm_bias", "label_smoothing", "weight_decay", "optimizer", "scheduler")
"""Recipe keys both arms of a claim share (epochs too: see the test)."""
DIFFERENT_SIZE_CLAIMS = {"a SimCLR backbone with a linear probe falls far below"}
"""Preset D's SimCLR probe (small_cnn, 32 px) against the ImageNet Lite0: arms that differ in model already."""


@pytest.mark.parametrize("name", PRESETS)
def test_cpu_scale_uses_the_recipe_for_both_arms_at_native_resolution(name):
    params = compose(name, "cpu", presets_dir=REPO / "presets")
    assert params["evaluate"]["tta"] == "flip"
    cfgs = {v: resolve_variant(v, params["train"], o) for v, o in params["variants"].items()}
    for v, cfg in cfgs.items():
        assert cfg.lr_interval == "step" and cfg.ema.decay > 0 and not cfg.decay_norm_bias, v
        if cfg.init in NATIVE_PX:
            assert cfg.image_size_px == NATIVE_PX[cfg.init], v
    for claim in params["report"]["claims"]:
        a, b = cfgs.get(claim.get("a")), cfgs.get(claim.get("b"))
        if a is None or b is None:
            continue
        assert all(getattr(a, k) == getattr(b, k) for k in (*RECIPE, "epochs")), claim["text"]
        if not any(claim["text"].startswith(t) for t in DIFFERENT_SIZE_CLAIMS):
            assert (a.image_size_px, a.resize) == (b.image_size_px, b.resize), claim["text"]
