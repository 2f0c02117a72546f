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


def _preset_d_params(dataset: str, **report) -> Params:
    """Preset D's report with a claim on CUB, one on Dogs and one anywhere, for a run on `dataset`."""
    claim = {"a": "v", "b": "w", "expect": "greater"}
    return Params(
        data={"dataset": dataset, "source": "local", "root": "/x"},
        variants={n: {"data": "prepared", "init": "none"} for n in ("v", "w")},
        report={
            "preset": "D",
            **report,
            "claims": [
                {**claim, "text": "on CUB", "datasets": ["cub200"]},
                {**claim, "text": "on Dogs", "datasets": ["stanford_dogs"]},
                {**claim, "text": "anywhere"},
            ],
        },
    )


def test_claims_about_other_datasets_are_said_to_be_left_out():
    from finegrain.report.build import _claims_header

    assert _claims_header(_preset_d_params("oxford_pets")) == (
        "Claims of D.\n2 of 3 claims are about cub200, stanford_dogs and are left out: this run is on oxford_pets "
        "(data.dataset).\n"
    )


def test_a_run_of_a_multi_dataset_preset_says_its_holm_family_spans_the_other_runs():
    from finegrain.report.build import _claims_header

    params = _preset_d_params("cub200", datasets=["cub200", "stanford_dogs"])
    assert _claims_header(params) == (
        "Claims of D.\n1 of 3 claims are about stanford_dogs and are left out: this run is on cub200 (data.dataset).\n"
        "Holm's family is the preset's 4 claims over its runs on cub200, stanford_dogs: this run judges 2, the other 2 "
        "count with p 1.\n"
    )
