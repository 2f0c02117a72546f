"""One tiny end-to-end run (train + evaluate, in-process) per technique option of the reports."""

from __future__ import annotations

import json

import pytest
from conftest import stage_module

from finegrain import paths
from finegrain.data.prepare import prepare_dataset
from finegrain.data.registry import get_dataset
from finegrain.init_weights import export_init_weights
from finegrain.params import Params, load_params
from finegrain.techniques import TECHNIQUES as OPTIONS

train_variant, evaluate_variant = stage_module("train").train, stage_module("evaluate").evaluate

pytestmark = pytest.mark.slow

BASE = {"data": "prepared", "init": "none", "epochs": 1, "batch_size": 8, "image_size_px": 32}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("techniques")
    params = load_params()
    data_cfg = params.data.model_copy(
        update={
            "synthetic": params.data.synthetic.model_copy(
                update={"train_per_class": 6, "val_per_class": 2, "test_per_class": 3, "size_px": 32}
            )
        }
    )
    prepare_dataset(get_dataset(data_cfg, paths.RAW), root / paths.PREPARED, 32, 0.0, workers=1)
    export_init_weights(root / paths.WEIGHTS)
    return root


@pytest.mark.parametrize("name", list(OPTIONS))
def test_option_trains_and_evaluates(workspace, monkeypatch, name):
    monkeypatch.chdir(workspace)
    params = Params(train={}, variants={name: {**BASE, **OPTIONS[name]}})
    summary = train_variant(params, name)
    assert summary["seeds"]["0"]["epochs_run"] >= 1
    evaluate_variant(params, name)
    quality = json.loads((workspace / paths.variant_metrics(name)).read_text())
    assert 0.0 <= quality["test"]["top1"] <= 1.0
    if OPTIONS[name].get("mods", {}).get("embedding_head"):
        assert 0.0 <= quality["test"]["knn_top1"] <= 1.0  # embedding kNN, reported apart from the classifier
    if name == "plateau_early_stop":
        assert summary["seeds"]["0"]["epochs_run"] <= 3
