"""Stage metrics: timings go to data/perf/<stage>.json, so the quality file is identical across reruns."""

from __future__ import annotations

import json

import pytest

from finegrain.stage_metrics import split_timings, write_metrics

GENERATE_LIKE = {
    "dcgan": {"fid": 41.5, "recognisability": {"mean": 0.5}, "train_time_s": 7.5, "time_s": 8.2},
    "reference": {"classifier_val_acc": 0.37, "time_s": 4.1},
    "detector": {"iters": 300, "train_s": 106.9, "infer_ms_per_img": 8.7, "time_bound": False, "max_time_s": 0},
    "steps": 45,
    "images": 600,
    "time_s": 32.5,
}


def test_timings_are_split_from_quality_keeping_the_nesting():
    quality, timings = split_timings(GENERATE_LIKE)
    assert quality == {
        "dcgan": {"fid": 41.5, "recognisability": {"mean": 0.5}},
        "reference": {"classifier_val_acc": 0.37},
        "detector": {"iters": 300, "time_bound": False},
        "steps": 45,
        "images": 600,
    }
    assert timings == {
        "dcgan": {"train_time_s": 7.5, "time_s": 8.2},
        "reference": {"time_s": 4.1},
        "detector": {"train_s": 106.9, "infer_ms_per_img": 8.7, "max_time_s": 0},
        "time_s": 32.5,
    }


def test_rerun_with_other_timings_rewrites_an_identical_quality_file(tmp_path):
    metrics, perf = tmp_path / "metrics" / "generate.json", tmp_path / "perf" / "generate.json"
    write_metrics(GENERATE_LIKE, metrics, perf)
    first = metrics.read_bytes()
    slower = {**GENERATE_LIKE, "time_s": 99.0, "dcgan": {**GENERATE_LIKE["dcgan"], "time_s": 50.0}}
    write_metrics(slower, metrics, perf)
    assert metrics.read_bytes() == first
    assert json.loads(perf.read_text())["dcgan"]["time_s"] == 50.0


def test_a_timing_spread_over_seeds_is_a_timing_and_a_stage_without_perf_file_has_none(tmp_path):
    quality, timings = split_timings(
        {"test": {"top1": 0.5, "top1_std": 0.1}, "epoch_time_s": 2.0, "epoch_time_s_std": 0.3}
    )
    assert quality == {"test": {"top1": 0.5, "top1_std": 0.1}}
    assert timings == {"epoch_time_s": 2.0, "epoch_time_s_std": 0.3}
    write_metrics({"images": 3}, tmp_path / "prepare.json")
    assert json.loads((tmp_path / "prepare.json").read_text()) == {"images": 3}
    with pytest.raises(ValueError, match="need a perf file"):
        write_metrics({"time_s": 1.0}, tmp_path / "prepare.json")
