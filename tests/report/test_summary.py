"""The report's first screen describes each variant from its config: every init and data input, in words."""

from __future__ import annotations

import pytest

from finegrain.models.names import INITS, LITE_MODELS
from finegrain.params import Params
from finegrain.report.summary import demonstrates


@pytest.mark.parametrize("init", INITS)
def test_every_init_has_words(init):
    model = LITE_MODELS[init][0] if init in LITE_MODELS else "small_cnn"
    params = Params(variants={"v": {"data": "prepared", "init": init, "model": model}})
    assert demonstrates(params.variant("v"), params).startswith(f"{model} ")


@pytest.mark.parametrize(
    ("mode", "words"),
    [("mmdet", "detector crops"), ("gt", "ground-truth box crops"), ("none", "full-frame crops")],
)
def test_crops_are_named_after_what_cut_them(mode, words):
    """crop.mode gt crops to the dataset's boxes: the report said 'detector crops' for every mode."""
    params = Params(crop={"mode": mode}, variants={"v": {"data": "cropped", "init": "none"}})
    assert demonstrates(params.variant("v"), params) == f"small_cnn from scratch on {words}"
    gen = Params(crop={"mode": mode}, variants={"v": {"data": "augmented", "init": "none"}})
    assert demonstrates(gen.variant("v"), gen) == f"small_cnn from scratch on {words} + DDPM images"
