"""The fixed rules for 'did it work', and the gate that refuses a run whose figures do not mean what they say."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from finegrain import checks, paths
from finegrain.params import Params
from finegrain.report.gate import unmet_checks


def test_learning_needs_the_majority_share_plus_the_margin():
    assert checks.learned({"top1": 0.167 + 0.15, "majority_top1": 0.167}).works
    found = checks.learned({"top1": 0.17, "majority_top1": 0.167})
    assert not found.works and found.figure == "test top-1 0.170 < majority share 0.167 + 0.15"


@pytest.mark.parametrize(("k", "n"), [(67, 150), (0, 10), (10, 10), (62, 180)])
def test_wilson_interval_equals_scipys(k, n):
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert checks.wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_simclr_works_only_when_its_interval_clears_the_random_init_plus_margin():
    def found(acc: float, n: int) -> checks.Check:
        return checks.simclr({"knn_val_acc": acc, "knn_val_acc_random_init": 0.233, "knn_val_images": n})

    assert found(0.45, 540).outcome == checks.WORKS  # lower bound 0.41 >= 0.283
    # the committed run of the last round: 0.344 on 180 val images, lower bound 0.279 < 0.283: a coin could flip it
    assert found(0.344, 180).outcome == checks.NOT_SHOWN and not found(0.344, 180).works
    bad = found(0.167, 180)
    assert bad.outcome == checks.DOES_NOT_WORK
    assert bad.figure == "kNN val 0.167 [0.120, 0.228] (n=180) vs random init 0.233 + 0.05: does not work"


@pytest.mark.parametrize(
    ("recognised", "n", "judge", "outcome", "says"),
    [
        (0.60, 300, 0.80, checks.WORKS, "recognisability 0.600 [0.544, 0.654] (n=300) vs 0.5 x judge's real val 0.800"),
        (0.447, 150, 0.817, checks.NOT_SHOWN, "recognisability 0.447 [0.370, 0.527] (n=150)"),
        (0.21, 300, 0.70, checks.DOES_NOT_WORK, "recognisability 0.210 [0.168, 0.260] (n=300)"),
        (0.90, 300, 0.37, checks.NOT_SHOWN, "judge reaches 0.370 [0.317, 0.426] on real val images, not >= 0.6"),
    ],
)
def test_generated_images_need_a_valid_judge_that_recognises_them(recognised, n, judge, outcome, says):
    found = checks.generator("dcgan", recognised, n, judge, 300, ["grid", "rings"])
    assert found.outcome == outcome and found.works == (outcome == checks.WORKS)
    assert found.figure.startswith(says)
    assert found.to_dict()["outcome"] == outcome
    if "judge reaches" not in says:
        assert "never recognised: grid, rings" in found.figure


def test_a_detector_must_find_the_object_better_than_the_full_frame():
    assert checks.detector(0.85, 0.1, 300, 0.14).works
    assert checks.detector(0.45, 0.1, 300, 0.14).outcome == checks.DOES_NOT_WORK  # below the detection threshold
    assert checks.detector(0.55, 0.1, 300, 0.60).outcome == checks.DOES_NOT_WORK  # the full frame fits better
    assert checks.detector(0.52, 0.3, 50, 0.14).outcome == checks.NOT_SHOWN  # [0.44, 0.60]: too few boxes


def test_read_checks_from_a_dataset_meta_or_a_checks_file(tmp_path):
    assert checks.read_checks(tmp_path / "meta.json") == {}
    entry = checks.detector(0.85, 0.1, 300, 0.14).to_dict()
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
    pretrain = {"knn_val_acc": 0.167, "knn_val_acc_random_init": 0.211, "knn_val_images": 180}
    pretrain["check"] = checks.simclr(pretrain).to_dict()
    (metrics / "pretrain.json").write_text(json.dumps(pretrain))
    generate = {
        "dcgan": {"check": checks.generator("dcgan", 0.5, 300, 0.7, 300).to_dict()},
        "ddpm": {"check": checks.generator("ddpm", 0.36, 300, 0.7, 300).to_dict()},
    }
    (metrics / "generate.json").write_text(json.dumps(generate))
    params = Params(
        variants={"cnn": {"data": "prepared", "init": "none"}, "cnn_crop": {"data": "augmented", "init": "simclr"}}
    )
    assert unmet_checks(params, metrics) == [
        "cnn: learned nothing: test top-1 0.170 < majority share 0.167 + 0.15",
        "metrics/generate.json.ddpm: ddpm not shown: recognisability 0.360 [0.308, 0.416] (n=300) vs 0.5 x judge's "
        "real val 0.700: not shown",
        "metrics/pretrain.json: simclr does not work: kNN val 0.167 [0.120, 0.228] (n=180) vs random init 0.211 + "
        "0.05: does not work",
    ]


def test_gate_judges_only_the_stages_the_run_needs(tmp_path):
    """A preset whose variants read no SimCLR weights leaves the default run's metrics/pretrain.json in place (its
    pretrain stage is off): the gate judged that other run's check as this run's."""
    metrics = tmp_path / "metrics"
    path = paths.variant_metrics("cnn", metrics / "variants")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"test": {"top1": 0.9, "majority_top1": 1 / 6}}))
    pretrain = {"knn_val_acc": 0.167, "knn_val_acc_random_init": 0.211, "knn_val_images": 180}
    (metrics / "pretrain.json").write_text(json.dumps({**pretrain, "check": checks.simclr(pretrain).to_dict()}))
    assert unmet_checks(Params(variants={"cnn": {"data": "prepared", "init": "none"}}), metrics) == []
