"""The fixed rules for 'did it work', and the gate that refuses a run whose figures do not mean what they say."""

from __future__ import annotations

import json

import pytest

from finegrain import checks, paths
from finegrain.params import Params
from finegrain.report.gate import unmet_checks


def test_learning_needs_the_majority_share_plus_the_margin():
    assert checks.learned({"top1": 0.167 + 0.15, "majority_top1": 0.167}).works
    found = checks.learned({"top1": 0.17, "majority_top1": 0.167})
    assert not found.works and found.figure == "test top-1 0.170 < majority share 0.167 + 0.15"


def test_simclr_must_beat_its_own_random_init():
    assert checks.simclr({"knn_val_acc": 0.30, "knn_val_acc_random_init": 0.25}).works
    found = checks.simclr({"knn_val_acc": 0.167, "knn_val_acc_random_init": 0.211})
    assert not found.works and found.figure == "kNN val 0.167 < random init 0.211 + 0.05"


@pytest.mark.parametrize(
    ("recognised", "judge", "works", "says"),
    [
        (0.35, 0.70, True, "recognisability 0.350 >= 0.5 x judge's real val 0.700"),
        (0.21, 0.70, False, "recognisability 0.210 < 0.5 x judge's real val 0.700"),
        (0.90, 0.37, False, "judge reaches only 0.370 < 0.6 on real val images: not measurable"),
    ],
)
def test_generated_images_need_a_valid_judge_that_recognises_them(recognised, judge, works, says):
    found = checks.generator("dcgan", recognised, judge)
    assert (found.works, found.figure) == (works, says)


def test_a_detector_must_find_the_object_better_than_the_full_frame():
    assert checks.detector(0.85, 0.14).works
    assert not checks.detector(0.45, 0.14).works  # below the detection threshold
    assert not checks.detector(0.55, 0.60).works  # the full frame fits the object better


def test_read_checks_from_a_dataset_meta_or_a_checks_file(tmp_path):
    assert checks.read_checks(tmp_path / "meta.json") == {}
    entry = checks.detector(0.85, 0.14).to_dict()
    (tmp_path / "meta.json").write_text(json.dumps({"class_names": ["a"], "checks": {"detector": entry}}))
    (tmp_path / "checks.json").write_text(json.dumps({"detector": entry}))
    assert (
        checks.read_checks(tmp_path / "meta.json")
        == checks.read_checks(tmp_path / "checks.json")
        == {"detector": entry}
    )
    assert checks.failing({"detector": entry}) == []


def test_gate_names_every_failed_check(tmp_path):
    metrics = tmp_path / "metrics"
    variants = {"cnn": 0.17, "cnn_crop": 0.74}
    for name, top1 in variants.items():
        path = paths.variant_metrics(name, metrics / "variants")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"test": {"top1": top1, "majority_top1": 1 / 6}}))
    pretrain = {"knn_val_acc": 0.167, "knn_val_acc_random_init": 0.211}
    pretrain["check"] = checks.simclr(pretrain).to_dict()
    (metrics / "pretrain.json").write_text(json.dumps(pretrain))
    generate = {"dcgan": {"check": checks.generator("dcgan", 0.5, 0.7).to_dict()}}
    (metrics / "generate.json").write_text(json.dumps(generate))
    params = Params(
        variants={"cnn": {"data": "prepared", "init": "none"}, "cnn_crop": {"data": "cropped", "init": "simclr"}}
    )
    assert unmet_checks(params, metrics) == [
        "cnn: learned nothing: test top-1 0.170 < majority share 0.167 + 0.15",
        "metrics/pretrain.json: simclr did not work: kNN val 0.167 < random init 0.211 + 0.05",
    ]


def test_gate_judges_only_the_stages_the_run_needs(tmp_path):
    """A preset whose variants read no SimCLR weights leaves the default run's metrics/pretrain.json in place (its
    pretrain stage is off): the gate judged that other run's check as this run's."""
    metrics = tmp_path / "metrics"
    path = paths.variant_metrics("cnn", metrics / "variants")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"test": {"top1": 0.9, "majority_top1": 1 / 6}}))
    pretrain = {"knn_val_acc": 0.167, "knn_val_acc_random_init": 0.211}
    (metrics / "pretrain.json").write_text(json.dumps({**pretrain, "check": checks.simclr(pretrain).to_dict()}))
    assert unmet_checks(Params(variants={"cnn": {"data": "prepared", "init": "none"}}), metrics) == []
