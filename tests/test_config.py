"""params.yaml validation: every bad value is one line naming the key, before any work."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from finegrain.errors import ConfigError
from finegrain.params import load_params

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "params.yaml").read_text())


def write(tmp_path: Path, mutate) -> Path:
    params = copy.deepcopy(DEFAULT)
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def error_of(tmp_path: Path, mutate) -> str:
    with pytest.raises(ConfigError) as err:
        load_params(write(tmp_path, mutate))
    message = str(err.value)
    assert "\n" not in message
    return message


def test_default_params_are_valid():
    params = load_params(REPO / "params.yaml")
    for claim in params.report.claims:  # the first screen's verdicts need an interval: >= 2 runs per side
        for name in claim.variants():
            assert len(params.variant(name).seeds) >= 2, f"{claim.text}: {name} runs one seed"
    for name in params.variants:
        cfg = params.variant(name)
        assert cfg.data and cfg.init


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p["variants"]["cnn"].update(lr=-1), "variants.cnn.lr: Input should be greater than 0 (got -1)"),
        (
            lambda p: p["variants"]["cnn"].update(batch_size=0),
            "variants.cnn.batch_size: Input should be greater than 0",
        ),
        (lambda p: p["variants"]["cnn"].update(lrr=0.1), "variants.cnn.lrr: unknown key"),
        (lambda p: p["variants"]["cnn"].update(epochs="many"), "variants.cnn.epochs: Input should be a valid integer"),
        (lambda p: p["variants"]["cnn"].update(model="resnet9000"), "variants.cnn.model: unknown model 'resnet9000'"),
        (lambda p: p["variants"]["cnn"].update(augment="wild"), "variants.cnn.augment: unknown augment recipe 'wild'"),
        (lambda p: p["variants"]["cnn"].update(data="detected"), "variants.cnn.data: no stage produces data input"),
        (lambda p: p["variants"]["cnn"].pop("init"), "variants.cnn: missing required key 'init'"),
        (lambda p: p["variants"]["cnn"].update(init="lite0"), "variants.cnn.init: 'lite0' weights fit models"),
        (lambda p: p["data"].update(dataset="mnist"), "data.dataset: unknown dataset 'mnist'"),
        (lambda p: p["data"].update(dataset="flower_photos", source="local"), "data.root: source 'local' needs"),
        (lambda p: p["data"].update(colour=1), "data.colour: unknown key"),
        (lambda p: p["train"].update(epochz=3), "train.epochz: unknown key"),
        (lambda p: p["base"].update(device="tpu"), "base.device: expected auto, cpu"),
        (lambda p: p["prepare"].update(size_px=0), "prepare.size_px: Input should be greater than or equal to 16"),
        (lambda p: p.update(extra_group={}), "extra_group: unknown key"),
        (
            lambda p: p["evaluate"].update(batch_size="fast"),
            "evaluate.batch_size: expected a positive integer or auto (got 'fast')",
        ),
    ],
)
def test_bad_params_fail_in_one_line_naming_the_key(tmp_path, mutate, expected):
    assert expected in error_of(tmp_path, mutate)


def test_variant_merges_over_train_defaults():
    params = load_params(REPO / "params.yaml")
    cfg = params.variant("lite0_frozen")
    assert cfg.model == "tf_efficientnet_lite0" and cfg.mode == "frozen"
    assert cfg.epochs == DEFAULT["variants"]["lite0_frozen"]["epochs"]  # the variant overrides
    assert cfg.batch_size == DEFAULT["train"]["batch_size"]  # the shared default shows through


def test_unknown_variant_name(tmp_path):
    params = load_params(REPO / "params.yaml")
    with pytest.raises(ConfigError, match="no variant 'nope'"):
        params.variant("nope")
